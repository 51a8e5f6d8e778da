"""The bench's clusters: what ``hybridmsg up --nodes N`` deploys, one backend at a time.

:func:`cluster_backend` runs a local stack (:class:`hybridmsg.stack.Stack`, in a scratch
directory) of one service ``bench`` in the mode that puts RPC on the backend asked for --
a RabbitMQ cluster (rabbit mode), a NATS cluster with routes or a qdrouterd mesh (router
mode) on the test hosts 127.0.0.2, ... -- with the stack's defaults: TLS on every
connection (mutual for qdrouterd, which needs it), and the service's own options in its
URLs (on RabbitMQ: quorum queues). It waits until the nodes are connected to each other,
and yields a :class:`~hybridmsg.bench.servers.RunningBackend` whose client uses the last
node and whose RPC server peers use the other nodes in turn (see
:class:`~hybridmsg.bench.servers.Reach`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from hybridmsg.bench.servers import (
    VHOST,
    NatsBackend,
    QdrouterdBackend,
    RabbitBackend,
    Reach,
    RunningBackend,
    established_connections,
    scratch_directory,
)
from hybridmsg.errors import HybridmsgError
from hybridmsg.localservers import LocalCluster, rabbit_node
from hybridmsg.plan import Backend, BackendKind, Mode, Plan
from hybridmsg.services import on_node, service_config
from hybridmsg.stack import Stack

SERVICE = VHOST  # the service, its user and its vhost: "bench"
MESH_TIMEOUT = 60.0  # longest wait for the nodes to connect to each other
#: the mode of the stack that puts RPC on each kind of backend
MODES = {
    BackendKind.RABBITMQ: Mode.RABBIT,
    BackendKind.NATS: Mode.ROUTER,
    BackendKind.QDROUTERD: Mode.ROUTER,
}


def _quiet(*_args: object, **_kwargs: object) -> None:
    """The stack's progress, not shown: the bench prints its own lines."""


def reach(plan: Plan, nodes: int) -> Reach:
    """The service's URLs (with its options in the query): all nodes, the last node for
    the client, each other node for the RPC servers."""
    config = service_config(plan, SERVICE)

    def node(number: int) -> str:
        one = on_node(config, number)
        return one.self_contained(one.rpc_url)

    return Reach(
        config.self_contained(config.rpc_url),
        node(nodes - 1),
        tuple(node(number) for number in range(max(1, nodes - 1))),
    )


def _await(connected, what: str) -> None:
    deadline = time.monotonic() + MESH_TIMEOUT
    while not connected():
        if time.monotonic() > deadline:
            raise HybridmsgError(f"{what} not connected after {MESH_TIMEOUT:g} s")
        time.sleep(0.2)


def _running(plan: Plan, backend: Backend, server: LocalCluster, nodes: int) -> RunningBackend:
    pids = tuple(member.pid or 0 for member in server.members)
    urls = reach(plan, nodes)
    if backend.kind is BackendKind.RABBITMQ:
        return RabbitBackend(rabbit_node(server), pids, urls)
    if backend.kind is BackendKind.NATS:
        nats = NatsBackend([f"{n.host}:{n.monitor_port}" for n in backend.nodes], pids, urls)
        _await(
            lambda: all(
                len(nats.get(node, "routez")["routes"] or ()) >= nodes - 1
                for node in nats.monitoring
            ),
            "the NATS cluster's routes",
        )
        return nats
    pairs = nodes * (nodes - 1) // 2  # every router connects once to each before it
    _await(
        lambda: sum(established_connections(n.cluster_port or 0) for n in backend.nodes) >= pairs,
        "the qdrouterd mesh's inter-router links",
    )
    return QdrouterdBackend([n.port for n in backend.nodes], pids, urls)


@contextmanager
def cluster_backend(kind: BackendKind, nodes: int) -> Iterator[RunningBackend]:
    """A cluster of ``nodes`` servers of ``kind`` for one bench column; stopped after."""
    with scratch_directory(f"hybridmsg-bench-{kind.value}-cluster-") as directory:
        stack = Stack(directory / "state")
        try:
            router = {"router": kind} if kind.is_router else {}
            plan = stack.up(
                MODES[kind], services=(SERVICE,), nodes=nodes, progress=_quiet, **router
            )
            server = stack.server(plan, plan.rpc_backend)
            assert isinstance(server, LocalCluster), "a bench cluster has several nodes"
            yield _running(plan, plan.rpc_backend, server, nodes)
        finally:
            stack.down(progress=_quiet)
