"""The servers of a plan's backends as run on this machine, configured by
:mod:`hybridmsg.nodeconfigs`.

``local_server(plan, backend, directory)`` gives the server of ``backend`` (a private
RabbitMQ node, a nats-server or a qdrouterd; for several nodes a :class:`LocalCluster` of
them, each node in ``directory/nodeN``) with the plan's service accounts, ready to
``start``, ``stop``, ``refresh`` (bring a running server's users up to date) and inspect.
Notification readers have an account on RabbitMQ only (see :mod:`hybridmsg.readers`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from hybridmsg.backends.managed import ManagedServer
from hybridmsg.backends.nats import (
    NatsServer,
    NatsServerConfig,
    password_hashes,
    render_nats_conf,
)
from hybridmsg.backends.ports import tcp_ready
from hybridmsg.backends.process import ServerProcess
from hybridmsg.backends.qdrouterd import Qdrouterd, QdrouterdConfig, render_qdrouterd_conf
from hybridmsg.backends.rabbitmq import RabbitDefinitions, RabbitNodeConfig
from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.errors import MissingBinary
from hybridmsg.nodeconfigs import (
    nats_configs,
    qdrouterd_configs,
    rabbit_configs,
    rabbit_definitions,
)
from hybridmsg.plan import Backend, BackendKind, Plan


class LocalServer(Protocol):
    """What the local stack does with any server."""

    backend: Backend
    title: str

    @property
    def address(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def is_running(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def refresh(self) -> None: ...


def local_server(plan: Plan, backend: Backend, directory: Path) -> LocalServer:
    """The server (or cluster) that runs ``backend`` of ``plan`` from ``directory``."""
    nodes: Sequence[LocalServer]
    if backend.kind is BackendKind.RABBITMQ:
        definitions = rabbit_definitions(plan)
        nodes = [
            # users and vhosts are created once, on the first node, for the cluster
            LocalRabbit(backend, cfg, definitions if number == 0 else RabbitDefinitions(),
                        _node_dir(backend, directory, number))
            for number, cfg in enumerate(rabbit_configs(plan, backend))
        ]
    elif backend.kind is BackendKind.QDROUTERD:
        nodes = [
            LocalQdrouterd(backend, cfg, _node_dir(backend, directory, number))
            for number, cfg in enumerate(qdrouterd_configs(plan, backend))
        ]
    else:
        first = _node_dir(backend, directory, 0) / NatsServer.conf_name
        try:
            hashes = password_hashes(first.read_text())
        except OSError:
            hashes = {}
        nodes = [
            LocalNats(backend, cfg, _node_dir(backend, directory, number))
            for number, cfg in enumerate(nats_configs(plan, backend, hashes))
        ]
    if not backend.clustered:
        return nodes[0]
    if backend.kind is BackendKind.RABBITMQ:
        hosts = tuple(node.host for node in backend.nodes)
        assert backend.epmd_port is not None, "a local RabbitMQ cluster has its own epmd"
        return LocalCluster(backend, "RabbitMQ cluster", nodes,
                            Epmd(backend.epmd_port, hosts, directory / "epmd"))
    return LocalCluster(backend, f"{nodes[0].title} cluster", nodes)


def _node_dir(backend: Backend, directory: Path, number: int) -> Path:
    """A single node runs from ``directory``, each node of a cluster from
    ``directory/nodeN`` (N from 1)."""
    return directory / f"node{number + 1}" if backend.clustered else directory


def rabbit_node(server: LocalServer) -> RabbitNode:
    """The RabbitMQ node to ask about the queues of ``server`` (any node of a cluster
    knows them all): its first."""
    if isinstance(server, LocalCluster):
        server = server.members[0]
    assert isinstance(server, LocalRabbit)
    return server.node


class LocalRabbit:
    """A private RabbitMQ node with one user and vhost per service, and one user per
    notification reader allowed to read notifications only, on every service's vhost."""

    start_timeout = 90.0

    def __init__(
        self, backend: Backend, cfg: RabbitNodeConfig, definitions: RabbitDefinitions,
        directory: Path,
    ) -> None:
        self.backend = backend
        self.title = f"RabbitMQ node {cfg.nodename}"
        self.address = f"{cfg.host}:{cfg.port}"
        self.node = RabbitNode(cfg, directory, definitions)

    @property
    def pid(self) -> int | None:
        return self.node.pid

    @property
    def is_running(self) -> bool:
        return self.node.is_running

    @property
    def fresh(self) -> bool:
        """Whether the node never ran: in a cluster, it joins its peers on this first boot."""
        return not (self.node.directory / "mnesia").exists()

    def start(self) -> None:
        self.node.start(self.start_timeout)

    def stop(self) -> None:
        self.node.stop()

    def refresh(self) -> None:
        """Restart when the listener changed (e.g. TLS on or off); else import the users
        and vhosts again (additive: a dropped service's user stays)."""
        if self.node.conf_changed:
            self.node.stop()
            self.node.start(self.start_timeout)
        elif self.node.definitions.users:
            self.node.apply_definitions(self.node.definitions)


