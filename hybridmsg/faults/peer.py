"""A fault run's load in a process of its own, configured as a service is.

Child side: ``python -m hybridmsg.faults.peer SNIPPET THREADS RATE TIMEOUT INTERVAL`` loads
the service snippet into ``cfg.CONF`` (``--config-file``, exactly what a service does;
the snippet path, not the password, is on the command line), starts a
:class:`~hybridmsg.faults.load.Load`, prints ``ready`` and keeps the load going until a
line arrives on stdin; then it stops sending, waits for the notifications sent to arrive
(RabbitMQ queues are FIFO: once all have arrived, so has any duplicate), closes and prints
``result {json}`` (a :class:`~hybridmsg.faults.load.Tally`).

Parent side: :class:`LoadPeer` starts it, waits for ``ready`` and for the result with
deadlines (a thread reads the child's stdout), and kills it if it is left behind. The
child's log goes to a file.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from hybridmsg.errors import HybridmsgError
from hybridmsg.faults.load import Load, LoadSpec, Tally

START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0
CLOSE_TIMEOUT = 30.0


class PeerError(HybridmsgError):
    """The load process failed or did not answer in time (its log says why)."""


class LoadPeer:
    """The parent's handle on one load process; a context manager."""

    def __init__(self, snippet: Path, spec: LoadSpec, log: Path) -> None:
        self.spec = spec
        self.log = log
        self._argv = [
            sys.executable,
            "-m",
            __name__,
            str(snippet),
            str(spec.threads),
            str(spec.rate),
            str(spec.call_timeout),
            str(spec.notify_interval),
        ]
        self._lines: queue.Queue[str] = queue.Queue()
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LoadPeer:
        with open(self.log, "a") as log:
            self._process = subprocess.Popen(
                self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
            )
        threading.Thread(target=self._read, daemon=True).start()
        self._expect("ready", START_TIMEOUT)
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put("")  # end of output

    def _expect(self, word: str, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise PeerError(
                f"the load process said nothing for {timeout:g} s; see {self.log}"
            ) from None
        if not line.startswith(word):
            raise PeerError(f"the load process failed ({line or 'it exited'}); see {self.log}")
        return line[len(word) :].strip()

    def finish(self) -> Tally:
        """Stop the load and return its tally."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write("stop\n")
        self._process.stdin.flush()
        bound = self.spec.call_timeout + 30.0 + DRAIN_TIMEOUT + CLOSE_TIMEOUT
        return Tally.from_json(self._expect("result", bound))

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait()


def main(argv: list[str]) -> None:
    """The child: run the load on SNIPPET until stdin says stop, then print the tally."""
    from oslo_config import cfg

    snippet, threads, rate, timeout, interval = argv
    cfg.CONF(args=["--config-file", snippet], project="hybridmsg-faults")
    spec = LoadSpec(int(threads), float(rate), float(timeout), float(interval))
    load = Load(cfg.CONF, spec)
    load.start()
    print("ready", flush=True)
    sys.stdin.readline()
    load.stop(spec.call_timeout + 30.0)
    load.sink.wait_for(set(load.records.notified), DRAIN_TIMEOUT)
    load.close(CLOSE_TIMEOUT)
    print("result", load.tally().to_json(), flush=True)
    os._exit(0)  # oslo may leave non-daemon threads behind; the result is out


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("hybridmsg").setLevel(logging.INFO)  # e.g. the notification spool's
    main(sys.argv[1:])
