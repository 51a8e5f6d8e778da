"""The deployment model: one validated, frozen description of a deployment.

A :class:`Plan` says which mode runs (which backend carries RPC, which carries
notifications), what each backend is (a list of nodes), which services use it (one user
and one vhost per service) and which notification readers (e.g. telemetry: one user that
may only read the notifications of every service) there are. Backend configurations and
every service's and reader's oslo.messaging snippet are derived from it; nothing is
configured twice. Pure: no I/O here.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote

from hybridmsg.errors import PlanError, UnknownService

DEFAULT_SERVICES = ("nova", "neutron", "cinder", "glance", "heat", "keystone")
#: What a reader reads unless told otherwise: oslo's default notification topic.
DEFAULT_READER_TOPICS = ("notifications",)
#: Where a service spools its notifications unless the plan says otherwise: a directory of
#: the service's own state, which its user can write ({service}: the service's name).
DEFAULT_SPOOL_DIR = "/var/lib/{service}/notification-spool"
MASK = "***"

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
#: what _NAME enforces, in words
NAME_RULE = (
    "1 to 63 characters: a lowercase letter, then lowercase letters, digits, '-' or '_'"
)
_VHOST = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}")
_CREDENTIALS = re.compile(r"(?<=[/,])([^:/@,]*):[^@/,]*@")
_E = TypeVar("_E", bound=StrEnum)


class Mode(StrEnum):
    """Which backend carries which traffic class."""

    RABBIT = "rabbit"
    ROUTER = "router"
    HYBRID = "hybrid"

    @property
    def needs_rabbitmq(self) -> bool:
        return self is not Mode.ROUTER

    @property
    def needs_router(self) -> bool:
        return self is not Mode.RABBIT


class BackendKind(StrEnum):
    """A server program that a backend runs; its value names it in plans."""

    RABBITMQ = "rabbitmq"
    NATS = "nats"
    QDROUTERD = "qdrouterd"

    @property
    def scheme(self) -> str:
        """The oslo.messaging transport URL scheme that reaches this backend."""
        return _SCHEMES[self]

    @property
    def is_router(self) -> bool:
        return self is not BackendKind.RABBITMQ

    @property
    def needs_client_certificates(self) -> bool:
        """Services prove who they are by certificate (SASL EXTERNAL), not by password."""
        return self is BackendKind.QDROUTERD


_SCHEMES = {BackendKind.RABBITMQ: "rabbit", BackendKind.NATS: "nats",
            BackendKind.QDROUTERD: "amqp"}
#: oslo's rabbit driver with notification listeners that hand each notification over once
#: (``hybridmsg/drivers/rabbit_once.py``): how hybrid mode reaches RabbitMQ
RABBIT_ONCE_SCHEME = "rabbit-once"
ROUTER_KINDS = tuple(kind for kind in BackendKind if kind.is_router)


@dataclass(frozen=True)
class Node:
    """One server of a backend: where clients reach it, and where its peers do.

    ``name`` is the RabbitMQ node name (``hybridmsg@localhost``, or ``hybridmsg@10.0.0.2``
    for a node of a cluster: Erlang long names); routers leave it empty.
    ``cluster_port`` is where the nodes of one backend talk to each other (RabbitMQ's
    Erlang distribution, NATS cluster routes, qdrouterd's inter-router listener), when the
    backend needs one; ``monitor_port`` is nats-server's HTTP monitoring (``/routez``).
    """

    host: str
    port: int
    name: str = ""
    cluster_port: int | None = None
    monitor_port: int | None = None

    def __post_init__(self) -> None:
        if not self.host or any(c in self.host for c in "/@, "):
            raise PlanError(f"node host {self.host!r} is not a host name or address; fix it")
        for port in (self.port, self.cluster_port, self.monitor_port):
            if port is not None and not 0 < port < 65536:
                raise PlanError(f"node {self.host} port {port} is not in 1-65535; fix it")

    @property
    def address(self) -> str:
        """``host:port`` with IPv6 addresses in brackets, as URLs want them."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Backend:
    """A messaging backend: one kind of server on one or more nodes.

    Several nodes make a cluster (NATS routes, a RabbitMQ cluster, a qdrouterd mesh), whose
    servers need every node's ``cluster_port`` (see :mod:`hybridmsg.nodeconfigs`). A
    RabbitMQ cluster also needs its shared ``cookie`` (the Erlang cookie) and finds its
    nodes' distribution ports through epmd on ``epmd_port`` of each host (None: epmd's
    own 4369).
    """

    kind: BackendKind
    nodes: tuple[Node, ...]
    cookie: str = field(default="", repr=False)
    epmd_port: int | None = None

    def __post_init__(self) -> None:
        if not self.nodes:
            raise PlanError(f"{self.kind} backend has no nodes; give it at least one")
        addresses = [node.address for node in self.nodes]
        _require_unique(addresses, f"{self.kind} node address")
        _require_unique([n.name for n in self.nodes if n.name], f"{self.kind} node name")

    @property
    def clustered(self) -> bool:
        """Whether the backend is a cluster of several nodes."""
        return len(self.nodes) > 1

    def url(self, user: str, password: str, vhost: str, *, masked: bool = False) -> str:
        """The transport URL of ``user`` on this backend, one host entry per node (without
        credentials where the client certificate names the user); ``masked`` hides the
        password."""
        cred = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        if self.kind.needs_client_certificates:
            cred = ""
        hosts = ",".join(f"{cred}{node.address}" for node in self.nodes)
        url = f"{self.kind.scheme}://{hosts}/{quote(vhost, safe='')}"
        return mask_url(url) if masked else url


@dataclass(frozen=True)
class Service:
    """An OpenStack service and its account: the same user and vhost on every backend."""

    name: str
    user: str
    vhost: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise PlanError(f"service name {_shown(self.name)} must be {NAME_RULE}")
        for what, value in (("user", self.user), ("vhost", self.vhost)):
            if not _VHOST.fullmatch(value):
                raise PlanError(
                    f"service {self.name}: {what} {value!r} must be 1-64 letters, digits, "
                    "'-' or '_'"
                )
        if not self.password:
            raise PlanError(f"service {self.name} has an empty password; set one")

    def url(self, backend: Backend, *, masked: bool = False) -> str:
        """This service's transport URL on ``backend``; ``masked`` hides the password."""
        return backend.url(self.user, self.password, self.vhost, masked=masked)


@dataclass(frozen=True)
class Reader:
    """A notification reader (e.g. telemetry): its own user, allowed to read the
    notification ``topics`` of every service's vhost and nothing else: no RPC, no
    publishing. Two readers never share a topic (oslo's listener consumes one queue per
    topic and priority: they would split the notifications between them)."""

    name: str
    user: str
    password: str = field(repr=False)
    topics: tuple[str, ...] = DEFAULT_READER_TOPICS

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise PlanError(f"reader name {_shown(self.name)} must be {NAME_RULE}")
        if not _VHOST.fullmatch(self.user):
            raise PlanError(
                f"reader {self.name}: user {self.user!r} must be 1-64 letters, digits, '-' or '_'"
            )
        if not self.password:
            raise PlanError(f"reader {self.name} has an empty password; set one")
        if not isinstance(self.topics, tuple) or not self.topics:
            raise PlanError(f"reader {self.name} reads no topic; name at least one")
        for topic in self.topics:
            if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
                raise PlanError(
                    f"reader {self.name}: topic {topic!r} must be words of letters, digits, "
                    "'-' or '_' joined by '.'"
                )
        _require_unique(list(self.topics), f"reader {self.name} topic")

    def url(self, backend: Backend, vhost: str, *, masked: bool = False) -> str:
        """This reader's transport URL on ``backend`` for the vhost ``vhost``."""
        return backend.url(self.user, self.password, vhost, masked=masked)


@dataclass(frozen=True)
class TLS:
    """TLS on every listener of the plan's servers, as absolute file paths.

    ``ca_file`` signs the servers' certificate (clients trust it); ``cert_file`` and
    ``key_file`` are the servers' certificate and key. With ``client_dir`` set, TLS is
    mutual: servers require a client certificate and each service presents
    ``client_dir/NAME.pem`` with its key ``client_dir/NAME-key.pem``.
    """

    ca_file: str
    cert_file: str
    key_file: str
    client_dir: str | None = None

    def __post_init__(self) -> None:
        for path in (self.ca_file, self.cert_file, self.key_file, self.client_dir):
            if path is not None and not path.startswith("/"):
                raise PlanError(f"TLS file {path!r} is not an absolute path; give a full path")

    @property
    def mutual(self) -> bool:
        return self.client_dir is not None

    def client_files(self, name: str) -> tuple[str, str] | None:
        """(certificate, key) that ``name`` presents, or None without mutual TLS."""
        if self.client_dir is None:
            return None
        return f"{self.client_dir}/{name}.pem", f"{self.client_dir}/{name}-key.pem"


@dataclass(frozen=True)
class Plan:
    """A whole deployment: mode, backends, services and notification readers, validated
    on construction.

    ``tls`` None means plain connections. ``spool_notifications`` None is the mode's
    choice (hybrid mode spools, rabbit mode does not); ``spool_dir`` is where each service
    spools, ``{service}`` standing for its name.
    """

    mode: Mode
    services: tuple[Service, ...]
    rabbitmq: Backend | None = None
    router: Backend | None = None
    tls: TLS | None = None
    readers: tuple[Reader, ...] = ()
    spool_notifications: bool | None = None
    spool_dir: str = DEFAULT_SPOOL_DIR

    def __post_init__(self) -> None:
        if not isinstance(self.mode, Mode):
            raise PlanError(f"mode {self.mode!r} is not one of {_choices(Mode)}")
        _check_slot("rabbitmq", self.rabbitmq, self.mode.needs_rabbitmq, self.mode)
        _check_slot("router", self.router, self.mode.needs_router, self.mode)
        if self.rabbitmq and self.rabbitmq.kind is not BackendKind.RABBITMQ:
            raise PlanError(f"the rabbitmq backend is of kind {self.rabbitmq.kind}; use rabbitmq")
        if self.router and not self.router.kind.is_router:
            raise PlanError(
                f"the router backend is of kind {self.router.kind}; use one of "
                f"{', '.join(ROUTER_KINDS)}"
            )
        if not self.services:
            raise PlanError("the plan has no services; name at least one")
        _require_unique([s.name for s in self.services], "service name")
        _require_unique([s.user for s in self.services], "service user")
        accounts = (*self.services, *self.readers)
        _require_unique([a.name for a in accounts], "service or reader name")
        _require_unique([a.user for a in accounts], "service or reader user")
        readers_of: dict[str, str] = {}
        for reader in self.readers:
            for topic in reader.topics:
                if topic in readers_of:
                    raise PlanError(
                        f"readers {readers_of[topic]} and {reader.name} both read topic "
                        f"{topic!r}; they would split its notifications: give each its own"
                    )
                readers_of[topic] = reader.name
        check_spool_dir(self.spool_dir)
        if self.router and self.router.kind.needs_client_certificates and not (
            self.tls and self.tls.mutual
        ):
            raise PlanError(
                f"{self.router.kind} authenticates services by client certificate: it needs "
                "mutual TLS (drop --no-tls)"
            )

    @property
    def rpc_backend(self) -> Backend:
        """The backend that carries RPC (call, cast, fanout)."""
        backend = self.router if self.mode.needs_router else self.rabbitmq
        assert backend is not None  # guaranteed by validation
        return backend

    @property
    def notification_backend(self) -> Backend | None:
        """The broker that keeps notifications, or None when the mode drops them."""
        return self.rabbitmq

    @property
    def spools(self) -> bool:
        """Whether services keep notifications in a spool on local disk until RabbitMQ
        confirmed them (see :func:`spools`)."""
        return spools(self.mode, self.spool_notifications)

    def spool_directory(self, service: str) -> str | None:
        """Where ``service`` spools notifications, or None when it does not."""
        return spool_directory(self.spool_dir, service) if self.spools else None

    def notification_url(self, url: str) -> str:
        """``url``, to the notification backend, in the scheme this plan's services use for
        notifications: ``rabbit-once://`` in hybrid mode, so that none reaches a listener
        twice after a broker crash, and wherever services spool (the spool is part of that
        driver); else oslo's own ``rabbit://``, unchanged."""
        return notification_url(self.mode, url, spools=self.spools)

    @property
    def backends(self) -> tuple[Backend, ...]:
        return tuple(b for b in (self.rabbitmq, self.router) if b is not None)

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    @property
    def reader_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.readers)

    def reader(self, name: str) -> Reader:
        """The reader called ``name``; UnknownService lists the known ones."""
        for reader in self.readers:
            if reader.name == name:
                return reader
        known = ", ".join(self.reader_names) or "none"
        raise UnknownService(f"unknown reader {name!r}; known readers: {known}")

    def service(self, name: str) -> Service:
        """The service called ``name``; UnknownService lists the known ones."""
        for service in self.services:
            if service.name == name:
                return service
        raise UnknownService(
            f"unknown service {name!r}; known services: {', '.join(self.service_names)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with passwords) that :func:`plan_from_dict` reads back."""
        return asdict(self)


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """Build a validated Plan from :meth:`Plan.to_dict` output (e.g. a stored plan.json)."""
    try:
        return Plan(
            mode=_enum(Mode, data["mode"], "mode"),
            services=tuple(Service(**s) for s in data["services"]),
            rabbitmq=backend_from_dict(data.get("rabbitmq")),
            router=backend_from_dict(data.get("router")),
            tls=TLS(**data["tls"]) if data.get("tls") else None,
            readers=tuple(
                Reader(**(r | {"topics": tuple(r.get("topics") or ())}))
                for r in data.get("readers") or ()
            ),
            spool_notifications=data.get("spool_notifications"),
            spool_dir=data.get("spool_dir", DEFAULT_SPOOL_DIR),
        )
    except (KeyError, TypeError) as exc:
        raise PlanError(f"the plan is malformed ({exc!r}); fix or remove it") from exc


def spools(mode: Mode, choice: bool | None) -> bool:
    """Whether services spool notifications in ``mode`` as ``choice`` says (None: the mode's
    default): in hybrid mode unless turned off, in rabbit mode if turned on, never in
    router mode (no notifications)."""
    if not mode.needs_rabbitmq:
        return False
    return mode is Mode.HYBRID if choice is None else choice


def check_spool_dir(template: str) -> None:
    """PlanError unless ``template`` is an absolute path with ``{service}`` in it."""
    if not (template.startswith("/") and "{service}" in template):
        raise PlanError(
            f"spool directory {template!r} must be an absolute path with {{service}} in it "
            "(each service spools in a directory of its own); fix it"
        )


def spool_directory(template: str, service: str) -> str:
    """``service``'s spool directory from ``template`` (``{service}`` stands for its name)."""
    check_spool_dir(template)
    return template.replace("{service}", service)


def notification_url(mode: Mode, url: str, *, spools: bool = False) -> str:
    """``url`` in the scheme services use for notifications in ``mode``, ``spools`` or not
    (see :meth:`Plan.notification_url`)."""
    once = mode is Mode.HYBRID or spools
    if once and url.startswith(f"{BackendKind.RABBITMQ.scheme}://"):
        return RABBIT_ONCE_SCHEME + url[len(BackendKind.RABBITMQ.scheme) :]
    return url


def mask_url(url: str) -> str:
    """``url`` with every password replaced by ``***``, safe to print."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}:{MASK}@", url)


def backend_from_dict(data: dict[str, Any] | None) -> Backend | None:
    """The Backend of ``asdict(backend)`` output (None for None)."""
    if data is None:
        return None
    kind = _enum(BackendKind, data["kind"], "backend kind")
    return Backend(
        kind=kind,
        nodes=tuple(Node(**n) for n in data["nodes"]),
        cookie=data.get("cookie", ""),
        epmd_port=data.get("epmd_port"),
    )


def _enum(enum: type[_E], value: str, what: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise PlanError(f"{what} {value!r} is not one of {_choices(enum)}") from None


def _choices(enum: type[StrEnum]) -> str:
    return ", ".join(member.value for member in enum)


def _check_slot(slot: str, backend: Backend | None, needed: bool, mode: Mode) -> None:
    if needed and backend is None:
        raise PlanError(f"{mode} mode needs a {slot} backend; add one")
    if not needed and backend is not None:
        raise PlanError(f"{mode} mode uses no {slot} backend; remove it")


def _shown(name: str) -> str:
    """``name`` quoted, shortened when long (a 300-letter name fills no screen)."""
    return repr(name) if len(name) <= 70 else f"{name[:60]!r}... ({len(name)} characters)"


def _require_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise PlanError(f"{what} {value!r} appears twice; make it unique")
        seen.add(value)
