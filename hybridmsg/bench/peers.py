"""The bench process's handle on its peer processes (see :mod:`hybridmsg.bench.peer`).

:class:`Peer` starts one peer with ``sys.executable -m hybridmsg.bench.peer``, reads its
stdout lines in a thread of its own (so nothing blocks on a slow peer) and answers
"next line that starts with WORD, within a deadline". :class:`PeerGroup` spreads
``servers`` RPC servers over a few processes, as compute nodes would be, and is a context
manager: the peers stop together (stdin closed, killed if they linger) on the way out.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from hybridmsg.bench.peer import URL_VARIABLE
from hybridmsg.errors import HybridmsgError

STOP_TIMEOUT = 20.0


class PeerError(HybridmsgError):
    """A peer did not answer as expected (it died, refused or timed out)."""


class Peer:
    """One peer process and the lines it printed."""

    def __init__(self, url: str, args: list[str]) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hybridmsg.bench.peer", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=os.environ | {URL_VARIABLE: url},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def expect(self, *words: str, timeout: float) -> tuple[str, dict]:
        """The next line starting with one of ``words`` (others are skipped): (word, data)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise PeerError(f"peer {self.args[:2]} silent for {timeout:g} s") from None
            if line is None:
                raise PeerError(f"peer {self.args[:2]} exited ({self.process.wait()})")
            word, _, data = line.partition(" ")
            if word in words:
                return word, json.loads(data or "{}")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close_input(self) -> None:
        """Close stdin: the peer stops its servers and exits."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except OSError:  # it is already gone
            pass

    def wait(self) -> None:
        """Wait for the peer to exit; kill it if it lingers."""
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self.close_input()
        self.wait()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class PeerGroup:
    """``servers`` RPC servers of ``topic`` over ``processes`` peers of ``kind``; peer
    ``i`` connects to ``urls[i % len(urls)]`` (the nodes of a cluster in turn)."""

    def __init__(
        self, kind: str, urls: Sequence[str], topic: str, servers: int, processes: int
    ) -> None:
        self.kind = kind
        self.urls = tuple(urls)
        self.topic = topic
        self.servers = servers
        processes = max(1, min(processes, servers))
        share, extra = divmod(servers, processes)
        self.sizes = [share + (i < extra) for i in range(processes)]
        self.peers: list[Peer] = []
        self.started = 0
        self.error = ""

    @property
    def pids(self) -> list[int]:
        return [peer.pid for peer in self.peers]

    def start(self, timeout: float) -> None:
        """Start every peer; then ``started`` and ``error`` tell how far they got."""
        first = 0
        for number, size in enumerate(self.sizes):
            url = self.urls[number % len(self.urls)]
            peer = Peer(url, ["serve", self.kind, self.topic, str(first), str(size)])
            self.peers.append(peer)
            first += size
        for peer in self.peers:
            self._await_ready(peer, timeout)

    def _await_ready(self, peer: Peer, timeout: float) -> None:
        started = 0
        try:
            while True:
                word, data = peer.expect("progress", "ready", "failed", timeout=timeout)
                started = data["started"]
                if word != "progress":
                    self.error = self.error or data.get("error", "")
                    break
        except PeerError as exc:
            self.error = self.error or str(exc)
        self.started += started

    def count(self, what: str, targets: list[int], timeout: float) -> list[int]:
        """Per peer, wait until it handled ``targets[i]`` messages of ``what``; the counts."""
        for peer, target in zip(self.peers, targets, strict=True):
            peer.send(f"wait {what} {target} {timeout}")
        return [peer.expect("count", timeout=timeout + 10)[1][what] for peer in self.peers]

    def __enter__(self) -> PeerGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for peer in self.peers:  # all stop at once, then each is waited for
            peer.close_input()
        for peer in self.peers:
            peer.wait()
