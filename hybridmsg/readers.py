"""Notification readers (e.g. telemetry): what they may do on RabbitMQ, and their snippet.

A reader reads the notifications of every service with an *unchanged* oslo.messaging
notification listener (``rabbit://``), one transport URL per service vhost. On each vhost
oslo 18.3.1's listener, for a ``Target(topic=T, exchange=E)`` and each priority P its
endpoints handle, declares the topic exchange ``E`` and the queue ``T.P``, binds the queue
to the exchange with the routing key ``T.P`` and consumes from it. RabbitMQ's permission
for each step:

==================  ==============================================================
exchange.declare    configure on ``E`` (oslo never declares passively)
queue.declare       configure on ``T.P``
queue.bind          write on ``T.P``, read on ``E``, and ``T.P`` matching the topic
                    permission's read pattern on ``E``
basic.consume       read on ``T.P``
basic.publish       write on the exchange published to
==================  ==============================================================

So :func:`rabbit_reader_permissions` gives, on every service vhost:

* configure and read: the exchanges ``E`` (``openstack``, oslo's default control exchange,
  and the name of every service of the plan, the control exchange OpenStack services set:
  ceilometer listens on each of them on every URL) and the queues ``T.P`` of the
  reader's topics;
* write: only the queues ``T.P`` (a bind needs it); no exchange is writable, so every
  publish of the reader is refused;
* topic permissions on each ``E``: bind only with the routing keys ``T.P`` (not with an
  RPC topic such as ``compute``), publish with none.

RabbitMQ's regular expressions cannot tell an exchange from a queue of the same name,
nor allow a declare without a delete: the reader may also delete the exchanges ``E`` (a
denial of service, not a read nor a write), and declare an exchange named ``T.P`` to feed
its own queue: it can only fool itself. Every
reader also gets the topic of ``hybridmsg check`` (:data:`CHECK_TOPIC`), which carries
nothing but the check's tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oslo_config import iniparser

from hybridmsg.backends.rabbitmq import RabbitPermission, RabbitTopicPermission
from hybridmsg.errors import UsageError
from hybridmsg.plan import Plan, Reader
from hybridmsg.services import durable_options, self_contained, tls_options

#: oslo.messaging's notification priorities (the ``P`` of the queues ``T.P``).
PRIORITIES = ("audit", "critical", "debug", "error", "info", "sample", "warn")
#: oslo.messaging's default ``control_exchange``.
DEFAULT_EXCHANGE = "openstack"
#: The notification topic ``hybridmsg check`` uses; every reader may read it too.
CHECK_TOPIC = "hybridmsg_check"
#: ceilometer's option group for the transport URLs and exchanges it listens on.
SECTION = "notification"
URLS_OPTION = "messaging_urls"
EXCHANGES_OPTION = "notification_control_exchanges"
_TOPICS = ("oslo_messaging_notifications", "topics")


def reader_exchanges(plan: Plan) -> tuple[str, ...]:
    """The notification exchanges a reader may declare and bind from, on every vhost."""
    return tuple(dict.fromkeys((DEFAULT_EXCHANGE, *plan.service_names)))


def _either(words: tuple[str, ...]) -> str:
    return "(" + "|".join(re.escape(word) for word in words) + ")"


def queue_pattern(topics: tuple[str, ...]) -> str:
    """The queues ``T.P`` of ``topics`` (and the check's), as an anchored regex."""
    return f"^{_either(tuple(dict.fromkeys((*topics, CHECK_TOPIC))))}\\.{_either(PRIORITIES)}$"


def rabbit_reader_permissions(
    plan: Plan, reader: Reader
) -> tuple[tuple[RabbitPermission, ...], tuple[RabbitTopicPermission, ...]]:
    """``reader``'s permissions and topic permissions on every service vhost (see above)."""
    queues = queue_pattern(reader.topics)
    exchanges = reader_exchanges(plan)
    either = f"^{_either(exchanges)}$|{queues}"
    vhosts = tuple(dict.fromkeys(s.vhost for s in plan.services))
    permissions = tuple(
        RabbitPermission(reader.user, vhost, configure=either, write=queues, read=either)
        for vhost in vhosts
    )
    topics = tuple(
        RabbitTopicPermission(reader.user, vhost, exchange, write="^$", read=queues)
        for vhost in vhosts
        for exchange in exchanges
    )
    return permissions, topics


@dataclass(frozen=True)
class ReaderConfig:
    """What a reader needs in its config file: one notification URL per service vhost."""

    reader: str
    topics: tuple[str, ...]
    exchanges: tuple[str, ...]
    #: (service, transport URL) for every service; empty when the mode has no notifications
    urls: tuple[tuple[str, str], ...]
    options: tuple[tuple[str, str, str], ...] = ()

    def self_contained(self, url: str) -> str:
        """``url`` with the driver options in its query (what ``check`` uses)."""
        return self_contained(url, self.options)


def reader_config(plan: Plan, name: str, *, masked: bool = False) -> ReaderConfig:
    """The config of reader ``name``; ``masked`` replaces its password by ``***``."""
    reader = plan.reader(name)
    notifications = plan.notification_backend
    urls: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str, str], ...] = ()
    if notifications is not None:
        urls = tuple(
            (s.name, plan.notification_url(reader.url(notifications, s.vhost, masked=masked)))
            for s in plan.services
        )
        options = tls_options(plan.tls, name, (notifications,)) + durable_options(notifications)
    return ReaderConfig(name, reader.topics, reader_exchanges(plan), urls, options)


