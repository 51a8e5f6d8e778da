"""Which spool file a process owns: one per process name in the spool directory.

A process named ``nova-compute`` (``argv[0]``, as oslo names its connections) owns
``nova-compute.sqlite`` while it holds an exclusive ``flock`` on ``nova-compute.sqlite.lock``;
a second process of the same name (an API worker, say) takes ``nova-compute.2.sqlite``,
and so on. The kernel drops the lock when its holder dies, even by SIGKILL, so the
process started in its place takes the same file and sends what it held. Lock files are
never removed (removing one while another process opens it would let two processes hold
"the" lock); the SQLite files are, once empty.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from pathlib import Path

from hybridmsg.errors import HybridmsgError

#: how many processes of one name may spool in one directory
MAX_SLOTS = 256
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class SpoolError(HybridmsgError):
    """The spool directory cannot be used (permissions, too many processes)."""


def process_name() -> str:
    """This process's name as a file name: ``argv[0]`` without its directory."""
    name = _UNSAFE.sub("_", os.path.basename(sys.argv[0] if sys.argv else ""))
    return name.lstrip(".") or "python"


def slot_path(directory: Path, name: str, number: int) -> Path:
    return directory / (f"{name}.sqlite" if number == 1 else f"{name}.{number}.sqlite")


def leftovers(directory: Path, name: str) -> list[Path]:
    """Spool files of processes called ``name`` in ``directory`` (any slot)."""
    found = [slot_path(directory, name, 1), *directory.glob(f"{name}.[0-9]*.sqlite")]
    return [path for path in found if path.exists()]


class Slot:
    """A spool file this process owns until :meth:`release` (or its death)."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    @classmethod
    def claim(cls, directory: Path, name: str) -> Slot:
        """The first slot of ``name`` in ``directory`` that no living process holds."""
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(
                f"cannot make the notification spool directory {directory} ({exc.strerror}); "
                "make it writable for this service or change spool_directory"
            ) from None
        for number in range(1, MAX_SLOTS + 1):
            path = slot_path(directory, name, number)
            lock = path.with_name(path.name + ".lock")
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise SpoolError(
                    f"cannot open {lock} ({exc.strerror}); make {directory} writable for "
                    "this service"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return cls(path, fd)
        raise SpoolError(
            f"{MAX_SLOTS} processes named {name} already spool in {directory}; give them "
            "spool directories of their own"
        )

    def release(self) -> None:
        """Let another process take this slot (idempotent). In a child forked while the
        parent owned the slot, this closes only the child's copy of the descriptor: the
        lock belongs to the open file, which the parent still holds."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
