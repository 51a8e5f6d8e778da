"""OpenStack-Ansible's oslo.messaging variables, read by hybridmsg. Pure: no I/O.

OpenStack-Ansible describes each service's messaging with ``<service>_oslomsg_rpc_*`` and
``<service>_oslomsg_notify_*`` variables (``transport``, ``servers``, ``port``, ``use_ssl``,
``userid``, ``password``, ``vhost``, ``ssl_ca_file``), which default to the generic
``oslomsg_rpc_*`` / ``oslomsg_notify_*`` (and a notify account to the RPC one).
:func:`side` reads one traffic class of one service, :func:`service_settings` gives the
service's :class:`~hybridmsg.services.ServiceConfig` (rendered by
:func:`hybridmsg.services.render`, as ``hybridmsg config`` does) and :func:`inventory_plan`
builds the :class:`~hybridmsg.plan.Plan` of an inventory's servers (accounts from those
variables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybridmsg.errors import PlanError
from hybridmsg.plan import (
    DEFAULT_SPOOL_DIR,
    TLS,
    Backend,
    BackendKind,
    Mode,
    Node,
    Plan,
    Service,
    check_spool_dir,
    notification_url,
    spool_directory,
    spools,
)
from hybridmsg.services import (
    NO_NOTIFY_DRIVER,
    NOTIFY_DRIVER,
    ServiceConfig,
    durable_options,
    options_group,
)

#: OpenStack-Ansible's transport names (the URL schemes) and the servers they reach
TRANSPORTS = {kind.scheme: kind for kind in BackendKind}
SIDES = ("rpc", "notify")
#: what a side needs; the others have defaults
REQUIRED = ("transport", "servers", "port", "password")
#: a notify side's account defaults to its RPC side's
ACCOUNT = ("userid", "password", "vhost")


class OslomsgError(PlanError):
    """oslomsg variables that cannot work: one missing, an unknown transport..."""


@dataclass(frozen=True)
class Side:
    """One traffic class (``rpc`` or ``notify``) of one service, as its variables say."""

    service: str
    name: str
    kind: BackendKind
    servers: tuple[str, ...]
    port: int
    userid: str
    password: str = field(repr=False)
    vhost: str
    use_ssl: bool = False
    ssl_ca_file: str | None = None
    #: the client certificate and key (qdrouterd authenticates services by certificate)
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None

    @property
    def backend(self) -> Backend:
        return Backend(self.kind, tuple(Node(host, self.port) for host in self.servers))

    def url(self) -> str:
        return self.backend.url(self.userid, self.password, self.vhost)

    def tls_options(self) -> tuple[tuple[str, str, str], ...]:
        if not self.use_ssl:
            return ()
        group = options_group(self.backend)
        values = [("ssl", "true"), ("ssl_ca_file", self.ssl_ca_file),
                  ("ssl_cert_file", self.ssl_cert_file), ("ssl_key_file", self.ssl_key_file)]
        return tuple((group, option, value) for option, value in values if value)


def _lookup(variables: Mapping[str, Any], service: str, side: str, key: str) -> Any:
    names = [f"{service}_oslomsg_{side}_{key}", f"oslomsg_{side}_{key}"]
    if side == "notify" and key in ACCOUNT:  # as OpenStack-Ansible's roles default them
        names.append(f"{service}_oslomsg_rpc_{key}")
    for name in names:
        value = variables.get(name)
        if value not in (None, ""):
            return value
    return None


def side(variables: Mapping[str, Any], service: str, name: str) -> Side:
    """The ``name`` side (rpc or notify) of ``service`` from ``variables``."""
    values = {key: _lookup(variables, service, name, key) for key in REQUIRED}
    for key, value in values.items():
        if value is None:
            raise OslomsgError(
                f"{service}: set {service}_oslomsg_{name}_{key} (or oslomsg_{name}_{key})"
            )
    transport = str(values["transport"])
    if transport not in TRANSPORTS:
        raise OslomsgError(
            f"{service}_oslomsg_{name}_transport {transport!r} is not one of "
            f"{', '.join(TRANSPORTS)}; fix it"
        )
    servers = values["servers"]
    if isinstance(servers, str):
        servers = servers.split(",")
    try:
        port = int(values["port"])
    except (TypeError, ValueError):
        raise OslomsgError(
            f"{service}_oslomsg_{name}_port {values['port']!r} is not a port number; fix it"
        ) from None
    vhost = str(_lookup(variables, service, name, "vhost") or service).lstrip("/")
    return Side(
        service=service,
        name=name,
        kind=TRANSPORTS[transport],
        servers=tuple(str(s).strip() for s in servers if str(s).strip()),
        port=port,
        userid=str(_lookup(variables, service, name, "userid") or service),
        password=str(values["password"]),
        vhost=vhost or service,
        use_ssl=_true(_lookup(variables, service, name, "use_ssl")),
        **{key: _lookup(variables, service, name, key)
           for key in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file")},
    )


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "yes", "1")


def service_settings(variables: Mapping[str, Any], service: str, mode: str) -> ServiceConfig:
    """What ``service`` puts in its config file in ``mode``; notifications are dropped
    in router mode (the noop driver). ``<service>_oslomsg_notify_spool`` (or
    ``oslomsg_notify_spool``; default: in hybrid mode) spools them on local disk, in
    ``..._notify_spool_dir`` (default ``/var/lib/{service}/notification-spool``)."""
    chosen = _mode(mode)
    rpc = side(variables, service, "rpc")
    notify = side(variables, service, "notify") if chosen.needs_rabbitmq else None
    options = rpc.tls_options()
    if notify is not None:
        options += tuple(o for o in notify.tls_options() if o not in options)
        options += durable_options(notify.backend)
    choice = _lookup(variables, service, "notify", "spool")
    spooled = spools(chosen, None if choice is None else _true(choice))
    template = str(_lookup(variables, service, "notify", "spool_dir") or DEFAULT_SPOOL_DIR)
    try:
        check_spool_dir(template)
    except PlanError as exc:
        raise OslomsgError(f"{service}_oslomsg_notify_spool_dir: {exc}") from None
    return ServiceConfig(
        service=service,
        rpc_url=rpc.url(),
        notification_driver=NOTIFY_DRIVER if notify else NO_NOTIFY_DRIVER,
        notification_url=notification_url(chosen, notify.url(), spools=spooled)
        if notify
        else None,
        options=options,
        spool_directory=spool_directory(template, service) if spooled else None,
    )


def _mode(mode: str) -> Mode:
    try:
        return Mode(mode)
    except ValueError:
        raise OslomsgError(
            f"hybridmsg_mode {mode!r} is not one of {', '.join(Mode)}; fix it"
        ) from None


def inventory_plan(
    mode: str,
    services: Sequence[str],
    variables: Mapping[str, Any],
    rabbitmq: Backend | None,
    router: Backend | None,
    tls: TLS | None = None,
) -> Plan:
    """The plan of an inventory's servers: each service's account is its RPC side's
    (``<service>_oslomsg_rpc_userid``, ``_password``, ``_vhost``); a backend whose group has
    no hosts is None, one the mode does not use is left out."""
    chosen = _mode(mode)
    for needed, group, what in ((chosen.needs_rabbitmq, rabbitmq, "RabbitMQ"),
                                (chosen.needs_router, router, "router (NATS or qdrouterd)")):
        if needed and group is None:
            raise OslomsgError(
                f"{chosen} mode needs hosts in the {what} group of the inventory; add them"
            )
    accounts = []
    for name in services:
        rpc = side(variables, name, "rpc")
        accounts.append(Service(name, rpc.userid, rpc.vhost, rpc.password))
    return Plan(
        mode=chosen,
        services=tuple(accounts),
        rabbitmq=rabbitmq if chosen.needs_rabbitmq else None,
        router=router if chosen.needs_router else None,
        tls=tls,
    )
