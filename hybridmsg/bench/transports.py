"""The transports a bench run compares, and the real server each one runs on.

:data:`TRANSPORTS` is the registry, in report order. Each :class:`Transport` names its
client, its peer kind and a ``backend`` context manager that starts a server for the run
(in a fresh directory, removed afterwards) and yields a :class:`RunningBackend`; its
``unavailable()`` says in one line why it cannot run here, or None.

``amqp`` (our driver through Qpid Dispatch Router) and ``raw-amqp`` (python-qpid-proton
request/reply, :mod:`hybridmsg.bench.raw_amqp`) run when a qdrouterd binary is found
(``$HYBRIDMSG_QDROUTERD`` or PATH).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hybridmsg.backends.nats import NatsServer, NatsServerConfig, NatsUser, find_nats_server
from hybridmsg.backends.ports import LOOPBACK, free_port
from hybridmsg.backends.qdrouterd import (
    QdrListener,
    Qdrouterd,
    QdrouterdConfig,
    find_qdrouterd,
    qdrouterd_version,
)
from hybridmsg.backends.rabbitmq import RabbitDefinitions, RabbitNodeConfig
from hybridmsg.backends.rabbitmq_node import RabbitNode, find_rabbitmq_scripts
from hybridmsg.errors import MissingBinary

USER = VHOST = "bench"
RABBIT_START_TIMEOUT = 90.0


class Client(Protocol):
    """The load side: what the workloads do, whatever the transport."""

    def call(self, server: str) -> object: ...
    def cast(self, server: str) -> None: ...
    def fanout(self) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class RunningBackend(Protocol):
    """A server started for the run."""

    product: str  # e.g. "RabbitMQ"
    url: str
    pid: int
    version: str

    def holdings(self) -> dict[str, int]:
        """What the server holds for its clients: queues, connections, subscriptions."""
        ...


@dataclass(frozen=True)
class Transport:
    """One column of the report."""

    name: str
    title: str
    peer_kind: str  # the server side, and the client (see client_for)
    backend: Callable[[], AbstractContextManager[RunningBackend]]
    unavailable: Callable[[], str | None]
    notifications: bool = False  # whether the notification workload runs on it


@contextmanager
def _directory(prefix: str) -> Iterator[Path]:
    """A fresh directory under /tmp that user rabbitmq may enter; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(directory, 0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class RabbitBackend:
    """A private RabbitMQ node with one account."""

    product = "RabbitMQ"

    def __init__(self, node: RabbitNode, password: str) -> None:
        self.node = node
        self.url = node.url(USER, password, VHOST)
        self.pid = node.pid or 0
        self.version = node.ctl("version").strip()

    def holdings(self) -> dict[str, int]:
        connections = self.node.ctl(
            "list_connections", "-q", "-p", VHOST, "name", "--formatter", "json"
        )
        return {
            "queues": len(self.node.list_queues(VHOST)),
            "connections": len(json.loads(connections or "[]")),
        }


@contextmanager
def rabbit_backend() -> Iterator[RabbitBackend]:
    password = secrets.token_urlsafe(18)
    with _directory("hybridmsg-bench-rabbit-") as directory:
        node = RabbitNode(
            RabbitNodeConfig(name=f"bench{os.getpid()}", port=free_port(), dist_port=free_port()),
            directory,
            RabbitDefinitions.for_accounts([(USER, password, VHOST)]),
        )
        node.start(RABBIT_START_TIMEOUT)
        try:
            yield RabbitBackend(node, password)
        finally:
            node.stop()


class NatsBackend:
    """A nats-server with one user and its monitoring endpoint."""

    product = "nats-server"

    def __init__(self, server: NatsServer, password: str) -> None:
        self.url = server.url(USER, password, VHOST)
        self.pid = server.pid or 0
        self._monitoring = f"http://{LOOPBACK}:{server.config.monitoring_port}"
        self.version = str(self._get("varz")["version"])

    def _get(self, endpoint: str) -> dict:
        with urllib.request.urlopen(f"{self._monitoring}/{endpoint}", timeout=10) as response:
            return json.load(response)

    def holdings(self) -> dict[str, int]:
        varz = self._get("varz")
        return {
            "connections": int(self._get("connz")["num_connections"]),
            "subscriptions": int(varz["subscriptions"]),
        }


@contextmanager
def nats_backend() -> Iterator[NatsBackend]:
    password = secrets.token_urlsafe(18)
    config = NatsServerConfig(
        port=free_port(), monitoring_port=free_port(), users=(NatsUser(USER, password),)
    )
    with _directory("hybridmsg-bench-nats-") as directory, NatsServer(config, directory) as server:
        yield NatsBackend(server, password)


def _missing(find: Callable[[], object]) -> Callable[[], str | None]:
    def unavailable() -> str | None:
        try:
            find()
        except MissingBinary as exc:
            return str(exc)
        return None

    return unavailable


def established_connections(port: int) -> int:
    """TCP connections established to ``port`` on this machine (from /proc/net/tcp*)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


class QdrouterdBackend:
    """A standalone qdrouterd with an anonymous plain listener."""

    product = "qdrouterd"

    def __init__(self, router: Qdrouterd) -> None:
        self.version = qdrouterd_version()
        self.url = f"amqp://{LOOPBACK}:{router.port}/{VHOST}"
        self.pid = router.pid or 0
        self._port = router.port

    def holdings(self) -> dict[str, int]:
        return {"connections": established_connections(self._port)}


@contextmanager
def qdrouterd_backend() -> Iterator[QdrouterdBackend]:
    config = QdrouterdConfig("bench", (QdrListener(free_port()),))
    with _directory("hybridmsg-bench-qdr-") as directory, Qdrouterd(config, directory) as router:
        yield QdrouterdBackend(router)


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
        ),
        Transport("nats", "nats:// (hybridmsg)", "oslo", nats_backend, _missing(find_nats_server)),
        Transport("raw-nats", "raw nats-py", "raw-nats", nats_backend, _missing(find_nats_server)),
        Transport("amqp", "amqp:// (hybridmsg)", "oslo", qdrouterd_backend,
                  _missing(find_qdrouterd)),
        Transport("raw-amqp", "raw proton", "raw-amqp", qdrouterd_backend,
                  _missing(find_qdrouterd)),
    )
}
