"""The servers a fault run breaks: a private RabbitMQ node and a nats-server, or with
``nodes`` > 1 a RabbitMQ cluster and a NATS cluster of that many nodes on the test hosts
127.0.0.2, ...

:class:`Testbed` derives one plan per mode from a single hybrid plan (same RabbitMQ node,
same router, one service), runs the servers as the local stack does (``local_server``),
writes each mode's service snippet, and breaks a server on demand: ``kill`` sends SIGKILL
to the server process recorded in its pid file (RabbitMQ: the Erlang VM; in a cluster:
one node's) and waits until it is gone; ``stop`` is the graceful shutdown; ``start``
brings it back on the same ports and data directory (in a cluster: the nodes that are
down) and returns once it accepts connections. Processes are never looked up by name.
"""

from __future__ import annotations

import enum
import json
import os
import signal
import urllib.request
from collections import Counter
from dataclasses import replace
from pathlib import Path

from hybridmsg.backends.process import poll_until, write_private
from hybridmsg.errors import ServerStartError
from hybridmsg.localservers import LocalCluster, LocalServer, local_server, rabbit_node
from hybridmsg.plan import Mode, Node, Plan
from hybridmsg.services import render, service_config
from hybridmsg.stack import local_plan

SERVICE = "faults"
GONE_TIMEOUT = 30.0


class Target(enum.StrEnum):
    """The server a scenario breaks."""

    ROUTER = "router"
    RABBITMQ = "rabbitmq"


class Testbed:
    """RabbitMQ and the router, run from ``directory``, with a plan per mode."""

    def __init__(self, directory: Path, nodes: int = 1) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o711)  # RabbitMQ runs as its own user and must get through
        self.nodes = nodes
        spool_dir = f"{self.directory.absolute()}/spool/{{service}}"
        hybrid = local_plan(Mode.HYBRID, (SERVICE,), nodes=nodes, spool_dir=spool_dir)
        self.plans: dict[Mode, Plan] = {
            Mode.HYBRID: hybrid,
            Mode.RABBIT: replace(hybrid, mode=Mode.RABBIT, router=None),
        }
        self.servers: dict[Target, LocalServer] = {
            Target.RABBITMQ: local_server(hybrid, hybrid.rabbitmq, self.directory / "rabbitmq"),
            Target.ROUTER: local_server(hybrid, hybrid.router, self.directory / "router"),
        }

    def busiest(self, target: Target) -> int:
        """The number (from 0) of the node of ``target``'s cluster with the most client
        connections (NATS: its /connz; RabbitMQ: list_connections)."""
        backend = self.servers[target].backend
        if target is Target.ROUTER:
            counts = [_nats_connections(node) for node in backend.nodes]
        else:
            # a connection's pid, <NODE.X.Y>, names the node that holds it
            listed = rabbit_node(self.servers[target]).ctl(
                "list_connections", "--quiet", "--no-table-headers", "pid")
            named = Counter(
                line.strip().strip("<>").rsplit(".", 2)[0] for line in listed.splitlines()
            )
            counts = [named[node.name] for node in backend.nodes]
        return counts.index(max(counts))

    def uses(self, mode: Mode, target: Target) -> bool:
        """Whether ``mode`` has traffic on ``target`` (rabbit mode has no router)."""
        return self.servers[target].backend in self.plans[mode].backends

    def snippet(self, mode: Mode) -> Path:
        """The service's config file in ``mode``, written from the plan."""
        path = self.directory / f"{SERVICE}-{mode}.conf"
        write_private(path, render(service_config(self.plans[mode], SERVICE)))
        return path

    def start(self, target: Target | None = None) -> None:
        """Start ``target`` (None: every server) unless it runs; return once it accepts
        connections."""
        for name, server in self.servers.items():
            if target in (None, name) and not server.is_running:
                server.start()

    def stop(self, target: Target | None = None) -> None:
        """Stop ``target`` (None: every server) gracefully; idempotent."""
        for name, server in self.servers.items():
            if target in (None, name):
                server.stop()

    def kill(self, target: Target) -> None:
        """SIGKILL ``target``'s server process (in a cluster: that of the node most
        client connections use) and wait until nothing of it is left."""
        server = self.servers[target]
        if isinstance(server, LocalCluster):
            server = server.members[self.busiest(target)]
        pid = server.pid
        if pid is None or not server.is_running:
            raise ServerStartError(f"{server.title} is not running; nothing to kill")
        os.kill(pid, signal.SIGKILL)
        if not poll_until(lambda: not server.is_running, GONE_TIMEOUT):
            raise ServerStartError(
                f"{server.title} still running {GONE_TIMEOUT:g} s after SIGKILL to pid {pid}"
            )


def _nats_connections(node: Node) -> int:
    url = f"http://{node.host}:{node.monitor_port}/connz"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return int(json.load(answer)["num_connections"])
