"""The servers of a plan's backends as run on this machine, derived from the plan.

``local_server(plan, backend, directory)`` gives the one-node server of ``backend``
(a private RabbitMQ node, a nats-server or a qdrouterd) with the plan's service accounts, ready to
``start``, ``stop``, ``refresh`` (bring a running server's users up to date) and inspect.
Notification readers have an account on RabbitMQ only (see :mod:`hybridmsg.readers`);
every server accepts messages up to :data:`~hybridmsg.backends.MAX_MESSAGE_SIZE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hybridmsg.backends import MAX_MESSAGE_SIZE
from hybridmsg.backends.nats import (
    NatsServer,
    NatsServerConfig,
    NatsTLS,
    NatsUser,
    hash_password,
    password_hashes,
    render_nats_conf,
)
from hybridmsg.backends.ports import LOOPBACK
from hybridmsg.backends.qdrouterd import (
    QdrListener,
    Qdrouterd,
    QdrouterdConfig,
    QdrSslProfile,
    QdrVhost,
    render_qdrouterd_conf,
    vhost_patterns,
)
from hybridmsg.backends.rabbitmq import (
    RabbitDefinitions,
    RabbitNodeConfig,
    RabbitTLS,
    RabbitUser,
)
from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.drivers.nats.addressing import NatsAddressing
from hybridmsg.errors import PlanError
from hybridmsg.plan import TLS, Backend, BackendKind, Node, Plan
from hybridmsg.readers import rabbit_reader_permissions


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
    """The server that runs ``backend`` of ``plan`` from ``directory``."""
    if len(backend.nodes) != 1:
        raise PlanError(
            f"the local stack runs one {backend.kind} node, the plan has {len(backend.nodes)}"
        )
    if backend.kind is BackendKind.RABBITMQ:
        return LocalRabbit(plan, backend, directory)
    if backend.kind is BackendKind.QDROUTERD:
        return LocalQdrouterd(plan, backend, directory)
    return LocalNats(plan, backend, directory)


class LocalRabbit:
    """A private RabbitMQ node with one user and vhost per service, and one user per
    notification reader allowed to read notifications only, on every service's vhost."""

    start_timeout = 90.0

    def __init__(self, plan: Plan, backend: Backend, directory: Path) -> None:
        node = backend.nodes[0]
        self.backend = backend
        self.title = f"RabbitMQ node {node.name}"
        self.address = node.address
        self.node = RabbitNode(_rabbit_config(node, plan.tls), directory, rabbit_definitions(plan))

    @property
    def pid(self) -> int | None:
        return self.node.pid

    @property
    def is_running(self) -> bool:
        return self.node.is_running

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
        else:
            self.node.apply_definitions(self.node.definitions)


def rabbit_definitions(plan: Plan) -> RabbitDefinitions:
    """The plan's users, vhosts and permissions on RabbitMQ: services, then readers."""
    services = RabbitDefinitions.for_accounts((s.user, s.password, s.vhost) for s in plan.services)
    permissions, topic_permissions = [], []
    for reader in plan.readers:
        allowed, topics = rabbit_reader_permissions(plan, reader)
        permissions += allowed
        topic_permissions += topics
    readers = tuple(RabbitUser.with_password(r.user, r.password) for r in plan.readers)
    return RabbitDefinitions(
        users=services.users + readers,
        vhosts=services.vhosts,
        permissions=services.permissions + tuple(permissions),
        topic_permissions=tuple(topic_permissions),
    )


def _rabbit_config(node: Node, tls: TLS | None) -> RabbitNodeConfig:
    name, _, host = node.name.partition("@")
    if host != "localhost" or node.cluster_port is None:
        raise PlanError(
            f"the local RabbitMQ node needs a name NAME@localhost and a cluster port, "
            f"not {node.name!r} / {node.cluster_port}; fix or remove the plan"
        )
    return RabbitNodeConfig(
        name=name,
        port=node.port,
        dist_port=node.cluster_port,
        host=node.host,
        tls=None
        if tls is None
        else RabbitTLS(tls.cert_file, tls.key_file, tls.ca_file, tls.mutual, tls.mutual),
        max_message_size=MAX_MESSAGE_SIZE,
    )


class LocalNats:
    """A nats-server where each service's user may use only its own vhost's subjects.

    Its config holds bcrypt hashes, not passwords; a hash already in the config is kept
    while the password is the same, so that rendering again changes nothing.
    """

    start_timeout = 15.0

    def __init__(self, plan: Plan, backend: Backend, directory: Path) -> None:
        node = backend.nodes[0]
        self.backend = backend
        self.title = "nats-server"
        self.address = node.address
        try:
            hashes = password_hashes((directory / NatsServer.conf_name).read_text())
        except OSError:
            hashes = {}
        users = tuple(
            NatsUser(
                s.user,
                hash_password(s.password, hashes.get(s.user)),
                publish=(space,),
                subscribe=(space,),
            )
            for s in plan.services
            for space in (NatsAddressing(vhost=s.vhost).namespace(),)
        )
        tls = None
        if plan.tls is not None:
            tls = NatsTLS(plan.tls.cert_file, plan.tls.key_file, plan.tls.ca_file, plan.tls.mutual)
        config = NatsServerConfig(
            port=node.port, host=node.host, users=users, tls=tls, max_payload=MAX_MESSAGE_SIZE
        )
        self._server = NatsServer(config, directory)

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
        """Restart on the new config when the users changed; else leave it running."""
        conf = self._server.conf_file
        if not conf.exists() or conf.read_text() != render_nats_conf(self._server.config):
            self._server.restart(self.start_timeout)


class LocalQdrouterd:
    """A Qpid Dispatch Router with a TLS-only listener where each service authenticates by
    its client certificate (SASL EXTERNAL) and a vhost policy keeps it to its own
    addresses. Needs mutual TLS (the plan checks)."""

    start_timeout = 20.0

    def __init__(self, plan: Plan, backend: Backend, directory: Path) -> None:
        node = backend.nodes[0]
        tls = plan.tls
        assert tls is not None and tls.mutual  # Plan validation guarantees it
        self.backend = backend
        self.title = "qdrouterd"
        self.address = node.address
        listener = QdrListener(
            node.port, host=LOOPBACK, authenticate_peer=True, sasl_mechanisms="EXTERNAL",
            ssl_profile="tls", require_ssl=True,
        )
        self._router = Qdrouterd(
            QdrouterdConfig(
                "hybridmsg",
                (listener,),
                ssl_profiles=(
                    QdrSslProfile("tls", tls.ca_file, tls.cert_file, tls.key_file, uid_format="n"),
                ),
                vhosts=tuple(
                    QdrVhost(s.vhost, (s.name,), vhost_patterns(s.vhost)) for s in plan.services
                ),
            ),
            directory,
        )

    @property
    def pid(self) -> int | None:
        return self._router.pid

    @property
    def is_running(self) -> bool:
        return self._router.is_running

    def start(self) -> None:
        self._router.start(self.start_timeout)

    def stop(self) -> None:
        self._router.stop()

    def refresh(self) -> None:
        """Restart on the new config when it changed (services, certificates)."""
        conf = self._router.conf_file
        if not conf.exists() or conf.read_text() != render_qdrouterd_conf(self._router.config):
            self._router.restart(self.start_timeout)
