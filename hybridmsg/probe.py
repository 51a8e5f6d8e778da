"""``probe``: connect with one transport URL through its oslo.messaging driver and say, in
one line, what happened: connected, or why not (a malformed URL, wrong credentials, a TLS
mismatch, an untrusted certificate, nothing listening, another protocol on that port).

Read-only: the probe opens the driver's connection and logs in, exactly as a service
with that URL would (``rabbit://``: one oslo connection, its channel open; ``nats://``
and ``amqp://``: the driver's link, with its own reply subscription), and closes it. It
sends no message and declares no exchange or queue, so it changes nothing on the server
and cannot clash with what the services declared there. The whole probe, closing
included, ends within its timeout (plus :data:`CLOSE_WAIT`): when the driver has not
connected within :data:`GRACE`, :mod:`hybridmsg.greeting` reads what answers at each
host, so that a URL aimed at the wrong server is named rather than waited on; a driver
still trying then is left behind in a daemon thread.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import oslo_messaging
from amqp import exceptions as amqp_errors
from oslo_config import cfg
from oslo_messaging import transport as oslo_transport

from hybridmsg import greeting
from hybridmsg.drivers import urls
from hybridmsg.drivers.shim import PURPOSE_SEND, RabbitDriver, driver_of
from hybridmsg.errors import BadTransportURL, CheckFailed
from hybridmsg.plan import mask_url

DEFAULT_PORTS = {"rabbit": 5672, "rabbit-once": 5672, "nats": 4222, "amqp": 5672}
#: how long the driver may try alone before the probe also listens at the hosts
GRACE = 1.0
#: how long closing the connection may take after the answer
CLOSE_WAIT = 2.0


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
    _check_hosts(url, scheme)
    try:
        parsed = oslo_messaging.TransportURL.parse(cfg.CONF, url)
        urls.host_ports(parsed, scheme, DEFAULT_PORTS[scheme])
    except ValueError as exc:  # what _check_hosts did not foresee
        raise BadTransportURL(f"invalid {scheme}:// transport URL: {exc}") from None
    except oslo_transport.InvalidTransportURL as exc:
        raise BadTransportURL(str(exc)) from None
    return parsed


def _check_hosts(url: str, scheme: str) -> None:
    """BadTransportURL naming a host entry whose port is not a number (oslo's own message
    is Python's ``invalid literal for int()``)."""
    default = DEFAULT_PORTS[scheme]
    use = f"use {scheme}://user:password@host:{default}/vhost (IPv6 hosts as [::1]:{default})"
    try:
        netloc = urlsplit(url).netloc
    except ValueError:  # an opening [ without its ]
        raise BadTransportURL(
            f"invalid {scheme}:// transport URL: '[' without ']'; {use}"
        ) from None
    for entry in netloc.split(","):
        host, port = _host_and_port(entry.rpartition("@")[2])
        if port is not None and not port.isdigit():
            raise BadTransportURL(
                f"invalid {scheme}:// transport URL: port {port!r} of host {host!r} is not a "
                f"number; {use}"
            )


def _host_and_port(text: str) -> tuple[str, str | None]:
    """``host:port`` or ``[v6]:port`` -> (host, port text or None when there is no ':')."""
    if text.startswith("["):
        host, _, rest = text.partition("]")
        return host + "]", rest[1:] if rest.startswith(":") else None
    host, colon, port = text.partition(":")
    return host, port if colon else None


def probe(url: str, timeout: float) -> str:
    """One line saying the URL works; BadTransportURL or ProbeFailed saying why not."""
    deadline = time.monotonic() + timeout
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
    attempt = _Attempt(lambda: _connect(transport, deadline))
    try:
        _outcome(attempt, parsed, timeout, deadline)
    finally:  # an attempt still trying holds the driver: then closing waits for nobody
        closing = threading.Thread(target=transport.cleanup, name="hybridmsg-probe", daemon=True)
        closing.start()
        closing.join(CLOSE_WAIT if attempt.done.is_set() else 0)
    tls = " over TLS" if _tls(parsed) else ""
    return f"ok: {mask_url(url)} accepted user {parsed.hosts[0].username!r}{tls}"


def _connect(transport: oslo_messaging.Transport, deadline: float) -> None:
    """Open the driver's connection and log in, as the service would; send nothing."""
    driver = driver_of(transport)
    if isinstance(driver, RabbitDriver):  # rabbit://, rabbit-once://: one try, no declare
        with driver._get_connection(PURPOSE_SEND, retry=0):
            return
    driver._connected(max(deadline - time.monotonic(), 0.001))  # nats://, amqp://


class _Attempt:
    """``connect`` running in a thread of its own that the probe does not wait for past
    its deadline (a daemon: the process may exit while it still tries)."""

    def __init__(self, connect: Callable[[], None]) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._connect = connect
        threading.Thread(target=self._run, name="hybridmsg-probe", daemon=True).start()

    def _run(self) -> None:
        try:
            self._connect()
        except BaseException as exc:  # handed to the probe's thread
            self.error = exc
        finally:
            self.done.set()

    def wait(self, until: float) -> bool:
        return self.done.wait(max(until - time.monotonic(), 0))


def _outcome(
    attempt: _Attempt, url: oslo_messaging.TransportURL, timeout: float, deadline: float
) -> None:
    """Return when the attempt connected; else ProbeFailed with the clearest reason."""
    finished = attempt.wait(min(time.monotonic() + GRACE, deadline - timeout / 2))
    if finished and attempt.error is None:
        return
    telling = explain(attempt.error, url) if finished else None
    if telling is None:
        telling = _heard(url, deadline)
    if telling is None and attempt.wait(deadline):
        if attempt.error is None:
            return
        telling = explain(attempt.error, url) or _describe(attempt.error)
    raise ProbeFailed(f"{_where(url)}: {telling or f'no connection within {timeout:g} s'}")


def _heard(url: oslo_messaging.TransportURL, deadline: float) -> str | None:
    """Why no host of ``url`` can work, from what answers there; None when one might."""
    expected = greeting.EXPECTED[url.transport]
    problems, hint = [], "start the server or fix host and port"
    for host, port in urls.host_ports(url, url.transport, DEFAULT_PORTS[url.transport]):
        try:
            speaker = greeting.speaker_at(host, port, deadline - time.monotonic(), _tls(url))
        except ConnectionRefusedError:
            problems.append(f"nothing listens at {host}:{port}")
            continue
        except OSError:
            return None
        if speaker is greeting.Speaker.TLS and not _tls(url):
            problems.append(f"{speaker.title} answers at {host}:{port}")
            hint = "add ssl=1 (and ssl_ca_file) to the URL, or use the server's plain port"
        elif speaker in (None, expected, greeting.Speaker.TLS):
            return None
        else:
            problems.append(f"{speaker.title} answers at {host}:{port}, not {expected.title}")
            hint = f"use the port of the {url.transport}:// server" + (
                f", or {speaker.scheme}:// for this one" if speaker.scheme else ""
            )
    return f"{'; '.join(problems)}: {hint}" if problems else None


def _tls(url: oslo_messaging.TransportURL) -> bool:
    return url.query.get("ssl", "").lower() in ("1", "true", "yes", "on")


def _where(url: oslo_messaging.TransportURL) -> str:
    hosts = ",".join(f"{h.hostname}:{h.port or DEFAULT_PORTS[url.transport]}" for h in url.hosts)
    return f"{url.transport}://{hosts}"


def explain(exc: BaseException | None, url: oslo_messaging.TransportURL) -> str | None:
    """Why a connection failed, from the first telling exception in ``exc``'s chain; None
    when nothing in it tells (a timeout, an unknown error)."""
    user = url.hosts[0].username
    for err in _chain(exc):
        if isinstance(err, oslo_messaging.MessagingTimeout):
            return None
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
    return None


def _describe(exc: BaseException) -> str | None:
    """What to say of an error nothing else explains: None for the driver's own timeout
    (the probe says that in its own words), else the first line of ``exc``, masked."""
    chain = _chain(exc)
    if any(isinstance(err, oslo_messaging.MessagingTimeout) for err in chain):
        return None
    if any(isinstance(err, TimeoutError) for err in chain):
        return (
            "the server took the connection but did not answer in time: a hung server, or "
            "another program on that port?"
        )
    text = mask_url(str(exc).splitlines()[0]) if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, in that order."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain
