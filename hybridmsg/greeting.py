"""Which protocol a server speaks, from the first bytes it sends: for ``probe`` to name a
URL aimed at the wrong server (``nats://`` at RabbitMQ's port, ``rabbit://`` at a router).

A NATS server speaks first (``INFO {...}``). AMQP servers wait for the client's protocol
header and answer one they do not take with their own: RabbitMQ ``AMQP 0 0 9 1``, an AMQP
1.0 router ``AMQP 0 1 0 0`` (or ``AMQP 3 1 0 0``, SASL first); RabbitMQ answers its own
header with a ``connection.start`` frame. A TLS listener answers plain bytes with an alert
or by closing. :func:`speaker_at` listens (inside TLS when asked: a TLS handshake that
checks no certificate, since it only listens), then sends the AMQP 0-9-1 header and reads
the answer; it logs in to nothing and closes at once. :func:`identify` is the pure part.
"""

from __future__ import annotations

import enum
import socket
import ssl
import time

#: what a client sends first to an AMQP 0-9-1 broker
AMQP_0_9_1_HEADER = b"AMQP\x00\x00\x09\x01"
#: how long a server may take to speak first before we send a header ourselves: a NATS
#: TLS listener with handshake_first (as ``up`` renders it: 1 s) says INFO after that delay
SPEAKS_FIRST_WITHIN = 1.2


class Speaker(enum.Enum):
    """A protocol heard at an address: (what to call it, the scheme that speaks it)."""

    NATS = ("a NATS server", "nats")
    AMQP_0_9_1 = ("an AMQP 0-9-1 broker (RabbitMQ)", "rabbit")
    AMQP_1_0 = ("an AMQP 1.0 router", "amqp")
    TLS = ("a TLS listener", None)
    HTTP = ("an HTTP server", None)

    @property
    def title(self) -> str:
        return self.value[0]

    @property
    def scheme(self) -> str | None:
        return self.value[1]


#: what each transport URL scheme expects to find at its host and port
EXPECTED = {
    "nats": Speaker.NATS,
    "rabbit": Speaker.AMQP_0_9_1,
    "rabbit-once": Speaker.AMQP_0_9_1,
    "amqp": Speaker.AMQP_1_0,
}


def identify(data: bytes) -> Speaker | None:
    """The protocol whose first bytes ``data`` are, or None when they say nothing known."""
    if data.startswith(b"INFO "):
        return Speaker.NATS
    if data.startswith(b"AMQP") and len(data) >= 8:
        if data[4:8] == AMQP_0_9_1_HEADER[4:]:
            return Speaker.AMQP_0_9_1
        if data[5:8] == b"\x01\x00\x00":
            return Speaker.AMQP_1_0
    if data.startswith(b"\x01\x00\x00"):  # an AMQP 0-9-1 method frame on channel 0
        return Speaker.AMQP_0_9_1
    if data.startswith(b"\x15\x03"):  # a TLS alert record
        return Speaker.TLS
    if data.startswith(b"HTTP/"):
        return Speaker.HTTP
    return None


def speaker_at(host: str, port: int, timeout: float, tls: bool = False) -> Speaker | None:
    """What answers at ``host:port`` (inside TLS with ``tls``) within ``timeout`` seconds
    (None: nothing known).

    Raises ConnectionRefusedError when nothing listens there, OSError (ssl.SSLError
    included) for other failures to connect.
    """
    deadline = time.monotonic() + timeout
    with socket.create_connection((host.strip("[]"), port), timeout=timeout) as plain:
        sock = _listening_tls().wrap_socket(plain, server_hostname=host) if tls else plain
        first = _receive(sock, min(SPEAKS_FIRST_WITHIN, deadline - time.monotonic()))
        if first:
            return identify(first)
        try:
            sock.sendall(AMQP_0_9_1_HEADER)
        except OSError:
            return None
        return identify(_receive(sock, deadline - time.monotonic()))


def _listening_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only listens: sends nothing a server could steal
    return context


def _receive(sock: socket.socket, timeout: float) -> bytes:
    """What the peer sends within ``timeout`` until it is known or 8 bytes long (b"" when
    it is silent or gone)."""
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while len(data) < 8 and identify(data) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            chunk = sock.recv(8 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:  # TimeoutError, a reset
        pass
    return data
