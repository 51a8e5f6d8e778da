"""The transports a bench run compares, and the real servers each one runs on.

:data:`TRANSPORTS` is the registry, in report order. Each :class:`Transport` names its
client, its peer kind and how to start its server for a run: ``start(nodes)`` is a
context manager (one server from :mod:`hybridmsg.bench.servers`, or a cluster of several
from :mod:`hybridmsg.bench.clusters` for the transports that have one) yielding a
:class:`~hybridmsg.bench.servers.RunningBackend`; ``unavailable(nodes)`` says in one line
why it cannot run here, or None.

``amqp`` (our driver through Qpid Dispatch Router) and ``raw-amqp`` (python-qpid-proton
request/reply, :mod:`hybridmsg.bench.raw_amqp`) run when a qdrouterd binary is found
(``$HYBRIDMSG_QDROUTERD`` or PATH).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from hybridmsg.backends.nats import find_nats_server
from hybridmsg.backends.qdrouterd import find_qdrouterd
from hybridmsg.backends.rabbitmq_node import find_rabbitmq_scripts
from hybridmsg.bench.clusters import cluster_backend
from hybridmsg.bench.servers import (
    RunningBackend,
    nats_backend,
    qdrouterd_backend,
    rabbit_backend,
)
from hybridmsg.errors import MissingBinary
from hybridmsg.plan import BackendKind


class Client(Protocol):
    """The load side: what the workloads do, whatever the transport."""

    def call(self, server: str) -> object: ...
    def cast(self, server: str) -> None: ...
    def fanout(self) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Transport:
    """One transport of the report (a column per number of nodes)."""

    name: str
    title: str
    peer_kind: str  # the server side, and the client (see client_for)
    backend: Callable[[], AbstractContextManager[RunningBackend]]
    missing: Callable[[], str | None]  # why its server cannot run here, or None
    notifications: bool = False  # whether the notification workload runs on it
    cluster: BackendKind | None = None  # what its clusters are made of; None: one server only
    early_casts: bool = False  # also measure casts that return once they left (amqp://)

    @property
    def has_oslo_url(self) -> bool:
        """Whether its client is oslo.messaging (so ombt can run on its URL too)."""
        return self.peer_kind == "oslo"

    def unavailable(self, nodes: int = 1) -> str | None:
        """Why it cannot run on ``nodes`` nodes here, or None."""
        if nodes > 1 and self.cluster is None:
            return "runs against one server only (no cluster column)"
        return self.missing()

    def start(self, nodes: int = 1) -> AbstractContextManager[RunningBackend]:
        """Its server (``nodes`` 1) or a cluster of ``nodes``, started for a run."""
        if nodes == 1:
            return self.backend()
        assert self.cluster is not None, "unavailable(nodes) says why"
        return cluster_backend(self.cluster, nodes)


def _missing(find: Callable[[], object]) -> Callable[[], str | None]:
    def unavailable() -> str | None:
        try:
            find()
        except MissingBinary as exc:
            return str(exc)
        return None

    return unavailable


def client_for(peer_kind: str) -> Callable[[str, str], Client]:
    """The client class (``cls(url, topic)``) that loads servers of ``peer_kind``."""
    if peer_kind == "raw-nats":
        from hybridmsg.bench.raw import RawNatsClient

        return RawNatsClient
    if peer_kind == "raw-amqp":
        from hybridmsg.bench.raw_amqp import RawAmqpClient

        return RawAmqpClient
    from hybridmsg.bench.clients import OsloClient

    return OsloClient


TRANSPORTS: dict[str, Transport] = {
    t.name: t
    for t in (
        Transport(
            "rabbit",
            "rabbit:// (oslo on RabbitMQ)",
            "oslo",
            rabbit_backend,
            _missing(find_rabbitmq_scripts),
            notifications=True,
            cluster=BackendKind.RABBITMQ,
        ),
        Transport("nats", "nats:// (hybridmsg)", "oslo", nats_backend, _missing(find_nats_server),
                  cluster=BackendKind.NATS),
        Transport("raw-nats", "raw nats-py", "raw-nats", nats_backend, _missing(find_nats_server)),
        Transport("amqp", "amqp:// (hybridmsg)", "oslo", qdrouterd_backend,
                  _missing(find_qdrouterd), cluster=BackendKind.QDROUTERD, early_casts=True),
        Transport("raw-amqp", "raw proton", "raw-amqp", qdrouterd_backend,
                  _missing(find_qdrouterd)),
    )
}