class _FromConfig:
    """A nats-server or qdrouterd node: runs ``_server``, restarts on a changed config."""

    start_timeout: float
    backend: Backend
    title: str
    address: str
    _server: NatsServer | Qdrouterd
    _render: Callable[..., str]

    @property
    def pid(self) -> int | None:
        return self._server.pid

    @property
    def is_running(self) -> bool:
        return self._server.is_running

    def start(self) -> None:
        self._server.start(self.start_timeout)

    def stop(self) -> None:
        self._server.stop()

    def refresh(self) -> None:
        """Restart on the new config when it changed (users, certificates); else leave it
        running."""
        conf = self._server.conf_file
        if not conf.exists() or conf.read_text() != self._render(self._server.config):
            self._server.restart(self.start_timeout)


class LocalNats(_FromConfig):
    """A nats-server where each service's user may use only its own vhost's subjects.

    Its config holds bcrypt hashes, not passwords; a hash already in the config is kept
    while the password is the same, so that rendering again changes nothing.
    """

    start_timeout = 15.0
    _render = staticmethod(render_nats_conf)

    def __init__(self, backend: Backend, cfg: NatsServerConfig, directory: Path) -> None:
        self.backend = backend
        self.title = "nats-server"
        self.address = f"{cfg.host}:{cfg.port}"
        self._server = NatsServer(cfg, directory)


class LocalQdrouterd(_FromConfig):
    """A Qpid Dispatch Router with a TLS-only listener where each service authenticates by
    its client certificate (SASL EXTERNAL) and a vhost policy keeps it to its own
    addresses. Needs mutual TLS (the plan checks)."""

    start_timeout = 20.0
    _render = staticmethod(render_qdrouterd_conf)

    def __init__(self, backend: Backend, cfg: QdrouterdConfig, directory: Path) -> None:
        self.backend = backend
        self.title = "qdrouterd"
        self.address = f"{cfg.listeners[0].host}:{cfg.listeners[0].port}"
        self._server = Qdrouterd(cfg, directory)


class Epmd(ManagedServer):
    """The Erlang port mapper of a local RabbitMQ cluster, on its own port and only on the
    cluster's host addresses (and loopback, where epmd always listens), where the nodes
    find each other's distribution ports. Without it the first node would start one
    daemon of its own that outlives the cluster."""

    name = "epmd"

    def __init__(self, port: int, hosts: tuple[str, ...], directory: Path) -> None:
        super().__init__(directory)
        self.port = port
        self.hosts = hosts

    def _new_process(self) -> ServerProcess:
        binary = shutil.which("epmd")
        if binary is None:
            raise MissingBinary("epmd not found: apt-get install rabbitmq-server (erlang-base)")
        return ServerProcess(
            self.name,
            [binary, "-port", str(self.port), "-address", ",".join(self.hosts)],
            self.directory,
            ready=tcp_ready(self.hosts[0], self.port),
            ports={self.port: "epmd"},
            host=self.hosts[0],
        )


class LocalCluster:
    """The nodes of one clustered backend, run together.

    ``start`` starts the nodes that are not running, all at once (a RabbitMQ node
    restarting waits for its peers), except nodes that never ran, which start one after
    the other so that each joins the cluster the ones before it formed; it brings the
    nodes that were running up to date. ``helper`` (epmd) runs first and stops last.
    """

    def __init__(
        self, backend: Backend, title: str, members: Sequence[LocalServer],
        helper: ManagedServer | None = None,
    ) -> None:
        self.backend = backend
        self.title = f"{title} ({len(members)} nodes)"
        self.members = tuple(members)
        self.helper = helper

    @property
    def address(self) -> str:
        return ", ".join(member.address for member in self.members)

    @property
    def pid(self) -> int | None:
        return self.members[0].pid

    @property
    def is_running(self) -> bool:
        return all(member.is_running for member in self.members)

    def start(self) -> None:
        if self.helper is not None and not self.helper.is_running:
            self.helper.start()
        waiting = [m for m in self.members if not m.is_running]
        rejoining = [m for m in waiting if not (isinstance(m, LocalRabbit) and m.fresh)]
        _start_all(rejoining)
        for member in self.members:
            if member not in waiting:
                member.refresh()  # those that ran on: up to date like the others
            elif member not in rejoining:
                member.start()

    def stop(self) -> None:
        for member in reversed(self.members):
            member.stop()
        if self.helper is not None:
            self.helper.stop()

    def refresh(self) -> None:
        for member in self.members:
            member.refresh()


def _start_all(members: Sequence[LocalServer]) -> None:
    """Start ``members`` at once; raise the first failure once every start has ended."""
    if not members:
        return
    with ThreadPoolExecutor(len(members)) as pool:
        futures = [pool.submit(member.start) for member in members]
    for future in futures:
        if (error := future.exception()) is not None:
            raise error