def render_reader(config: ReaderConfig) -> str:
    """The reader's snippet, in the options ceilometer reads (``[notification]``)."""
    head = f"# oslo.messaging notification reader {config.reader}, generated by hybridmsg"
    if not config.urls:
        return (
            f"{head}\n# this mode keeps no notifications (RPC only, on the router): "
            "nothing to read\n"
        )
    services = ", ".join(service for service, _ in config.urls)
    lines = [
        head,
        f"# the notifications of {services}: one transport URL per service (its vhost);",
        "# on each, an oslo.messaging notification listener with",
        "# Target(topic=TOPIC, exchange=EXCHANGE) for the topics and exchanges below.",
        "# This user may only read these topics: no RPC, no publishing.",
        f"[{SECTION}]",
        *(f"{URLS_OPTION} = {url}" for _, url in config.urls),
        *(f"{EXCHANGES_OPTION} = {exchange}" for exchange in config.exchanges),
        "",
        f"[{_TOPICS[0]}]",
        f"{_TOPICS[1]} = {','.join(config.topics)}",
    ]
    groups = dict.fromkeys(group for group, _, _ in config.options)
    for group in groups:
        lines += ["", f"[{group}]"]
        lines += [f"{option} = {value}" for g, option, value in config.options if g == group]
    return "\n".join(lines) + "\n"


class _Ini(iniparser.BaseParser):
    """oslo.config's own ini reading (repeated keys are multi-valued), into a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, list[str]]] = {}
        self._section: str | None = None

    def new_section(self, section: str) -> None:
        self._section = section
        self.sections.setdefault(section, {})

    def assignment(self, key: str, value: list[str]) -> None:
        if self._section is None:
            raise iniparser.ParseError("option outside any section", self.lineno, key)
        self.sections[self._section].setdefault(key, []).append("\n".join(value))


def parse_reader(plan: Plan, name: str, text: str) -> ReaderConfig:
    """Read back a snippet written by :func:`render_reader` (URLs matched to services by
    their vhost)."""
    ini = _Ini()
    try:
        ini.parse(text.splitlines(keepends=True))
    except iniparser.ParseError as exc:
        raise UsageError(f"the config of reader {name} is not a hybridmsg snippet ({exc})") from exc
    section = ini.sections.get(SECTION, {})
    by_vhost = {s.vhost: s.name for s in plan.services}
    urls = []
    for url in section.get(URLS_OPTION, []):
        vhost = url.rsplit("/", 1)[-1].partition("?")[0]
        if vhost not in by_vhost:
            raise UsageError(
                f"the config of reader {name} names vhost {vhost!r} of no service; run hybridmsg up"
            )
        urls.append((by_vhost[vhost], url))
    topics = ini.sections.get(_TOPICS[0], {}).get(_TOPICS[1], [""])[-1]
    # a snippet with nothing to read (router mode) names no topic nor exchange: the plan's
    return ReaderConfig(
        reader=name,
        topics=tuple(topic.strip() for topic in topics.split(",") if topic.strip())
        or plan.reader(name).topics,
        exchanges=tuple(section.get(EXCHANGES_OPTION, [])) or reader_exchanges(plan),
        urls=tuple(urls),
        options=tuple(
            (group, option, values[-1])
            for group, options in ini.sections.items()
            if group.startswith("oslo_messaging_") and group != _TOPICS[0]
            for option, values in options.items()
        ),
    )
