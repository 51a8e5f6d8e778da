"""Per-service oslo.messaging configuration, derived from the plan.

:func:`service_config` gives the values, :func:`render` the ini snippet a deployer pastes
into the service's config file (what ``config`` prints) and :func:`parse` reads one back
(what ``check`` uses, so that it proves the very text the services read).
"""

from __future__ import annotations

import configparser
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from hybridmsg.errors import UsageError
from hybridmsg.plan import RABBIT_ONCE_SCHEME, TLS, Backend, Plan

NOTIFY_DRIVER = "messagingv2"
NO_NOTIFY_DRIVER = "noop"
NOTIFY_SECTION = "oslo_messaging_notifications"
#: the ``dual://`` driver's scheme and group (``hybridmsg.drivers.dual``, not imported here:
#: the Ansible controller reads snippets without the drivers), and its URLs: where RPC is
#: sent, where servers also listen
DUAL_SCHEME = "dual"
DUAL_SECTION = "hybridmsg_dual"
DUAL_URLS = ("send_url", "also_listen_url")
#: the ``rabbit-once://`` driver's group, and its option naming the notification spool
SPOOL_SECTION = "hybridmsg_rabbit_once"
SPOOL_OPTION = "spool_directory"
SPOOL_COMMENT = (
    "# notify() stores each notification here; a sender thread sends it to RabbitMQ (hybridmsg)"
)
TLS_OPTIONS = ("ssl", "ssl_ca_file", "ssl_cert_file", "ssl_key_file")
#: Notifications on RabbitMQ survive a broker crash, none lost: the notifier retries until
#: the broker confirms (oslo.messaging 18.3.1 always publishes with confirms) ...
NOTIFY_RETRY = (
    "# retry until RabbitMQ confirms (never drop a notification)",
    "retry = -1",
)
#: ... and queues are quorum queues (durable, so their exchanges are durable too: RabbitMQ
#: refuses a non-durable quorum queue), messages on disk before the confirm; reconnect
#: every second rather than after 1, 3, 5, 7... s. In rabbit mode the RPC topic queues
#: become quorum queues as well; reply and fanout queues stay transient.
DURABLE_OPTIONS = (
    ("amqp_durable_queues", "true"),
    ("rabbit_quorum_queue", "true"),
    ("rabbit_retry_backoff", "0"),
)
#: what a reader of the snippet needs to know about the rabbit-once:// scheme
ONCE_COMMENT = (
    f"# {RABBIT_ONCE_SCHEME}:// is oslo's rabbit driver, each notification handed to a "
    "listener once (hybridmsg)"
)
KNOWN_OPTIONS = TLS_OPTIONS + tuple(option for option, _ in DURABLE_OPTIONS)


@dataclass(frozen=True)
class ServiceConfig:
    """What one service needs in its config file to use the deployment."""

    service: str
    rpc_url: str
    notification_driver: str
    notification_url: str | None
    #: driver options as (option group, name, value), e.g. TLS on oslo_messaging_rabbit
    options: tuple[tuple[str, str, str], ...] = ()
    #: where notifications wait on local disk for RabbitMQ (None: notify() sends them)
    spool_directory: str | None = None

    @property
    def notifies(self) -> bool:
        """True when notifications reach a broker (not dropped by the noop driver)."""
        return self.notification_url is not None

    def self_contained(self, url: str) -> str:
        """``url`` with this service's options for its driver in the query (the URL form,
        which every driver honours as it would the option group), e.g. ``...?ssl=true``."""
        return self_contained(url, self.options)


def self_contained(url: str, options: tuple[tuple[str, str, str], ...]) -> str:
    """``url`` with the ``options`` (group, option, value) of its driver in the query."""
    scheme = url.partition("://")[0]
    group = f"oslo_messaging_{'rabbit' if scheme == RABBIT_ONCE_SCHEME else scheme}"
    query = urlencode([(option, value) for g, option, value in options if g == group])
    return f"{url}?{query}" if query else url


def on_node(config: ServiceConfig, number: int) -> ServiceConfig:
    """``config`` with each transport URL narrowed to the ``number``-th node (from 0) of its
    backend, named ``SERVICE @HOST:PORT`` (of its RPC node): ``check`` proves every node of
    a cluster with it."""
    rpc_url = _one_host(config.rpc_url, number)
    address = rpc_url.partition("://")[2].partition("/")[0].rpartition("@")[2]
    return replace(
        config,
        service=f"{config.service} @{address}",
        rpc_url=rpc_url,
        notification_url=_one_host(config.notification_url, number)
        if config.notification_url
        else None,
    )


def _one_host(url: str, number: int) -> str:
    scheme, _, rest = url.partition("://")
    hosts, slash, path = rest.partition("/")
    entries = hosts.split(",")
    return f"{scheme}://{entries[number % len(entries)]}{slash}{path}"


def service_config(plan: Plan, name: str, *, masked: bool = False) -> ServiceConfig:
    """The config of service ``name``; ``masked`` replaces passwords by ``***``."""
    service = plan.service(name)
    notifications = plan.notification_backend
    used = (plan.rpc_backend, notifications) if notifications else (plan.rpc_backend,)
    return ServiceConfig(
        service=name,
        rpc_url=service.url(plan.rpc_backend, masked=masked),
        notification_driver=NOTIFY_DRIVER if notifications else NO_NOTIFY_DRIVER,
        notification_url=(
            plan.notification_url(service.url(notifications, masked=masked))
            if notifications
            else None
        ),
        options=tls_options(plan.tls, name, used) + durable_options(notifications),
        spool_directory=plan.spool_directory(name),
    )


def options_group(backend: Backend) -> str:
    """The oslo.config group of the driver that reaches ``backend``."""
    return f"oslo_messaging_{backend.kind.scheme}"


def tls_options(
    tls: TLS | None, name: str, backends: Iterable[Backend]
) -> tuple[tuple[str, str, str], ...]:
    """What the drivers of ``backends`` need for ``tls`` (as ``name``): (group, option, value)."""
    if tls is None:
        return ()
    values = [("ssl", "true"), ("ssl_ca_file", tls.ca_file)]
    client = tls.client_files(name)
    if client is not None:
        values += [("ssl_cert_file", client[0]), ("ssl_key_file", client[1])]
    groups = sorted({options_group(backend) for backend in backends})
    return tuple((group, option, value) for group in groups for option, value in values)


def durable_options(notifications: Backend | None) -> tuple[tuple[str, str, str], ...]:
    """What oslo's rabbit driver needs so that no notification is lost (see above)."""
    if notifications is None or notifications.kind.scheme != "rabbit":
        return ()
    return tuple((options_group(notifications), o, v) for o, v in DURABLE_OPTIONS)


def _with_options(lines: list[str], options: tuple[tuple[str, str, str], ...]) -> list[str]:
    """``lines`` with each option added at the top of its group's section (made if missing)."""
    lines = list(lines)
    for group in dict.fromkeys(group for group, _, _ in options):
        values = [f"{option} = {value}" for g, option, value in options if g == group]
        header = f"[{group}]"
        if header in lines:
            at = lines.index(header) + 1
            lines[at:at] = values
        else:
            lines += ["", header, *values]
    return lines


def render(config: ServiceConfig) -> str:
    """The ini snippet of ``config``, ready to paste into the service's config file."""
    notify = [f"[{NOTIFY_SECTION}]", f"driver = {config.notification_driver}"]
    if config.notification_url:
        if config.notification_url.startswith(f"{RABBIT_ONCE_SCHEME}://"):
            notify.append(ONCE_COMMENT)
        notify += [f"transport_url = {config.notification_url}", *NOTIFY_RETRY]
    else:
        notify.insert(1, "# no notification broker in this mode: notifications are dropped")
    if config.spool_directory:
        notify += ["", f"[{SPOOL_SECTION}]", SPOOL_COMMENT]
        notify.append(f"{SPOOL_OPTION} = {config.spool_directory}")
    lines = [
        f"# oslo.messaging for {config.service}, generated by hybridmsg",
        "[DEFAULT]",
        f"transport_url = {config.rpc_url}",
        "",
        *notify,
    ]
    return "\n".join(_with_options(lines, config.options)) + "\n"


def read_ini(text: str) -> configparser.ConfigParser:
    """``text`` read as an ini file: no default section, no interpolation (as oslo.config)."""
    ini = configparser.ConfigParser(default_section="hybridmsg:none", interpolation=None)
    ini.read_string(text)
    return ini


def parse_sides(service: str, text: str) -> list[ServiceConfig]:
    """One config per RPC transport a snippet uses: one, or, for a ``dual://`` snippet (a
    migration in progress), its ``send_url`` then its ``also_listen_url``, each named
    ``SERVICE (SCHEME)``."""
    config, ini = _parse(service, text)
    if DUAL_SECTION not in ini:
        return [config]
    urls = [ini[DUAL_SECTION][key] for key in DUAL_URLS if ini[DUAL_SECTION].get(key)]
    return [
        replace(config, service=f"{service} ({url.partition(':')[0]})", rpc_url=url) for url in urls
    ]


def parse(service: str, text: str) -> ServiceConfig:
    """Read back a snippet written by :func:`render`."""
    return _parse(service, text)[0]


def _parse(service: str, text: str) -> tuple[ServiceConfig, configparser.ConfigParser]:
    try:
        ini = read_ini(text)
        notify = ini[NOTIFY_SECTION]
        config = ServiceConfig(
            service=service,
            rpc_url=ini["DEFAULT"]["transport_url"],
            notification_driver=notify["driver"],
            notification_url=notify.get("transport_url"),
            options=tuple(
                (group, option, ini[group][option])
                for group in sorted(ini.sections())
                if group.startswith("oslo_messaging_") and group != NOTIFY_SECTION
                for option in ini[group]
                if option in KNOWN_OPTIONS
            ),
            spool_directory=ini.get(SPOOL_SECTION, SPOOL_OPTION, fallback=None),
        )
    except (configparser.Error, KeyError) as exc:
        raise UsageError(
            f"the config of {service} is not a hybridmsg snippet ({exc!r}); run hybridmsg up"
        ) from exc
    return config, ini
