"""The workloads, each bounded in count and in time, each measured the same way.

Every workload takes a :class:`Setup` (client in this process, RPC servers in peer
processes, the backend) and returns a flat dict of figures: ``ops``, ``ops_per_s``,
latency percentiles where there are latencies, CPU seconds per 1,000 operations of the
client, the RPC server and the backend processes (``cpu_client`` ... ``cpu_total``), and
the backend's resident memory (``backend_mib``); a cluster's backend figures are the sums
over its nodes.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from hybridmsg.bench.measure import drive
from hybridmsg.bench.peer import server_name
from hybridmsg.bench.peers import Peer, PeerGroup
from hybridmsg.bench.procstats import CpuMeter, rss_bytes
from hybridmsg.bench.servers import RunningBackend
from hybridmsg.bench.transports import Client

THREADS = 8
MIB = 1024 * 1024
DRAIN_TIMEOUT = 60.0  # longest wait for sent casts/notifications to be handled


@dataclass(frozen=True)
class Budget:
    """The bounds of every workload: at most ``count`` operations, at most ``duration`` s."""

    count: int
    duration: float
    fanout_rounds: int


@dataclass
class Setup:
    """What a workload runs against."""

    kind: str  # peer kind
    backend: RunningBackend
    client: Client
    group: PeerGroup
    budget: Budget


def measured(
    setup: Setup,
    run: Callable[[], dict],
    servers: PeerGroup | None = None,
    extra_clients: tuple[int, ...] = (),
) -> dict:
    """``run()``'s figures plus CPU per 1,000 ops of each side and the backend's memory;
    the server side is ``servers`` (default: the setup's RPC servers)."""
    meter = CpuMeter(
        {
            "client": (os.getpid(), *extra_clients),
            "server": (servers or setup.group).pids,
            "backend": setup.backend.pids,
        }
    )
    meter.start()
    figures = run()
    cpu = meter.stop()
    per_op = 1000 / figures["ops"] if figures["ops"] else 0.0
    for side, seconds in cpu.items():
        figures[f"cpu_{side}"] = round(seconds * per_op, 3)
    figures["cpu_total"] = round(sum(cpu.values()) * per_op, 3)
    figures["backend_mib"] = round(sum(map(rss_bytes, setup.backend.pids)) / MIB, 1)
    return figures


def warm_up(setup: Setup) -> None:
    """One call to the last server of each peer, so that every peer answers the client
    (on a cluster: every subscription reached the client's node) before a clock starts."""
    last = 0
    for size in setup.group.sizes:
        last += size
        setup.client.call(server_name(last - 1))


def call(setup: Setup, threads: int = 1, server: str = server_name(0)) -> dict:
    """Blocking calls to one server from ``threads`` threads of this process."""
    budget = setup.budget

    def op() -> object:
        return setup.client.call(server)

    def run() -> dict:
        return drive(op, threads, budget.count, budget.duration).summary()

    op()  # connected and warm before the clock starts
    return measured(setup, run)


def call_two_processes(setup: Setup, topic: str) -> dict:
    """Calls from 4 threads here and 4 threads in a second client process at once (on
    the client's node of a cluster)."""
    budget, half = setup.budget, THREADS // 2
    args = ["load", setup.kind, topic, server_name(0), str(half), str(budget.count // 2)]
    with Peer(setup.backend.reach.client, [*args, str(budget.duration)]) as other:
        other.expect("ready", timeout=60)

        def run() -> dict:
            other.send("go")
            here = drive(
                lambda: setup.client.call(server_name(0)), half, budget.count // 2, budget.duration
            )
            there = other.expect("result", timeout=budget.duration + 60)[1]
            ops = here.count + there["ops"]
            summary = here.summary()
            return {
                "ops": ops,
                "ops_per_s": round(ops / max(here.elapsed, there["elapsed"]), 1),
                "p50_ms": max(summary["p50_ms"], there["p50_ms"]),
                "p99_ms": max(summary["p99_ms"], there["p99_ms"]),
            }

        return measured(setup, run, extra_clients=(other.pid,))


def _until_handled(
    setup: Setup, group: PeerGroup, what: str, send: Callable[[], object], per_peer: list[int]
) -> dict:
    """Send with ``send`` within the budget, then wait until every peer of ``group`` handled
    ``per_peer[i]`` messages for each one sent."""
    budget = setup.budget
    base = group.count(what, [0] * len(group.peers), 0)
    started = time.perf_counter()
    sent = drive(send, 1, budget.count, budget.duration).count
    setup.client.flush()
    targets = [b + sent * share for b, share in zip(base, per_peer, strict=True)]
    handled = group.count(what, targets, DRAIN_TIMEOUT)
    elapsed = time.perf_counter() - started
    result = {"ops": sent, "ops_per_s": round(sent / elapsed, 1)}
    lost = sum(targets) - sum(handled)
    return result | ({"unhandled": lost} if lost else {})


def cast(setup: Setup) -> dict:
    """Casts to one server, counted until the server handled them all."""
    shares = [1] + [0] * (len(setup.group.peers) - 1)  # server 0 lives in peer 0

    def send() -> None:
        setup.client.cast(server_name(0))

    return measured(setup, lambda: _until_handled(setup, setup.group, "cast", send, shares))


def fanout(setup: Setup) -> dict:
    """Fanouts to every server of the group, counted until each server handled them all."""
    group = setup.group

    def run() -> dict:
        result = _until_handled(setup, group, "fanout", setup.client.fanout, group.sizes)
        return result | {"deliveries_per_s": round(result["ops_per_s"] * group.servers, 1)}

    return measured(setup, run)


def notify(setup: Setup, listener: PeerGroup, notify_op: Callable[[], None]) -> dict:
    """Notifications to one listener, counted until it handled them all."""
    return measured(
        setup, lambda: _until_handled(setup, listener, "notify", notify_op, [1]), listener
    )


def fanout_time(group: PeerGroup, client: Client, rounds: int) -> dict:
    """Median milliseconds from one fanout until every server of the group handled it;
    a fanout that reaches only some servers within the timeout ends the rounds and says so."""
    times = []
    for _ in range(rounds):
        base = group.count("fanout", [0] * len(group.peers), 0)
        started = time.perf_counter()
        client.fanout()
        client.flush()
        targets = [b + share for b, share in zip(base, group.sizes, strict=True)]
        reached = sum(group.count("fanout", targets, DRAIN_TIMEOUT)) - sum(base)
        if reached < group.servers:
            return {"fanout_reached": reached}
        times.append(time.perf_counter() - started)
    return {"fanout_ms": round(statistics.median(times) * 1000, 2)}


def scale_point(setup: Setup) -> dict:
    """Call latency to one of the group's servers, fanout time to all, backend load."""
    group = setup.group
    figures = call(setup, server=server_name(group.servers // 2))
    idle = CpuMeter({"backend": setup.backend.pids})
    idle.start()
    time.sleep(min(setup.budget.duration, 2.0))
    idle_cpu = idle.stop()["backend"] / min(setup.budget.duration, 2.0)
    return (
        figures
        | fanout_time(group, setup.client, setup.budget.fanout_rounds)
        | {"backend_idle_cpu_pct": round(idle_cpu * 100, 1)}
        | setup.backend.holdings()
    )
