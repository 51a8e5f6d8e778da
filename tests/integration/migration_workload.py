"""A workload that runs through a live migration, and its counts.

Each service runs in real processes (``migration_peer``): two RPC servers (shared topic
``work`` plus one topic per server), a client calling and casting continuously to both
kinds of topic while it sends notifications, and a notification listener. Each process
reads its oslo.messaging config from the file ``config_of(service, slot)`` names (a
service's snippet, as a deployed service reads its config file). A restart starts the
replacement before the old instance stops, one process at a time. :func:`report` counts what
clients sent and servers and listeners handled (:func:`tally`) and prints it;
:func:`assert_nothing_lost` holds it to every call answered and every cast and
notification handled exactly once.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hybridmsg.backends.rabbitmq_node import RabbitNode
from tests.integration.conftest import ROOT

SLOTS = ("listener", "server-1", "server-2", "client")
KINDS = ("calls", "casts", "notifications")
PEER_TIMEOUT = 60.0


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"peer {proc.args[3:5]} said nothing within {timeout:g} s")
    return proc.stdout.readline()


@dataclass
class Workload:
    """The processes of every service, restarted on demand, and what each one did."""

    config_of: Callable[[str, str], Path]
    logs: Path
    services: tuple[str, ...]
    procs: dict[tuple[str, str], tuple[str, subprocess.Popen]] = field(default_factory=dict)
    results: list[tuple[str, str, dict]] = field(default_factory=list)
    generation: Counter = field(default_factory=Counter)
    restarts: int = 0
    note: Callable[[str], None] = print
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _spawn(self, service: str, slot: str) -> tuple[str, subprocess.Popen]:
        self.generation[service, slot] += 1
        role = slot.split("-")[0]
        name = f"{service}-{slot.split('-')[-1]}" if role == "server" else f"{service}-{slot}"
        if role != "server":
            name += f"#{self.generation[service, slot]}"
        args = [role, str(self.config_of(service, slot)), name]
        if role == "client":
            args.append(f"{service}-1,{service}-2")
        log = (self.logs / f"{name}.{self.generation[service, slot]}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.migration_peer", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        try:
            line = _readline(proc, PEER_TIMEOUT)
            assert line == "ready\n", f"{name} did not start ({line!r}); see {log.name}"
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return name, proc

    def _stop(self, slot: str, name: str, proc: subprocess.Popen) -> None:
        out, _ = proc.communicate(input="", timeout=PEER_TIMEOUT)
        assert proc.returncode == 0, f"{name} exited with {proc.returncode}"
        with self.lock:
            self.results.append((slot.split("-")[0], name, json.loads(out.splitlines()[-1])))

    def start(self) -> None:
        for service in self.services:
            for slot in SLOTS:
                self.procs[service, slot] = self._spawn(service, slot)

    def restart(self, service: str, slots: tuple[str, ...] = SLOTS) -> None:
        """Restart the ``slots`` of ``service`` one at a time, each replacement first."""
        started = time.monotonic()
        for slot in slots:
            old = self.procs[service, slot]
            self.procs[service, slot] = self._spawn(service, slot)
            self._stop(slot, *old)
            with self.lock:
                self.restarts += 1
        self.note(
            f"  restarted {len(slots)} process(es) of {service} in "
            f"{time.monotonic() - started:.1f} s"
        )

    def restart_all(self, *_: object) -> None:
        """Restart every process, the services in parallel (a Migration's ``restart``)."""
        with ThreadPoolExecutor(len(self.services)) as pool:
            for done in [pool.submit(self.restart, s) for s in self.services]:
                done.result(timeout=PEER_TIMEOUT * len(SLOTS) * 2)

    def stop(self, slots: tuple[str, ...]) -> None:
        for (service, slot), (name, proc) in list(self.procs.items()):
            if slot in slots:
                self._stop(slot, name, proc)
                del self.procs[service, slot]

    def finish(self, rabbit: RabbitNode) -> None:
        """Stop the clients, wait until ``rabbit`` holds nothing more for the servers and
        listeners of the services (vhosts named as the services), then stop those."""
        self.stop(("client",))
        wait_until_empty(rabbit, self.services, 60)
        self.stop(("server-1", "server-2", "listener"))

    def kill(self) -> None:
        for _, proc in self.procs.values():
            proc.kill()
            proc.wait()


def tally(results: list[tuple[str, str, dict]]) -> dict[str, Counter]:
    """Counts of what clients sent and servers and listeners handled, by kind of message."""
    sent = {kind: Counter() for kind in KINDS}
    handled = {kind: Counter() for kind in KINDS}
    misrouted = Counter()
    failures = []
    for role, name, result in results:
        if role == "client":
            for kind, ids in result["sent"].items():
                sent[kind].update(ids)
            failures += result["failures"]
            continue
        for kind in KINDS:
            handled[kind].update(result[kind])
        for kind in ("calls", "casts") if role == "server" else ():
            misrouted[kind] += sum(
                1 for id in result[kind] if id.rsplit(":", 1)[1] not in ("any", name)
            )
    counts = {}
    for kind in KINDS:
        counts[kind] = Counter(
            sent=sum(sent[kind].values()),
            to_one_server=sum(1 for id in sent[kind] if not id.endswith(":any")),
            handled=sum(handled[kind].values()),
            lost=len(set(sent[kind]) - set(handled[kind])),
            duplicated=sum(n - 1 for n in handled[kind].values() if n > 1),
            unknown=len(set(handled[kind]) - set(sent[kind])),
            misrouted=misrouted[kind],
        )
    for kind in KINDS:  # a failure reads "ID: ExceptionType: message"
        counts[kind]["failed"] = sum(1 for f in failures if f":{kind}:" in f.split(": ")[0])
    counts["failures"] = Counter(failures[:5])
    counts["lost"] = Counter(
        sorted(id for kind in KINDS for id in set(sent[kind]) - set(handled[kind]))[:8]
    )
    return counts


def wait_until_empty(node: RabbitNode, vhosts: tuple[str, ...], timeout: float) -> None:
    """Every queue of ``vhosts`` on RabbitMQ holds 0 messages (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        loaded = [(vhost, q.name, q.messages) for vhost in vhosts
                  for q in node.list_queues(vhost) if q.messages]
        if not loaded:
            return
        assert time.monotonic() < deadline, f"RabbitMQ queues not drained: {loaded}"
        time.sleep(0.5)


def report(results: list[tuple[str, str, dict]], title: str) -> dict[str, Counter]:
    """Print the counts of ``results`` (pytest shows them with ``-rP``) and return them."""
    counts = tally(results)
    print(f"\n{title}")
    for kind in KINDS:
        print(f"  {kind}: {dict(counts[kind])}")
    print(f"  some lost ids (client#generation:kind:seq:server): {list(counts['lost'])}")
    return counts


def assert_nothing_lost(counts: dict[str, Counter]) -> None:
    """Every call answered, every cast and notification handled exactly once, none failed."""
    assert not any(counts[kind]["failed"] for kind in KINDS), counts["failures"]
    for kind in KINDS:
        c = counts[kind]
        assert c["sent"] > 0 and c["to_one_server"] > 0 or kind == "notifications", c
        assert (c["lost"], c["duplicated"], c["unknown"], c["misrouted"]) == (0, 0, 0, 0), c
        assert c["handled"] == c["sent"], c
