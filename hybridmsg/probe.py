"""``probe``: connect with one transport URL through oslo.messaging and say, in one line,
what happened: connected, or why not (a malformed URL, wrong credentials, a TLS
mismatch, an untrusted certificate, nothing listening).

The URL is checked first (scheme, hosts, ports); then one ``cast`` with ``retry=0`` to
a topic nobody serves opens a real connection, logs in and hands over a message.
Failures from any driver are read from the exception chain; the password never appears.
"""

from __future__ import annotations

import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import oslo_messaging
from amqp import exceptions as amqp_errors
from oslo_config import cfg
from oslo_messaging import transport as oslo_transport

from hybridmsg.drivers import urls
from hybridmsg.errors import BadTransportURL, CheckFailed
from hybridmsg.plan import mask_url

TOPIC = "hybridmsg_probe"
DEFAULT_PORTS = {"rabbit": 5672, "rabbit-once": 5672, "nats": 4222, "amqp": 5672}


class ProbeFailed(CheckFailed):
    """The URL is well formed but the connection, login or hand-over failed."""


def parse(url: str) -> oslo_messaging.TransportURL:
    """The parsed URL; BadTransportURL for a malformed one."""
    scheme = url.partition("://")[0]
    if scheme not in DEFAULT_PORTS:
        raise BadTransportURL(
            f"unsupported scheme {scheme + '://' if scheme else url!r}; "
            f"use one of {', '.join(s + '://' for s in DEFAULT_PORTS)}"
        )
    try:
        parsed = oslo_messaging.TransportURL.parse(cfg.CONF, url)
        urls.host_ports(parsed, scheme, DEFAULT_PORTS[scheme])
    except ValueError as exc:  # oslo's own port parsing
        raise BadTransportURL(f"invalid {scheme}:// transport URL: bad port ({exc})") from None
    except oslo_transport.InvalidTransportURL as exc:
        raise BadTransportURL(str(exc)) from None
    return parsed


def probe(url: str, timeout: float) -> str:
    """One line saying the URL works; BadTransportURL or ProbeFailed saying why not."""
    parsed = parse(url)
    try:
        transport = oslo_messaging.get_rpc_transport(cfg.CONF, url=url)
    except oslo_transport.InvalidTransportURL as exc:
        raise BadTransportURL(str(exc)) from None
    except cfg.NoSuchOptError as exc:
        raise BadTransportURL(
            f"invalid {parsed.transport}:// transport URL: unknown option {exc.opt_name!r} "
            f"(not an option of [{exc.group}])"
        ) from None
    client = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic=TOPIC), timeout=timeout
    ).prepare(retry=0)
    pool = ThreadPoolExecutor(1, thread_name_prefix="hybridmsg-probe")
    try:
        pool.submit(client.cast, {}, "probe").result(timeout)
    except FutureTimeout:
        raise ProbeFailed(f"{_where(parsed)}: no connection within {timeout:g} s") from None
    except Exception as exc:
        raise ProbeFailed(f"{_where(parsed)}: {explain(exc, parsed)}") from None
    finally:
        pool.shutdown(wait=False)
        cleanup = threading.Thread(target=transport.cleanup, name="hybridmsg-probe", daemon=True)
        cleanup.start()
        cleanup.join(timeout)
    tls = " over TLS" if parsed.query.get("ssl", "").lower() in ("1", "true", "yes") else ""
    return f"ok: {mask_url(url)} accepted user {parsed.hosts[0].username!r}{tls}"


def _where(url: oslo_messaging.TransportURL) -> str:
    hosts = ",".join(f"{h.hostname}:{h.port or DEFAULT_PORTS[url.transport]}" for h in url.hosts)
    return f"{url.transport}://{hosts}"


def explain(exc: BaseException, url: oslo_messaging.TransportURL) -> str:
    """Why a connection failed, from the first telling exception in ``exc``'s chain."""
    user = url.hosts[0].username
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for err in chain:
        if isinstance(err, oslo_messaging.MessagingException):
            return mask_url(str(err))
        if isinstance(err, amqp_errors.AccessRefused):
            return f"refused user {user!r}: wrong user or password"
        if isinstance(err, amqp_errors.NotAllowed):
            return f"refused user {user!r} the vhost {url.virtual_host!r}: {err.reply_text}"
        if isinstance(err, ssl.SSLCertVerificationError):
            return (
                f"server certificate not trusted ({err.verify_message}); set ssl_ca_file "
                "to the CA that signed it"
            )
        if isinstance(err, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(err):
            return "no TLS on that port; turn ssl off, or use the server's TLS port"
        if isinstance(err, ConnectionResetError):
            return "the server closed the connection at once: a TLS port? then add ssl=1"
        if isinstance(err, ConnectionRefusedError):
            return "nothing listens there; start the server or fix host and port"
    first = chain[0]
    text = mask_url(str(first).splitlines()[0]) if str(first) else ""
    return f"{type(first).__name__}: {text}" if text else type(first).__name__
