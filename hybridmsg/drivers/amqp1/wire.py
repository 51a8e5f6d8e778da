"""The AMQP 1.0 wire: one proton connection and the one I/O thread that runs its loop.

The I/O thread runs an asyncio loop (:func:`bridge.event_loop`) with proton's protocol
engine on it (:mod:`~hybridmsg.drivers.amqp1.engine`). Other threads never touch proton
objects: they queue a function and wake the loop, once per burst. Requests go on one
sender link per address, so the router's credit is the flow control (no consumer, no
credit: the message waits until its deadline); replies go pre-settled on one anonymous
relay link; replies to this connection arrive on one dynamic reply link. Delivery
outcomes resolve the publish futures; a message the router releases (its consumer went
away before taking it, e.g. a server restarting) is sent again until its deadline.
Proton conditions are mapped here, once, to oslo.messaging exceptions.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass

import oslo_messaging
from proton import Delivery, Endpoint, Event, Link, Message

from hybridmsg.drivers import bridge
from hybridmsg.drivers.amqp1.engine import Engine, read_message
from hybridmsg.drivers.amqp1.settings import AmqpSettings
from hybridmsg.drivers.link import Handler, State

LOG = logging.getLogger(__name__)

_OPEN_BOTH_ENDS = Endpoint.LOCAL_ACTIVE | Endpoint.REMOTE_ACTIVE

#: Conditions that retrying cannot cure: at start they fail the connection at once.
FATAL = {
    "amqp:unauthorized-access": "refused the credentials",
    "amqp:resource-limit-exceeded": "refused the connection by policy",
}


def _describe(condition) -> str:
    if condition is None:
        return "no reason given"
    return f"{condition.name}: {condition.description or ''}".rstrip(": ")


@dataclass
class _Outgoing:
    """A request on its way: the message, its caller's future, its monotonic deadline.

    ``sent`` resolves with the router's outcome, or, for a message ``early`` (a cast that
    does not wait for its outcome), as soon as it left; a failure learnt after that is
    logged, never dropped silently."""

    message: Message
    sent: Future
    deadline: float | None
    fanout: bool = False
    early: bool = False
    address: str = ""
    left: bool = False  # on the wire at least once (a released one waits to go again)

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def on_wire(self) -> None:
        self.left = True
        if self.early:
            self.succeed()

    def succeed(self) -> None:
        if not self.sent.done():
            self.sent.set_result(None)

    def fail(self, error: Exception) -> None:
        if not self.sent.done():
            self.sent.set_exception(error)
        else:
            LOG.error("A cast to %s was lost: %s", self.address, error)

    def fail_released(self) -> None:
        """Released by the router and out of time to send it again."""
        self.fail(oslo_messaging.MessageDeliveryFailure(
            "the router released the message: no consumer could take it"))


class _Outbox:
    """A sender link and the messages waiting for its credit."""

    def __init__(self, sender):
        self.sender = sender
        self.waiting: collections.deque = collections.deque()


class AmqpLink:
    """A :class:`~hybridmsg.drivers.link.Link` over one AMQP 1.0 connection."""

    def __init__(self, settings: AmqpSettings, on_reply):
        self._settings = settings
        self._on_reply = on_reply
        self._state = State.NEW
        self._ready: Future = bridge.future()
        self._stopped: Future = bridge.future()
        self._reply_address: str | None = None
        self._work: collections.deque = collections.deque()
        self._wake_flag = bridge.native_lock()  # held briefly, by any thread
        self._wake_pending = False
        self._outboxes: dict[str, _Outbox] = {}
        self._unsettled: dict[tuple[str, bytes], _Outgoing] = {}
        self._handlers: dict[str, Handler] = {}
        self._opening: dict[str, Future] = {}
        self._closing: dict[str, Future] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: Engine | None = None
        self._thread = None

    @property
    def reply_address(self) -> str:
        return self._reply_address

    # -- life cycle (caller threads) --------------------------------------------------

    @property
    def peer(self) -> str:
        return f"AMQP router at {', '.join(self._settings.urls)}"

    def start(self) -> Future:
        if self._state is not State.NEW:
            raise RuntimeError(f"AmqpLink.start() called in state {self._state.value}")
        self._loop = bridge.event_loop()
        engine = self._engine = Engine(self._settings, self._loop, self)
        self._reply_link = engine.session.receiver(f"reply-{uuid.uuid4().hex}")
        self._reply_link.source.dynamic = True
        self._reply_link.open()
        self._relay = engine.session.sender(f"relay-{uuid.uuid4().hex}")
        self._relay.snd_settle_mode = Link.SND_SETTLED
        self._relay.open()
        self._state = State.RUNNING
        self._thread = bridge.io_thread(self._run, "hybridmsg-amqp-io")
        self._thread.start()
        return self._ready

    def _run(self) -> None:
        try:
            bridge.run_loop(self._loop, self._engine.open)
        finally:
            self._stopped.set_result(None)

    def close(self) -> None:
        if self._state is not State.RUNNING:
            self._state = State.CLOSED
            return
        self._state = State.CLOSED
        self._call_soon(self._shutdown)
        if bridge.native_ident() != self._thread.ident:
            try:
                bridge.wait(self._stopped, self._settings.drain_timeout + 5)
            except TimeoutError:
                LOG.warning("AMQP I/O thread did not stop in time")
                return
            self._thread.join()

    def _call_soon(self, fn, *args) -> None:
        """Queue ``fn(*args)`` for the I/O thread, waking it unless a wake-up is on its way."""
        self._work.append((fn, args))
        with self._wake_flag:
            if self._wake_pending:
                return
            self._wake_pending = True
        self._loop.call_soon_threadsafe(self.run_work)

    # -- traffic (caller threads) -----------------------------------------------------

    def publish(
        self, address: str, body: bytes, reply_to: str | None = None,
        deadline: float | None = None, fanout: bool = False, early: bool = False,
    ) -> Future:
        """Credit is the flow control: the caller cancels the future of a message still
        waiting for credit at its deadline; a released message is sent again until then. A
        fanout goes to whoever listens now: no credit on an attached link means nobody does,
        and it is dropped at once, as RabbitMQ drops a fanout that no queue is bound to.
        An ``early`` message resolves its future once it left; its outcome is followed
        all the same (released: sent again until the deadline; else logged)."""
        sent = bridge.future()
        if self._state is not State.RUNNING:
            sent.set_exception(oslo_messaging.MessageDeliveryFailure("the AMQP link is closed"))
        else:
            outgoing = _Outgoing(
                Message(body=body, reply_to=reply_to), sent, deadline, fanout, early, address
            )
            self._call_soon(self._send, address, outgoing)
        return sent

    def reply(self, address: str, body: bytes) -> None:
        if self._state is State.RUNNING:
            self._call_soon(self._send_reply, address, body)

    def subscribe(self, address: str, group: str | None, handler: Handler) -> str:
        opened = bridge.future()
        self._call_soon(self._attach, address, handler, opened)
        try:
            return bridge.wait(opened, self._settings.drain_timeout)
        except TimeoutError:
            LOG.warning("Link to %s not attached yet; it attaches when the router is back",
                        address)
            return opened.name

    def unsubscribe(self, subscription: str) -> None:
        if self._state is not State.RUNNING:
            return
        closed = bridge.future()
        self._call_soon(self._detach, subscription, closed)
        try:
            bridge.wait(closed, self._settings.drain_timeout)
        except TimeoutError:
            LOG.warning("Link %s not detached after %s s", subscription,
                        self._settings.drain_timeout)

    # -- the I/O thread ---------------------------------------------------------------

    def handlers(self) -> dict[object, object]:
        """Proton's events this link handles (see :class:`~.engine.Events`)."""
        return {
            Event.LINK_REMOTE_OPEN: self._on_link_remote_open,
            Event.LINK_REMOTE_CLOSE: self._on_link_remote_close,
            Event.LINK_FLOW: self._on_link_flow,
            Event.DELIVERY: self._on_delivery,
            Event.CONNECTION_REMOTE_CLOSE: self._on_connection_remote_close,
        }

    def _on_link_remote_open(self, event) -> None:
        link = event.link
        if link.state & Endpoint.LOCAL_ACTIVE:
            self.link_opened(link)

    def _on_link_remote_close(self, event) -> None:
        link = event.link
        if link.remote_condition:
            self.link_failed(link, link.remote_condition)
        link.close()
        self.link_closed(link)

    def _on_link_flow(self, event) -> None:
        link = event.link
        if link.is_sender and link.credit and link.state & _OPEN_BOTH_ENDS == _OPEN_BOTH_ENDS:
            self.flush(link)

    def _on_delivery(self, event) -> None:
        """A message read is accepted and settled once taken (released if its link is
        closing); a sent one learns its outcome and is settled when the router settled."""
        delivery = event.delivery
        link = delivery.link
        if link.is_sender:
            if delivery.updated:
                self._outcome(delivery)
        elif (message := read_message(delivery)) is not None:
            if link.state & Endpoint.LOCAL_CLOSED:
                delivery.update(Delivery.RELEASED)
            else:
                self.message(link, message)
                delivery.update(Delivery.ACCEPTED)
            delivery.settle()

    def _outcome(self, delivery) -> None:
        state = delivery.remote_state
        if state == Delivery.ACCEPTED:
            self.settled(delivery, None)
        elif state == Delivery.REJECTED:
            self.settled(delivery, oslo_messaging.MessageDeliveryFailure(
                f"the router rejected the message: {_describe(delivery.remote.condition)}"))
        elif state in (Delivery.RELEASED, Delivery.MODIFIED):
            self.released(delivery)
        if delivery.settled:
            delivery.settle()

    def _on_connection_remote_close(self, event) -> None:
        condition = event.connection.remote_condition
        if condition and condition.name != "amqp:connection:forced":
            self.transport_failed(condition)
        event.connection.close()

    def run_work(self) -> None:
        with self._wake_flag:
            self._wake_pending = False
        while self._work:
            fn, args = self._work.popleft()
            fn(*args)
        self._engine.pump()

    def _shutdown(self) -> None:
        for outgoing in self._unsettled.values():
            outgoing.fail(oslo_messaging.MessageDeliveryFailure(
                "the transport was closed before the router settled a message to "
                f"{outgoing.address}"))
        self._unsettled.clear()
        self._engine.stop()
        self._loop.call_soon(self._loop.stop)

    def _send(self, address: str, outgoing: _Outgoing) -> None:
        outbox = self._outboxes.get(address)
        if outbox is None:
            sender = self._engine.session.sender(f"{address}-{uuid.uuid4().hex[:8]}")
            sender.target.address = address
            sender.open()
            outbox = self._outboxes[address] = _Outbox(sender)
        outbox.waiting.append(outgoing)
        self.flush(outbox.sender)

    def flush(self, sender) -> None:
        outbox = self._outboxes.get(sender.target.address or "")
        if outbox is None or outbox.sender.name != sender.name:
            return
        while outbox.waiting and sender.credit > 0:
            outgoing = outbox.waiting.popleft()
            if outgoing.left:  # released: it goes again until its deadline
                if outgoing.expired():
                    outgoing.fail_released()
                    continue
            elif not outgoing.sent.set_running_or_notify_cancel():
                continue
            delivery = sender.send(outgoing.message)
            self._unsettled[(sender.name, delivery.tag)] = outgoing
            outgoing.on_wire()
        if sender.credit <= 0 and sender.state & Endpoint.REMOTE_ACTIVE:
            while outbox.waiting and outbox.waiting[0].fanout:
                outgoing = outbox.waiting.popleft()
                if outgoing.sent.set_running_or_notify_cancel():
                    LOG.debug("Fanout to %s dropped: nobody listens", sender.target.address)
                    outgoing.sent.set_result(None)

    def _send_reply(self, address: str, body: bytes) -> None:
        if self._relay.credit <= 0:
            LOG.warning("Reply to %s dropped: the router gave no credit to the reply relay",
                        address)
            return
        self._relay.send(Message(address=address, body=body))

    def settled(self, delivery, error: Exception | None) -> None:
        outgoing = self._unsettled.pop((delivery.link.name, delivery.tag), None)
        if outgoing is None:
            return
        if error is None:
            outgoing.succeed()
        else:
            outgoing.fail(error)

    def released(self, delivery) -> None:
        """The router gave a message back untaken: send it again, first in line."""
        outgoing = self._unsettled.pop((delivery.link.name, delivery.tag), None)
        if outgoing is None:
            return
        outbox = self._outboxes.get(outgoing.address)
        if outbox is None or outgoing.expired():
            outgoing.fail_released()
            return
        outbox.waiting.appendleft(outgoing)
        self.flush(outbox.sender)

    def _attach(self, address: str, handler: Handler, opened: Future) -> None:
        receiver = self._engine.session.receiver(f"{address}-{uuid.uuid4().hex[:8]}")
        receiver.source.address = address
        receiver.open()
        self._handlers[receiver.name] = handler
        opened.name = receiver.name
        self._opening[receiver.name] = opened

    def _detach(self, name: str, closed: Future) -> None:
        self._handlers.pop(name, None)
        for link in self._receivers():
            if link.name == name:
                self._closing[name] = closed
                link.close()
                return
        closed.set_result(None)

    def _receivers(self):
        link = self._engine.connection.link_head(0)
        while link is not None:
            if link.is_receiver:
                yield link
            link = link.next(0)

    def link_opened(self, link) -> None:
        if link.name == self._reply_link.name:
            self._reply_address = link.remote_source.address
            link.flow(self._settings.reply_credit)
            if not self._ready.done():
                self._ready.set_result(None)
        elif link.is_sender:
            self.flush(link)  # no credit for a fanout: nobody listens
        elif link.is_receiver and link.remote_source.address is None:
            return  # refused: the router detaches it with the reason (link_failed)
        elif link.is_receiver:
            link.flow(self._settings.server_credit)
            opened = self._opening.pop(link.name, None)
            if opened is not None and not opened.done():
                opened.set_result(link.name)

    def link_failed(self, link, condition) -> None:
        why = _describe(condition)
        if link.is_receiver:
            opened = self._opening.pop(link.name, None)
            if opened is not None and not opened.done():
                opened.set_exception(oslo_messaging.MessagingException(
                    f"the router refused a link to {link.source.address}: {why}"))
            self._handlers.pop(link.name, None)
            return
        address = link.target.address or ""
        outbox = self._outboxes.get(address)
        if outbox is not None and outbox.sender.name == link.name:
            del self._outboxes[address]
            for outgoing in outbox.waiting:
                if outgoing.left or outgoing.sent.set_running_or_notify_cancel():
                    outgoing.fail(oslo_messaging.MessageDeliveryFailure(
                        f"the router refused sending to {address}: {why}"))
        link.close()

    def link_closed(self, link) -> None:
        closed = self._closing.pop(link.name, None)
        if closed is not None and not closed.done():
            closed.set_result(None)

    def message(self, receiver, message) -> None:
        if receiver.name == self._reply_link.name:
            self._on_reply(bytes(message.body))
        else:
            handler = self._handlers.get(receiver.name)
            if handler is not None:
                try:
                    handler(bytes(message.body), message.reply_to)
                except Exception:
                    LOG.exception("Failed to hand over a message from %s",
                                  receiver.source.address)
        credit = self._settings.reply_credit if receiver.name == self._reply_link.name \
            else self._settings.server_credit
        if receiver.credit < credit // 2:
            receiver.flow(credit - receiver.credit)

    def transport_failed(self, condition) -> None:
        why = _describe(condition)
        if not self._ready.done() and condition is not None:
            verdict = FATAL.get(condition.name)
            if verdict is None and "SSL" in (condition.description or ""):
                verdict = "failed the TLS handshake (check ssl_ca_file, the client " \
                          "certificate and that the URL's host name is in the router's certificate)"
            if verdict is not None:
                s = self._settings
                who = f"user {s.user!r}" if s.user else "the client certificate"
                self._engine.connection.close()
                self._ready.set_exception(oslo_messaging.MessagingException(
                    f"the AMQP router at {', '.join(s.urls)} {verdict} of {who} on vhost "
                    f"{s.virtual_host!r}: {why}"))
                return
        LOG.warning("AMQP connection to %s failed (%s); reconnecting",
                    ", ".join(self._settings.urls), why)

    def disconnected(self) -> None:
        for outgoing in self._unsettled.values():
            outgoing.fail(oslo_messaging.MessageDeliveryFailure(
                f"connection to the router lost before it settled a message to "
                f"{outgoing.address}; it may or may not have been delivered"))
        self._unsettled.clear()
