"""Loopback ports: pick a free one, refuse a taken one with an actionable error, probe one.

``free_port(host)`` -> an unused TCP port; ``ensure_port_free(port, what, hint)`` raises
:class:`PortInUse` ("port 5672 (RabbitMQ AMQP) on 127.0.0.1 is in use by another program;
choose another port or stop that program"); ``tcp_ready(host, port)`` -> a probe for
:class:`~hybridmsg.backends.process.ServerProcess`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from hybridmsg.errors import PortInUse

LOOPBACK = "127.0.0.1"
DEFAULT_HINT = "choose another port or stop that program"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could not listen on ``host:port`` (SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ensure_port_free(port: int, what: str, hint: str = DEFAULT_HINT, host: str = LOOPBACK) -> None:
    """Raise PortInUse naming ``what`` the port was for when ``host:port`` is taken."""
    if port_in_use(port, host):
        raise PortInUse(f"port {port} ({what}) on {host} is in use by another program; {hint}")


def tcp_ready(host: str, port: int) -> Callable[[], bool]:
    """A probe that is true once something accepts TCP connections on ``host:port``."""

    def probe() -> bool:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            return False
        return True

    return probe
