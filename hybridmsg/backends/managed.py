"""The life cycle every server run from a directory shares.

A :class:`ManagedServer` subclass names its program (``name``, which also names its pid
file) and builds the :class:`~hybridmsg.backends.process.ServerProcess` that runs it
(``_new_process``); start, stop (by whichever process: the pid file is the link), restart,
status and use as a context manager come from here.
"""

from __future__ import annotations

from pathlib import Path

from hybridmsg.backends.process import PidFile, ServerProcess


class ManagedServer:
    """A server program run from ``directory``, with a pid file there."""

    name: str
    start_timeout = 10.0

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.pid_file = PidFile(self.directory / f"{self.name}.pid")
        self._process: ServerProcess | None = None

    def _new_process(self) -> ServerProcess:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        return self.pid_file.pid

    @property
    def is_running(self) -> bool:
        return self._process.is_running if self._process else self.pid_file.alive()

    def start(self, timeout: float | None = None) -> None:
        """Write the config and start; raise ServerStartError/PortInUse/MissingBinary."""
        process = self._new_process()
        process.start(timeout or self.start_timeout)
        self._process = process

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server started from this directory, by whichever process; idempotent."""
        if self._process is not None:
            self._process.stop(timeout)
            self._process = None
        else:
            self.pid_file.stop(timeout)

    def restart(self, timeout: float | None = None) -> None:
        """Stop, then start again on the same ports and directory."""
        self.stop()
        self.start(timeout)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
