"""Connection settings for the NATS wire, from the transport URL and ``[oslo_messaging_nats]``.

Validates the URL (hosts, ports, query options) and builds the TLS context; every problem
is one line naming the cause, without the password.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import oslo_messaging

from hybridmsg.drivers import urls

DEFAULT_PORT = 4222
QUERY_OPTIONS = ("ssl", "ssl_ca_file", "ssl_cert_file", "ssl_key_file")


@dataclass(frozen=True)
class NatsSettings:
    """Everything the wire needs to connect; hashable and printable without secrets."""

    servers: tuple[str, ...]
    user: str | None
    password: str | None
    tls: ssl.SSLContext | None
    tls_handshake_first: bool
    connect_timeout: float
    reconnect_interval: float
    ping_interval: float
    max_outstanding_pings: int
    pending_bytes: int
    drain_timeout: float

    def __repr__(self) -> str:
        return f"NatsSettings(servers={self.servers}, user={self.user!r}, tls={bool(self.tls)})"


def tls_context(ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    """A client TLS context that verifies the server (and presents a certificate if given)."""
    try:
        ctx = ssl.create_default_context(cafile=ca_file or None)
        if cert_file:
            ctx.load_cert_chain(cert_file, key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise oslo_messaging.MessagingException(
            f"Cannot load the TLS files ({exc.strerror or exc}); check ssl_ca_file, "
            "ssl_cert_file and ssl_key_file in [oslo_messaging_nats] or the URL"
        ) from None
    return ctx


def settings_from(url, group) -> NatsSettings:
    """Settings for ``url`` (an oslo TransportURL) and the ``[oslo_messaging_nats]`` group."""
    query = urls.query_options(url, "nats", QUERY_OPTIONS)
    use_tls = urls.flag(url, "nats", "ssl", query["ssl"]) if "ssl" in query else group.ssl
    scheme = "tls" if use_tls else "nats"
    hosts = urls.host_ports(url, "nats", DEFAULT_PORT)
    servers = [f"{scheme}://{host}:{port}" for host, port in hosts]
    first = url.hosts[0]
    tls = None
    if use_tls:
        tls = tls_context(
            query.get("ssl_ca_file", group.ssl_ca_file),
            query.get("ssl_cert_file", group.ssl_cert_file),
            query.get("ssl_key_file", group.ssl_key_file),
        )
    return NatsSettings(
        servers=tuple(servers),
        user=first.username or None,
        password=first.password or None,
        tls=tls,
        tls_handshake_first=group.ssl_handshake_first,
        connect_timeout=group.connect_timeout,
        reconnect_interval=group.reconnect_interval,
        ping_interval=group.ping_interval,
        max_outstanding_pings=group.max_outstanding_pings,
        pending_bytes=group.pending_bytes,
        drain_timeout=group.drain_timeout,
    )
