"""One bench run: every transport in turn, each against its own server (or cluster),
every workload, then the same RPC through ombt.

``run_bench(options, say)`` returns ``{column: results}`` -- a column per transport and
number of nodes (``nats``, ``nats×3``, see :func:`~hybridmsg.bench.report.column`) -- and
calls ``say`` with one progress line per step. A transport whose server cannot run here is skipped
with the reason; one that fails midway keeps what it measured and says why. Servers and
peers are context managers: they stop on errors and on Ctrl-C too.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

from oslo_messaging import MessagingException

from hybridmsg.bench import workloads
from hybridmsg.bench.clients import early_cast_client
from hybridmsg.bench.ombt import OmbtError, rpc_run
from hybridmsg.bench.peers import PeerError, PeerGroup
from hybridmsg.bench.procstats import open_files_limit
from hybridmsg.bench.report import column
from hybridmsg.bench.servers import RunningBackend
from hybridmsg.bench.transports import TRANSPORTS, Client, Transport, client_for
from hybridmsg.errors import HybridmsgError

TOPIC = "bench"
NOTIFY_TOPIC = "bench-notifications"
FANOUT_SERVERS = 10
MAX_PROCESSES = 4
SERVERS_PER_PROCESS = 5  # until MAX_PROCESSES are in use
SILENCE_TIMEOUT = 120.0  # longest a starting peer may go without a progress line
OMBT_TIMEOUT = 120.0  # ombt's own --timeout
Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    """What to run, and each workload's bounds."""

    transports: tuple[str, ...] = tuple(TRANSPORTS)
    scale: tuple[int, ...] = (10, 100, 1000)
    duration: float = 5.0
    count: int = 50_000
    fanout_rounds: int = 5
    nodes: tuple[int, ...] = (1,)  # a column per transport and number of nodes
    ombt_calls: int = 5000  # messages of each ombt run; 0: no ombt rows

    @property
    def budget(self) -> workloads.Budget:
        return workloads.Budget(self.count, self.duration, self.fanout_rounds)


