"""Connection settings for the AMQP 1.0 wire, from the transport URL and
``[oslo_messaging_amqp]``.

``amqp://user:password@host:5672/vhost`` (several hosts for failover), ``?ssl=1`` (or the
``ssl`` option) for TLS. The SASL mechanism follows from what is given: PLAIN with a user,
EXTERNAL with a client certificate and no user, else ANONYMOUS; ``sasl_mechanisms``
overrides. Every problem is one line naming the cause, without the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import oslo_messaging
from proton import SSLDomain, SSLException

from hybridmsg.drivers import urls

DEFAULT_PORT = 5672
QUERY_OPTIONS = ("ssl", "ssl_ca_file", "ssl_cert_file", "ssl_key_file", "sasl_mechanisms")


@dataclass(frozen=True)
class AmqpSettings:
    """Everything the wire needs to connect; printable without secrets."""

    urls: tuple[str, ...]
    user: str | None
    password: str | None = field(repr=False)
    virtual_host: str | None
    sni: str | None
    ssl_domain: SSLDomain | None = field(repr=False, compare=False)
    mechanisms: str
    allow_insecure_mechs: bool
    container_id: str | None
    idle_timeout: float
    retry_interval: float
    retry_interval_max: float
    reply_credit: int
    server_credit: int
    drain_timeout: float


def ssl_domain(ca_file: str, cert_file: str, key_file: str, key_password: str | None) -> SSLDomain:
    """A client TLS domain that verifies the router's certificate and name."""
    domain = SSLDomain(SSLDomain.MODE_CLIENT)
    try:
        if ca_file:
            domain.set_trusted_ca_db(ca_file)
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, ca_file)
        else:
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        if cert_file:
            domain.set_credentials(cert_file, key_file or None, key_password)
    except SSLException as exc:
        raise oslo_messaging.MessagingException(
            f"Cannot load the TLS files ({exc}); check ssl_ca_file, ssl_cert_file and "
            "ssl_key_file in [oslo_messaging_amqp] or the URL"
        ) from None
    return domain


def settings_from(url, group) -> AmqpSettings:
    """Settings for ``url`` (an oslo TransportURL) and the ``[oslo_messaging_amqp]`` group."""
    query = urls.query_options(url, "amqp", QUERY_OPTIONS)
    use_tls = urls.flag(url, "amqp", "ssl", query["ssl"]) if "ssl" in query else group.ssl
    hosts = urls.host_ports(url, "amqp", DEFAULT_PORT)
    scheme = "amqps" if use_tls else "amqp"
    first = url.hosts[0]
    cert_file = query.get("ssl_cert_file", group.ssl_cert_file)
    domain = None
    if use_tls:
        domain = ssl_domain(
            query.get("ssl_ca_file", group.ssl_ca_file),
            cert_file,
            query.get("ssl_key_file", group.ssl_key_file),
            group.ssl_key_password,
        )
    mechanisms = query.get("sasl_mechanisms", group.sasl_mechanisms)
    if not mechanisms:
        if first.username:
            mechanisms = "PLAIN"
        elif use_tls and cert_file:
            mechanisms = "EXTERNAL"
        else:
            mechanisms = "ANONYMOUS"
    vhost = url.virtual_host or None
    sni = None
    if use_tls:
        sni = vhost if group.ssl_verify_vhost and vhost else hosts[0][0].strip("[]")
    return AmqpSettings(
        urls=tuple(f"{scheme}://{host}:{port}" for host, port in hosts),
        user=first.username or None,
        password=first.password or None,
        virtual_host=vhost,
        sni=sni,
        ssl_domain=domain,
        mechanisms=mechanisms,
        allow_insecure_mechs=not use_tls,
        container_id=group.container_name,
        idle_timeout=group.idle_timeout,
        retry_interval=group.connection_retry_interval,
        retry_interval_max=group.connection_retry_interval_max,
        reply_credit=group.reply_link_credit,
        server_credit=group.rpc_server_credit,
        drain_timeout=group.drain_timeout,
    )
