"""The seam between the routed-RPC core and a wire (NATS, AMQP 1.0).

A wire supplies two things: an :class:`Addressing` (pure functions from oslo targets to
router addresses) and a :class:`Link` (one connection to the router, owning exactly one
I/O thread). The core never imports a wire library; a wire never imports oslo's driver
base. Everything a link raises or resolves a future with is already an oslo.messaging
exception: wire errors are mapped once, inside the wire.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

#: Called in the link's I/O thread for each message: (body, reply address or None).
Handler = Callable[[bytes, str | None], None]


class State(enum.Enum):
    """Life cycle of a link (and of the driver that owns it)."""

    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class Addressing(Protocol):
    """Router addresses for oslo targets; implementations are pure and table-tested."""

    def anycast(self, exchange: str, topic: str) -> str:
        """Shared by all servers of a topic; each message goes to one of them."""

    def unicast(self, exchange: str, topic: str, server: str) -> str:
        """One server of a topic."""

    def multicast(self, exchange: str, topic: str) -> str:
        """Every server of a topic (fanout)."""

    def notify(self, exchange: str, topic: str) -> str:
        """Notifications of one topic (``topic`` includes the priority)."""

    def group(self, pool: str | None) -> str | None:
        """The competing-consumer group for a notification pool (None: the default pool);
        raise NotImplementedError where the wire has no consumer groups."""


class Subscription(Protocol):
    """An opaque handle returned by :meth:`Link.subscribe`."""


class Link(Protocol):
    """One connection to the router, shared by every client, server and listener.

    Its I/O thread is a native OS thread also in an eventlet-patched process; the futures
    it returns are :func:`bridge.future` ones, and what it calls back (replies, messages)
    the driver has wrapped with :func:`bridge.in_callers`."""

    @property
    def reply_address(self) -> str:
        """The address replies to this link's calls arrive on."""

    @property
    def peer(self) -> str:
        """What this link connects to, for messages ("NATS server at ...")."""

    def start(self) -> Future[None]:
        """Start the I/O thread and connect, retrying, without waiting: the future (see
        :mod:`~hybridmsg.drivers.bridge`) resolves once connected with the reply address
        subscribed, or fails with the refusal that no retry can cure."""

    def publish(
        self, address: str, body: bytes, reply_to: str | None = None,
        deadline: float | None = None, fanout: bool = False, early: bool = False,
    ) -> Future[None]:
        """Hand ``body`` to the I/O thread; the future resolves once the wire took it.

        ``deadline`` (``time.monotonic()``) is when the sender stops caring: until then a
        wire may hold the message for the router's credit or send it again when the router
        said nobody was there to take it. A ``fanout`` goes to whoever listens now and is
        neither held nor sent again: nobody listening is not an error. Where the wire
        learns a delivery outcome, the future waits for it unless ``early``: then it
        resolves once the message left, and a failure learnt later is logged."""

    def reply(self, address: str, body: bytes) -> None:
        """Send a reply at most once, without waiting; failures are logged, never raised."""

    def subscribe(self, address: str, group: str | None, handler: Handler) -> Subscription:
        """Subscribe (competing within ``group`` when given); return once the router knows."""

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop interest, deliver what already arrived, then forget the subscription."""

    def close(self) -> None:
        """Close the connection and join the I/O thread; idempotent."""


#: Builds a link for a driver: (on_reply handler) -> Link. Replies arrive as bodies.
LinkFactory = Callable[[Callable[[bytes], None]], Link]