def raise_open_files_limit() -> int:
    """Raise this process's soft open-files limit to the hard one (servers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def describe(name: str, figures: dict) -> str:
    """One progress line for a workload's figures."""
    if "failed" in figures:
        return f"{name}: failed: {figures['failed']}"
    if "refused" in figures:
        return f"{name}: refused after {figures['started']} servers: {figures['refused']}"
    parts = [f"{figures['ops_per_s']:,.0f} ops/s"]
    if "p99_ms" in figures:
        parts.append(f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms")
    if "mean_ms" in figures:
        parts.append(f"mean {figures['mean_ms']:.2f} ms")
    if "server_total" in figures:
        parts.append(f"{figures['ops']:,} sent, {figures['server_total']:,} handled")
    if "fanout_ms" in figures:
        parts.append(f"fanout to all {figures['fanout_ms']:.1f} ms")
    if "fanout_reached" in figures:
        parts.append(f"a fanout reached only {figures['fanout_reached']} servers")
    if "cpu_total" in figures:
        parts.append(f"CPU {figures['cpu_total']:.2f} s/1k ops")
        parts.append(f"backend {figures['backend_mib']:.0f} MiB")
    return f"{name}: " + ", ".join(parts)


def processes_for(servers: int) -> int:
    """How many peer processes carry ``servers`` RPC servers."""
    return max(1, min(MAX_PROCESSES, servers // SERVERS_PER_PROCESS))


class TransportRun:
    """The workloads of one transport against its running backend of ``nodes`` nodes."""

    def __init__(self, transport: Transport, nodes: int, options: Options, say: Say) -> None:
        self.transport = transport
        self.nodes = nodes
        self.column = column(transport.name, nodes)
        self.options = options
        self._say = say
        self.result: dict = {
            "title": transport.title, "nodes": nodes, "workloads": {}, "scale": {}
        }

    def say(self, text: str) -> None:
        self._say(f"[{self.column}] {text}")

    def step(self, name: str, measure: Callable[[], dict]) -> dict:
        figures = measure()
        self.say(describe(name, figures))
        return figures

    def run(self) -> dict:
        transport = self.transport
        if self.nodes > 1:
            self.say(f"starting a cluster of {self.nodes} nodes")
        with transport.start(self.nodes) as backend:
            limit = open_files_limit(backend.pids[0])
            self.result["backend"] = {
                "server": backend.product,
                "version": backend.version,
                "open_files_limit": limit,
            }
            pids = ", ".join(map(str, backend.pids))
            self.say(f"{backend.product} {backend.version} up (pid {pids})")
            client = client_for(transport.peer_kind)(backend.reach.client, TOPIC)
            try:
                self._workloads(backend, client)
            finally:
                client.close()
        return self.result

    @contextmanager
    def _group(
        self, backend: RunningBackend, servers: int, kind: str = "", topic: str = TOPIC
    ) -> Iterator[PeerGroup]:
        kind = kind or self.transport.peer_kind
        processes = processes_for(servers)
        with PeerGroup(kind, backend.reach.servers, topic, servers, processes) as group:
            self.say(f"starting {servers} {kind} servers in {processes} processes")
            group.start(SILENCE_TIMEOUT)
            yield group

    def _setup(self, backend: RunningBackend, client: Client, group: PeerGroup):
        setup = workloads.Setup(
            self.transport.peer_kind, backend, client, group, self.options.budget
        )
        if not group.error:
            workloads.warm_up(setup)
        return setup

    def _workloads(self, backend: RunningBackend, client: Client) -> None:
        found = self.result["workloads"]
        with self._group(backend, FANOUT_SERVERS) as group:
            if group.error:
                raise PeerError(f"RPC servers did not start: {group.error}")
            setup = self._setup(backend, client, group)
            found["call"] = self.step("call", lambda: workloads.call(setup))
            found["call_8_threads"] = self.step(
                "call, 8 threads", lambda: workloads.call(setup, threads=workloads.THREADS)
            )
            found["call_2_processes"] = self.step(
                "call, 2 processes",
                lambda: workloads.call_two_processes(setup, TOPIC),
            )
            found["cast"] = self.step("cast", lambda: workloads.cast(setup))
            if self.transport.early_casts:
                found["cast_early"] = self.step(
                    "cast, casts_wait_for_outcome = false", lambda: self._early_casts(setup)
                )
            found["fanout"] = self.step("fanout to 10", lambda: workloads.fanout(setup))
            if self.transport.notifications:
                found["notify"] = self._notify(backend, client, setup)
            if FANOUT_SERVERS in self.options.scale:
                self._scale_point(setup)
        if self.options.ombt_calls and self.transport.has_oslo_url:
            for mode in ("rpc", "cast"):
                ombt = partial(self._ombt, backend, mode)
                found[f"ombt_{mode}"] = self.step(f"ombt {mode}", ombt)
        for servers in self.options.scale:
            if servers != FANOUT_SERVERS:
                with self._group(backend, servers) as group:
                    self._scale_point(self._setup(backend, client, group))

    def _early_casts(self, setup: workloads.Setup) -> dict:
        """The cast workload with a client whose casts return once they left."""
        client = early_cast_client(setup.backend.reach.client, TOPIC)
        try:
            return workloads.cast(replace(setup, client=client))
        finally:
            client.close()

    def _ombt(self, backend: RunningBackend, mode: str) -> dict:
        """ombt's standalone ``rpc`` (or ``rpc --cast``) on the URL naming every node."""
        try:
            return rpc_run(
                backend.reach.url, self.options.ombt_calls, cast=mode == "cast",
                timeout=OMBT_TIMEOUT,
            )
        except OmbtError as exc:
            return {"failed": str(exc)}

    def _notify(self, backend: RunningBackend, client, setup: workloads.Setup) -> dict:
        """Notifications to a listener (on RabbitMQ: so in rabbit and in hybrid mode)."""

        def send() -> None:
            client.notify(NOTIFY_TOPIC)

        with self._group(backend, 1, kind="oslo-notify", topic=NOTIFY_TOPIC) as listener:
            return self.step("notify", lambda: workloads.notify(setup, listener, send))

    def _scale_point(self, setup: workloads.Setup) -> None:
        group = setup.group
        figures: dict = {"servers": group.servers, "processes": len(group.peers)}
        if group.error:  # e.g. the backend refused connections: a figure, not a crash
            figures |= {"started": group.started, "refused": group.error}
            figures |= setup.backend.holdings()
        else:
            figures |= workloads.scale_point(setup)
        self.result["scale"][str(group.servers)] = figures
        self.say(describe(f"{group.servers} servers", figures))


def run_bench(options: Options, say: Say) -> dict[str, dict]:
    """Run every transport of ``options`` on each number of nodes; results per column."""
    raise_open_files_limit()
    results: dict[str, dict] = {}
    for nodes in options.nodes:
        for name in options.transports:
            transport = TRANSPORTS[name]
            run = TransportRun(transport, nodes, options, say)
            reason = transport.unavailable(nodes)
            if reason:
                say(f"[{run.column}] skipped: {reason}")
                results[run.column] = {"title": transport.title, "skipped": reason}
                continue
            try:
                run.run()
            except (HybridmsgError, MessagingException, OSError) as exc:
                run.result["failed"] = f"{type(exc).__name__}: {exc}"
                run.say(f"failed: {run.result['failed']}")
            results[run.column] = run.result
    return results
