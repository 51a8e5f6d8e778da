"""Proton's protocol engine on an asyncio loop: one AMQP 1.0 connection, its socket, its
reconnections and its events.

Proton's ``Container`` runs a reactor written in Python that wraps every event and hands
it through several handler layers; per message that costs about as much CPU as
RabbitMQ's whole client (``docs/benchmarks.md``). Here proton does only the protocol
(framing, SASL, TLS, heartbeats) on a ``Connection`` bound to a ``Transport``; the I/O
loop is :func:`bridge.event_loop`'s (uvloop, in C), and each event type the link needs
goes straight to one method of it.

:class:`Engine` connects to each URL in turn with a doubling pause (reset once the router
opened the connection), sets SASL, TLS (the router's name checked) and the idle timeout
on each new transport, moves bytes between the socket and the transport, keeps the
transport's timer, and when a transport closes while the connection is still open
locally binds the same connection to a new one: proton then attaches every open link
again. Everything here runs on the loop's thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Protocol

from proton import SSL, Collector, Condition, Connection, Endpoint, Event, Message, Transport, Url

from hybridmsg.drivers.amqp1.settings import AmqpSettings

LOG = logging.getLogger(__name__)


class Events(Protocol):
    """What an :class:`Engine` tells its owner (all on the loop's thread)."""

    def handlers(self) -> dict[object, Callable[[Event], None]]:
        """The owner's method for each proton event type it handles."""

    def transport_failed(self, condition: Condition | None) -> None:
        """The connection failed (refused, lost, TLS or SASL); the engine reconnects unless
        the owner closed the connection."""

    def disconnected(self) -> None:
        """The transport closed while the connection was open: what was in flight is lost."""


def _pauses(first: float, longest: float) -> Iterator[float]:
    """0 for the first attempt, then ``first`` doubling up to ``longest``."""
    yield 0.0
    pause = first
    while True:
        yield pause
        pause = min(pause * 2, longest)


def read_message(delivery) -> Message | None:
    """The message of an incoming delivery once it is complete (its link moved past it);
    None while it is partial, or when the sender aborted it (then it is settled)."""
    if delivery.aborted:
        delivery.settle()
        return None
    if not delivery.readable or delivery.partial:
        return None
    link = delivery.link
    message = Message()
    message.decode(link.recv(delivery.pending))
    link.advance()
    return message


class _Socket(asyncio.Protocol):
    """Bytes between one TCP connection and the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._engine.socket_opened(self, transport)

    def data_received(self, data: bytes) -> None:
        self._engine.received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._engine.socket_closed(self, exc)


class Engine:
    """One proton connection driven by an asyncio loop (see the module docstring)."""

    def __init__(
        self, settings: AmqpSettings, loop: asyncio.AbstractEventLoop, owner: Events
    ) -> None:
        self._settings = settings
        self._loop = loop
        self._owner = owner
        self.connection = Connection()
        self.connection.container = settings.container_id or f"hybridmsg-{uuid.uuid4().hex[:12]}"
        if settings.virtual_host:
            self.connection.hostname = settings.virtual_host
        self._collector = Collector()
        self.connection.collect(self._collector)
        self._handlers = {
            Event.CONNECTION_REMOTE_OPEN: self._remote_open,
            Event.TRANSPORT_ERROR: self._transport_error,
            Event.TRANSPORT_CLOSED: self._transport_closed,
            **owner.handlers(),
        }
        self._urls = itertools.cycle([Url(u) for u in settings.urls])
        self._pauses = self._fresh_pauses()
        self._transport: Transport | None = None
        self._socket: asyncio.Transport | None = None
        self._protocol: _Socket | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # of the armed timer
        self._retry: asyncio.TimerHandle | None = None
        self._stopping = False
        self.session = self.connection.session()

    # -- life cycle -------------------------------------------------------------------

    def open(self) -> None:
        """Open the connection and start connecting (loop thread)."""
        self.connection.open()
        self.session.open()
        self._attempt()

    def stop(self) -> None:
        """Close the connection, flush what is written, and connect no more."""
        self._stopping = True
        for handle in (self._timer, self._retry):
            if handle is not None:
                handle.cancel()
        if self.connection.state & Endpoint.LOCAL_ACTIVE:
            self.connection.close()
        self.pump()
        if self._socket is not None:
            self._socket.close()  # after what is buffered was written

    # -- connecting -------------------------------------------------------------------

    def _attempt(self) -> None:
        self._retry = None
        if self._stopping or not self.connection.state & Endpoint.LOCAL_ACTIVE:
            return
        url = next(self._urls)
        transport = self._transport = self._new_transport(url)
        transport.bind(self.connection)
        self._loop.create_task(self._connect(url, transport))

    def _new_transport(self, url: Url) -> Transport:
        s = self._settings
        transport = Transport()
        sasl = transport.sasl()
        sasl.allow_insecure_mechs = s.allow_insecure_mechs
        if s.mechanisms:
            sasl.allowed_mechs(s.mechanisms)
        if s.user:
            self.connection.user = s.user
        if s.password:
            self.connection.password = s.password
        if not s.virtual_host:
            self.connection.hostname = url.host
        if s.idle_timeout:
            transport.idle_timeout = s.idle_timeout
        if url.scheme == "amqps":
            ssl = SSL(transport, s.ssl_domain)
            ssl.peer_hostname = s.sni or s.virtual_host or url.host
        return transport

    async def _connect(self, url: Url, transport: Transport) -> None:
        try:
            await self._loop.create_connection(lambda: _Socket(self), url.host, int(url.port))
        except OSError as exc:
            if transport is self._transport:
                self._lost(transport, f"{exc.strerror or exc} connecting to {url.host}:{url.port}")

    def _lost(self, transport: Transport, why: str | None) -> None:
        """The socket is gone: the transport reports why (a TRANSPORT_ERROR event, unless
        it already knows) and closes, which reconnects (:meth:`_transport_closed`)."""
        if why is not None and not transport.condition:
            transport.condition = Condition("proton:io", why)
        transport.close_tail()
        transport.close_head()
        self.pump()

    def _fresh_pauses(self) -> Iterator[float]:
        return _pauses(self._settings.retry_interval, self._settings.retry_interval_max)

    def _remote_open(self, event: Event) -> None:
        self._pauses = self._fresh_pauses()

    def _transport_error(self, event: Event) -> None:
        if not self._stopping:  # a closing socket is no failure once we are stopping
            self._owner.transport_failed(event.transport.condition)

    def _transport_closed(self, event: Event) -> None:
        if self._transport is None:
            return
        if self._socket is not None:
            self._socket.abort()
            self._socket = None
            self._protocol = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.connection.state & Endpoint.LOCAL_ACTIVE or self._stopping:
            return
        self._owner.disconnected()
        self._transport.unbind()
        self._transport = None
        self._retry = self._loop.call_later(next(self._pauses), self._attempt)

    # -- bytes ------------------------------------------------------------------------

    def socket_opened(self, protocol: _Socket, socket: asyncio.BaseTransport) -> None:
        if self._stopping or self._transport is None:
            socket.close()
            return
        self._socket, self._protocol = socket, protocol  # type: ignore[assignment]
        self.pump()

    def received(self, data: bytes) -> None:
        transport = self._transport
        while data and transport is not None:
            room = transport.capacity()
            if room < 0:  # the transport takes no more input: it is closing
                break
            if room == 0:
                self.pump()
                if transport.capacity() == 0:
                    LOG.warning("AMQP transport took no input; dropping the connection")
                    transport.close_tail()
                    break
                continue
            transport.push(data[:room])
            data = data[room:]
            self.pump()

    def socket_closed(self, protocol: _Socket, exc: Exception | None) -> None:
        if protocol is not self._protocol or self._transport is None:
            return
        self._socket = self._protocol = None
        self._lost(self._transport, None if exc is None else str(exc))

    # -- events, output and timer -----------------------------------------------------

    def pump(self) -> None:
        """Hand every pending event to its handler, then write what the transport has to
        send and keep its timer (call after anything that may have changed state)."""
        collector = self._collector
        handlers = self._handlers
        while (event := collector.peek()) is not None:
            handler = handlers.get(event.type)
            if handler is not None:
                handler(event)
            collector.pop()
        transport = self._transport
        if transport is None:
            return
        pending = transport.pending()
        if pending > 0 and self._socket is not None:
            self._socket.write(transport.peek(pending))
            transport.pop(pending)
        elif pending < 0 and self._socket is not None:
            self._socket.close()
        self._keep_time(transport)

    def _keep_time(self, transport: Transport) -> None:
        """Let the transport do what is due (heartbeats, the peer's idle timeout) and arm
        the timer for its next deadline, unless it is armed for that or earlier: a timer
        that fires early finds nothing due and arms itself again. The deadline may come
        earlier at any time (the router's open names its idle timeout), so the transport is
        asked on every pass."""
        now = time.time()
        deadline = transport.tick(now)
        if not deadline or (self._timer is not None and self._deadline <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._deadline = deadline
        self._timer = self._loop.call_later(max(0.0, deadline - now), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.pump()
