"""Run a server as a child process that may outlive the Python process that started it.

``ServerProcess(name, argv, directory, ready=probe)`` starts ``argv`` in its own session
(so its process group id is its pid), with stdout and stderr appended to
``directory/<name>.log`` and its pid in ``directory/<name>.pid``. ``start(timeout)``
checks the ``ports`` it will listen on are free (:class:`PortInUse`), writes its
``files`` (config, 0600), then polls ``ready()`` until true; it raises
:class:`ServerStartError` with the first fatal log lines, in one line, when the child
exits or the deadline passes.
``stop(timeout)`` sends SIGTERM to the child, then SIGKILL to its whole process group
after ``timeout``.

A server is found again from its pid file alone: ``PidFile(directory / "x.pid")`` gives
``pid``, ``alive()`` and ``stop()``, which is what ``hybridmsg down`` uses. Processes are
never looked up by name. ``write_private(path, text, run_as)`` writes secrets (0600).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hybridmsg.backends.ports import LOOPBACK, ensure_port_free
from hybridmsg.errors import ServerStartError

FATAL_LINE = re.compile(r"\[FTL\]|fatal|error|failed|crash", re.IGNORECASE)
# "[pid] 2024/01/02 03:04:05.678 " (nats-server), "2024-01-02 03:04:05.678+00:00 " and
# "<0.132.0> " (RabbitMQ): noise in a one-line error
LOG_PREFIX = re.compile(r"^(\[\d+\] )?\d{4}[-/]\d\d[-/]\d\d[ T][\d:.+]+ |<[\d.]+> ")


@dataclass(frozen=True)
class RunAs:
    """The user a server runs as when it is not the current user (root dropping privileges)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()


def poll_until(
    predicate: Callable[[], bool], timeout: float, give_up: Callable[[], bool] = lambda: False
) -> bool:
    """Call ``predicate`` with growing pauses until true (True), ``give_up()`` or timeout."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        if predicate():
            return True
        if give_up() or time.monotonic() >= deadline:
            return False
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, 0.1)


def _live_group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # fields after the ")" closing the command name: state ppid pgrp ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid``."""
    if Path("/proc/self/stat").exists():
        return bool(_live_group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class PidFile:
    """A pid file naming the leader of a server's process group."""

    path: Path

    @property
    def pid(self) -> int | None:
        """The recorded pid, or None when there is no readable pid file."""
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def write(self, pid: int) -> None:
        self.path.write_text(f"{pid}\n")

    def alive(self) -> bool:
        """Whether the recorded process group still has a live process."""
        pid = self.pid
        return pid is not None and group_alive(pid)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the leader, SIGKILL the whole group after ``timeout``; remove the file.

        Returns whether anything was running.
        """
        pid = self.pid
        running = pid is not None and group_alive(pid)
        if pid is not None and running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # the leader shuts its children down cleanly
            if not poll_until(lambda: not group_alive(pid), timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                poll_until(lambda: not group_alive(pid), 5.0)
        self.path.unlink(missing_ok=True)
        return running


def write_private(path: Path, text: str, run_as: RunAs | None = None) -> None:
    """Write a file only its owner may read (0600), owned by ``run_as`` when given."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    if run_as is not None:
        os.chown(path, run_as.uid, run_as.gid)


class ServerProcess:
    """One server child process: start with a readiness deadline, stop, context manager."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        directory: Path,
        *,
        ready: Callable[[], bool],
        ports: Mapping[int, str] | None = None,
        host: str = LOOPBACK,
        files: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        run_as: RunAs | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.directory = Path(directory)
        self.log_file = self.directory / f"{name}.log"
        self.pid_file = PidFile(self.directory / f"{name}.pid")
        self._ready = ready
        self._ports = dict(ports or {})
        self._host = host
        self._files = dict(files or {})
        self._env = dict(os.environ if env is None else env)
        self._run_as = run_as
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self.pid_file.pid

    @property
    def is_running(self) -> bool:
        if self._popen is not None:
            self._popen.poll()  # reap our own child so it does not linger as a zombie
        return self.pid_file.alive()

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until ``ready()``; raise ServerStartError otherwise."""
        if self.pid_file.alive():
            raise ServerStartError(
                f"{self.name} is already running from {self.directory} (pid {self.pid}); "
                "stop it first"
            )
        for port, what in self._ports.items():
            ensure_port_free(port, what, host=self._host)
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in self._files.items():
            write_private(self.directory / name, text, self._run_as)
        with open(self.log_file, "ab") as log:
            self._log_offset = log.tell()
            run_as = self._run_as
            self._popen = subprocess.Popen(
                self.argv,
                cwd=self.directory,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=list(run_as.groups) if run_as else None,
            )
        self.pid_file.write(self._popen.pid)
        popen = self._popen
        if poll_until(self._ready, timeout, give_up=lambda: popen.poll() is not None):
            return
        if popen.poll() is not None:
            problem = f"failed to start (exited with code {popen.returncode})"
        else:
            problem = f"did not become ready within {timeout:g} s"
        self.stop()  # also whatever the child left in its process group
        raise ServerStartError(f"{self.name} {problem}: {self.fatal_lines()}; log: {self.log_file}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (also one started by another process); idempotent."""
        self.pid_file.stop(timeout)
        if self._popen is not None:
            self._popen.wait()
            self._popen = None

    def log_text(self) -> str:
        """What the server wrote to its log since the last start()."""
        try:
            with open(self.log_file, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def fatal_lines(self, limit: int = 3) -> str:
        """The first distinct fatal-looking log lines (the cause, before the fallout), or
        else the last line, joined into one line."""
        lines = [LOG_PREFIX.sub("", line).strip() for line in self.log_text().splitlines()]
        lines = list(dict.fromkeys(line for line in lines if line))
        fatal = [line for line in lines if FATAL_LINE.search(line)] or lines[-1:]
        return " | ".join(fatal[:limit]) or "no output"

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
