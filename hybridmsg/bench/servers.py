"""The servers a bench run measures, one or a cluster of several: what they are, where
each side connects, and what they hold.

A :class:`RunningBackend` has the ``pids`` of its server processes (a cluster's CPU and
memory are the sum over its nodes), a :class:`Reach` (the client's URL, the RPC server
peers' URLs, and the URL naming every node) and ``holdings()``. The context managers
here start one server for a run, in a fresh directory removed afterwards:
:func:`rabbit_backend`, :func:`nats_backend`, :func:`qdrouterd_backend`. Clusters come
from :mod:`hybridmsg.bench.clusters` as the same classes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hybridmsg.backends.nats import NatsServer, NatsServerConfig, NatsUser
from hybridmsg.backends.ports import LOOPBACK, free_port
from hybridmsg.backends.qdrouterd import QdrListener, Qdrouterd, QdrouterdConfig, qdrouterd_version
from hybridmsg.backends.rabbitmq import RabbitDefinitions, RabbitNodeConfig
from hybridmsg.backends.rabbitmq_node import RabbitNode

USER = VHOST = "bench"
RABBIT_START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Reach:
    """Where each side of a run connects. On one server all three are its URL; on a
    cluster the client (and the second load process) uses the last node, the RPC server
    peers the other nodes in turn, so that every request and reply crosses the cluster."""

    url: str  # every node, as a service's config names them (ombt runs on it)
    client: str
    servers: tuple[str, ...]

    @classmethod
    def one(cls, url: str) -> Reach:
        return cls(url, url, (url,))


class RunningBackend(Protocol):
    """A server (or cluster) started for the run."""

    product: str  # e.g. "RabbitMQ"
    version: str
    pids: tuple[int, ...]  # one per node
    reach: Reach

    def holdings(self) -> dict[str, int]:
        """What the server holds for its clients: queues, connections, subscriptions."""
        ...


@contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A fresh directory under /tmp that user rabbitmq may enter; removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(directory, 0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class RabbitBackend:
    """RabbitMQ node(s); ``node`` is the one asked (any node of a cluster knows all)."""

    product = "RabbitMQ"

    def __init__(self, node: RabbitNode, pids: tuple[int, ...], reach: Reach) -> None:
        self.node = node
        self.pids = pids
        self.reach = reach
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
    with scratch_directory("hybridmsg-bench-rabbit-") as directory:
        node = RabbitNode(
            RabbitNodeConfig(name=f"bench{os.getpid()}", port=free_port(), dist_port=free_port()),
            directory,
            RabbitDefinitions.for_accounts([(USER, password, VHOST)]),
        )
        node.start(RABBIT_START_TIMEOUT)
        try:
            url = node.url(USER, password, VHOST)
            yield RabbitBackend(node, (node.pid or 0,), Reach.one(url))
        finally:
            node.stop()


class NatsBackend:
    """nats-server(s), each with its monitoring endpoint (``host:port``)."""

    product = "nats-server"

    def __init__(self, monitoring: Sequence[str], pids: tuple[int, ...], reach: Reach) -> None:
        self.monitoring = tuple(monitoring)
        self.pids = pids
        self.reach = reach
        self.version = str(self.get(self.monitoring[0], "varz")["version"])

    @staticmethod
    def get(monitoring: str, endpoint: str) -> dict:
        with urllib.request.urlopen(f"http://{monitoring}/{endpoint}", timeout=10) as answer:
            return json.load(answer)

    def holdings(self) -> dict[str, int]:
        """Client connections and their subscriptions, summed over the nodes."""
        connz = [self.get(node, "connz") for node in self.monitoring]
        return {
            "connections": sum(int(c["num_connections"]) for c in connz),
            "subscriptions": sum(
                int(conn["subscriptions"]) for c in connz for conn in c["connections"] or ()
            ),
        }


@contextmanager
def nats_backend() -> Iterator[NatsBackend]:
    password = secrets.token_urlsafe(18)
    config = NatsServerConfig(
        port=free_port(), monitoring_port=free_port(), users=(NatsUser(USER, password),)
    )
    with scratch_directory("hybridmsg-bench-nats-") as directory, NatsServer(
        config, directory
    ) as server:
        url = server.url(USER, password, VHOST)
        monitoring = f"{LOOPBACK}:{config.monitoring_port}"
        yield NatsBackend((monitoring,), (server.pid or 0,), Reach.one(url))


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
    """qdrouterd(s), each with the client listener on ``ports[i]``."""

    product = "qdrouterd"

    def __init__(self, ports: Sequence[int], pids: tuple[int, ...], reach: Reach) -> None:
        self.version = qdrouterd_version()
        self.ports = tuple(ports)
        self.pids = pids
        self.reach = reach

    def holdings(self) -> dict[str, int]:
        return {"connections": sum(established_connections(port) for port in self.ports)}


@contextmanager
def qdrouterd_backend() -> Iterator[QdrouterdBackend]:
    """A standalone qdrouterd with an anonymous plain listener."""
    config = QdrouterdConfig("bench", (QdrListener(free_port()),))
    with scratch_directory("hybridmsg-bench-qdr-") as directory, Qdrouterd(
        config, directory
    ) as router:
        url = f"amqp://{LOOPBACK}:{router.port}/{VHOST}"
        yield QdrouterdBackend((router.port,), (router.pid or 0,), Reach.one(url))
