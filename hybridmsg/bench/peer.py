"""A bench peer: RPC servers, a notification listener or a second client, in its own process.

Run by the bench process (the transport URL holds a password, so it comes from the
environment variable ``HYBRIDMSG_BENCH_URL``, never from the command line)::

    python -m hybridmsg.bench.peer serve KIND TOPIC FIRST COUNT
    python -m hybridmsg.bench.peer load KIND TOPIC SERVER THREADS COUNT DURATION

``serve`` starts servers ``s{FIRST}`` .. ``s{FIRST+COUNT-1}`` of ``TOPIC`` -- KIND ``oslo``:
oslo.messaging RPC servers on one transport; ``raw-nats``: nats-py subscriptions;
``raw-amqp``: proton receivers; ``oslo-notify``: one notification listener -- printing
``progress {json}`` on the way and ``ready {json}`` (or ``failed {json}``: how many
started, and why) at the end. Then it
answers each ``wait WHAT N TIMEOUT`` line on stdin with ``count {WHAT: M}`` once its
servers handled ``N`` messages of that kind (``cast``, ``fanout``, ``notify``) or at the
timeout. ``load`` prints ``ready``, waits for ``go``, makes the calls and prints
``result {json}``. Both stop when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable

from hybridmsg.bench.measure import drive
from hybridmsg.bench.transports import client_for

URL_VARIABLE = "HYBRIDMSG_BENCH_URL"  # the transport URL holds a password: not in argv


def server_name(index: int) -> str:
    """The ``server`` of the ``index``-th RPC server of a run."""
    return f"s{index:04d}"


class Counters:
    """Messages handled per kind, with waiting for a count. Only the handler that reaches
    the count waited for wakes the waiter: a fanout to hundreds of servers in a process
    would otherwise wake it once per server, and that cost would be measured too."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._targets: dict[str, int] = {}
        self._changed = threading.Condition()

    def add(self, kind: str) -> None:
        with self._changed:
            self._counts[kind] += 1
            if self._counts[kind] == self._targets.get(kind):
                self._changed.notify_all()

    def wait(self, kind: str, count: int, timeout: float) -> int:
        """Wait until ``count`` messages of ``kind`` were handled, or ``timeout``; the count."""
        with self._changed:
            self._targets[kind] = count
            try:
                self._changed.wait_for(lambda: self._counts[kind] >= count, timeout)
            finally:
                del self._targets[kind]
            return self._counts[kind]


def _say(word: str, payload: object) -> None:
    print(word, json.dumps(payload), flush=True)


PROGRESS_EVERY = 50
STOP_TIMEOUT = 5.0  # a graceful stop beyond this is not what is measured: the peer exits


def _servers(kind: str, url: str, topic: str, names: list[str], counters: Counters):
    """The server side of ``kind`` (not started yet)."""
    if kind == "raw-nats":
        from hybridmsg.bench.raw import RawNatsServers

        return RawNatsServers(url, topic, names, counters.add)
    if kind == "raw-amqp":
        from hybridmsg.bench.raw_amqp import RawAmqpServers

        return RawAmqpServers(url, topic, names, counters.add)
    from hybridmsg.bench.clients import OsloServers

    return OsloServers(url, topic, names, counters.add, notify=kind == "oslo-notify")


def _bounded(stop: Callable[[], None], timeout: float) -> None:
    """Run ``stop`` for at most ``timeout`` seconds."""
    thread = threading.Thread(target=stop, daemon=True)
    thread.start()
    thread.join(timeout)


def _progress(started: int) -> None:
    if started % PROGRESS_EVERY == 0:
        _say("progress", {"started": started})


def serve(kind: str, url: str, topic: str, first: int, count: int) -> None:
    counters = Counters()
    names = [server_name(i) for i in range(first, first + count)]
    servers = _servers(kind, url, topic, names, counters)
    try:
        try:
            servers.start(_progress)
        except Exception as exc:  # a refusal is a result, reported to the bench process
            _say("failed", {"started": servers.started, "error": f"{type(exc).__name__}: {exc}"})
        else:
            _say("ready", {"started": servers.started})
        for line in sys.stdin:
            _wait, what, target, timeout = line.split()
            _say("count", {what: counters.wait(what, int(target), float(timeout))})
    finally:
        _bounded(servers.stop, STOP_TIMEOUT)


def load(kind: str, url: str, topic: str, server: str, threads: int, count: int, duration: float):
    client = client_for(kind)(url, topic)
    try:
        client.call(server)  # connected and warm before the clock starts
        _say("ready", {})
        if sys.stdin.readline().strip() != "go":
            return
        timing = drive(lambda: client.call(server), threads, count, duration)
        _say("result", timing.summary() | {"elapsed": timing.elapsed})
        sys.stdin.read()
    finally:
        _bounded(client.close, STOP_TIMEOUT)


def main(argv: list[str]) -> None:
    command, kind, topic, *rest = argv
    url = os.environ[URL_VARIABLE]
    if command == "serve":
        serve(kind, url, topic, int(rest[0]), int(rest[1]))
    else:
        load(kind, url, topic, rest[0], int(rest[1]), int(rest[2]), float(rest[3]))
    sys.stdout.flush()
    os._exit(0)  # without waiting for threads a slow driver shutdown left behind


if __name__ == "__main__":
    main(sys.argv[1:])
