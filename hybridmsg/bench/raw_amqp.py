"""Raw request/reply with python-qpid-proton, no oslo layer: the ceiling for ``amqp://``.

The same operations as :mod:`hybridmsg.bench.raw` (raw nats-py), through the same
qdrouterd as the ``amqp`` column, in the shape of our driver without oslo on top: proton's
engine on an asyncio loop in its own I/O thread, as the driver runs it (:class:`_Wire`);
callers are threads that hand it work and wait on a future. Calls go
to a server's address with ``reply_to`` the client's one dynamic reply link and are
matched by ``correlation_id``; casts and fanouts are sent unsettled and wait for the
router's outcome (at least once, as ``amqp://`` does by default). Servers answer in their
loop, pre-settled on an anonymous relay link. Addresses are the driver's routable ones
(:class:`~hybridmsg.drivers.amqp1.addressing.AmqpAddressing`), so the router distributes
them alike: closest for a server, multicast for a topic's fanout.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from urllib.parse import urlsplit

from proton import Delivery, Event, Link, Message

from hybridmsg.bench.clients import CALL_TIMEOUT, Progress
from hybridmsg.bench.raw_protocol import answer, request, result, server_url
from hybridmsg.drivers import bridge
from hybridmsg.drivers.amqp1.addressing import AmqpAddressing
from hybridmsg.drivers.amqp1.engine import Engine, read_message
from hybridmsg.drivers.amqp1.settings import AmqpSettings

WINDOW = 100  # credit of every receiver, topped up when half is used (as the driver does)
EXCHANGE = "bench"
STOP_TIMEOUT = 5.0


class _Addresses:
    """The driver's routable addresses for the topic of a run, in the URL's vhost."""

    def __init__(self, url: str, topic: str) -> None:
        self._addressing = AmqpAddressing(vhost=urlsplit(url).path.strip("/"))
        self._topic = topic
        self.fanout = self._addressing.multicast(EXCHANGE, topic)

    def server(self, name: str) -> str:
        return self._addressing.unicast(EXCHANGE, self._topic, name)


class _Outbox:
    """A sender link and the messages waiting for its credit, each with the future of its
    outcome (None: sent pre-settled, or its outcome does not matter)."""

    def __init__(self, sender) -> None:
        self.sender = sender
        self.waiting: collections.deque[tuple[Message, Future | None]] = collections.deque()

    def flush(self, unsettled: dict) -> None:
        while self.waiting and self.sender.credit > 0:
            message, outcome = self.waiting.popleft()
            delivery = self.sender.send(message)
            if outcome is not None:
                unsettled[(self.sender.name, delivery.tag)] = outcome


class _Wire:
    """One connection to the router: proton's engine on a loop in its own thread, as the
    driver runs it (:class:`~hybridmsg.drivers.amqp1.engine.Engine`), with nothing of the
    driver on top.

    Other threads never touch proton objects: :meth:`call_soon` hands the I/O thread a
    function. Links are made before :meth:`start` or in the thread; ``on_open(link,
    error)`` hears when the router attached (or refused) one, ``on_message(receiver,
    message)`` what arrives.
    """

    def __init__(
        self,
        url: str,
        on_open: Callable[[object, str | None], None],
        on_message: Callable[[object, Message], None],
    ) -> None:
        self._on_open = on_open
        self._on_message = on_message
        self._loop = bridge.event_loop()
        self._engine = Engine(_settings(url), self._loop, self)
        self._outboxes: dict[str | None, _Outbox] = {}  # by target address; None: the relay
        self._unsettled: dict[tuple[str, bytes], Future] = {}
        self._lost: list[Callable[[], None]] = []
        self._link_ids = itertools.count()
        self._thread = threading.Thread(target=self._run, name="raw-amqp", daemon=True)

    # -- any thread ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        bridge.run_loop(self._loop, self._engine.open)

    def call_soon(self, fn: Callable, *args: object) -> None:
        self._loop.call_soon_threadsafe(self._do, fn, args)

    def _do(self, fn: Callable, args: tuple) -> None:
        fn(*args)
        self._engine.pump()

    def close(self) -> None:
        if self._thread.is_alive():
            self.call_soon(self._shutdown)
            self._thread.join(STOP_TIMEOUT)

    # -- the I/O thread ------------------------------------------------------------------

    def receive(self, address: str | None, dynamic: bool = False):
        """A receiver from ``address`` (or a dynamic one), named uniquely: several may
        share an address, as each server's link to its topic's fanout address does."""
        receiver = self._engine.session.receiver(f"{address}-{next(self._link_ids)}")
        if dynamic:
            receiver.source.dynamic = True
        else:
            receiver.source.address = address
        receiver.open()
        return receiver

    def relay(self) -> None:
        """Open the anonymous relay link on which pre-settled messages go (replies)."""
        sender = self._engine.session.sender(f"relay-{next(self._link_ids)}")
        sender.snd_settle_mode = Link.SND_SETTLED
        sender.open()
        self._outboxes[None] = _Outbox(sender)

    def send(self, address: str | None, message: Message, outcome: Future | None = None):
        """Send ``message`` to ``address`` (None: on the relay, to ``message.address``)
        once there is credit; ``outcome`` resolves with the router's disposition."""
        outbox = self._outboxes.get(address)
        if outbox is None:
            sender = self._engine.session.sender(f"{address}-{next(self._link_ids)}")
            sender.target.address = address
            sender.open()
            outbox = self._outboxes[address] = _Outbox(sender)
        outbox.waiting.append((message, outcome))
        outbox.flush(self._unsettled)

    def when_lost(self, fail: Callable[[], None]) -> None:
        """Run ``fail`` if the connection goes."""
        self._lost.append(fail)

    def _shutdown(self) -> None:
        self._engine.stop()
        self._loop.call_soon(self._loop.stop)

    # -- proton's events (see engine.Events) ---------------------------------------------

    def handlers(self) -> dict:
        return {
            Event.LINK_REMOTE_OPEN: self._opened,
            Event.LINK_REMOTE_CLOSE: self._closed,
            Event.LINK_FLOW: self._flow,
            Event.DELIVERY: self._delivery,
        }

    def _opened(self, event) -> None:
        link = event.link
        if link.is_receiver:
            if link.remote_source.address is None:
                return  # refused: the close with the reason follows
            link.flow(WINDOW)
        self._on_open(link, None)

    def _closed(self, event) -> None:
        condition = event.link.remote_condition
        self._on_open(event.link, condition.description if condition else "refused")
        event.link.close()

    def _flow(self, event) -> None:
        sender = event.link
        outbox = self._outboxes.get(sender.target.address) if sender.is_sender else None
        if outbox is not None and outbox.sender.name == sender.name:
            outbox.flush(self._unsettled)

    def _delivery(self, event) -> None:
        delivery = event.delivery
        link = delivery.link
        if link.is_receiver:
            if (message := read_message(delivery)) is not None:
                self._on_message(link, message)
                delivery.update(Delivery.ACCEPTED)
                delivery.settle()
                if link.credit < WINDOW // 2:
                    link.flow(WINDOW - link.credit)
            return
        if delivery.updated:
            outcome = self._unsettled.pop((link.name, delivery.tag), None)
            state = delivery.remote_state
            if outcome is not None and state == Delivery.ACCEPTED:
                outcome.set_result(None)
            elif outcome is not None:
                outcome.set_exception(RuntimeError(f"the router answered {state}"))
            if delivery.settled:
                delivery.settle()

    def transport_failed(self, condition) -> None:
        """The bench's router never refuses; a lost connection fails what waits."""

    def disconnected(self) -> None:
        error = ConnectionError("connection to the router lost")
        for outcome in self._unsettled.values():
            outcome.set_exception(error)
        self._unsettled.clear()
        for fail in self._lost:
            fail()


def _settings(url: str) -> AmqpSettings:
    """The engine's settings for the bench's router: plain, anonymous."""
    return AmqpSettings(
        urls=(server_url(url),), user=None, password=None, virtual_host=None, sni=None,
        ssl_domain=None, mechanisms="ANONYMOUS", allow_insecure_mechs=True, container_id=None,
        idle_timeout=0, retry_interval=1, retry_interval_max=5, reply_credit=WINDOW,
        server_credit=WINDOW, drain_timeout=STOP_TIMEOUT,
    )


class RawAmqpClient:
    """call/cast/fanout as plain AMQP 1.0 messages through the router."""

    def __init__(self, url: str, topic: str) -> None:
        self._addresses = _Addresses(url, topic)
        self._ids = itertools.count()
        self._calls: dict[int, Future] = {}  # by correlation id; I/O thread only
        self._ready: Future = Future()
        self._reply_to: str | None = None
        self._wire = _Wire(url, self._opened, self._replied)
        self._reply_link = self._wire.receive(None, dynamic=True)
        self._wire.when_lost(self._fail_calls)
        self._wire.start()
        self._ready.result(CALL_TIMEOUT)

    def _opened(self, link, error: str | None) -> None:
        if link.name != self._reply_link.name or self._ready.done():
            return
        if error is None:
            self._reply_to = link.remote_source.address
            self._ready.set_result(None)
        else:
            self._ready.set_exception(ConnectionError(f"no reply link: {error}"))

    def _replied(self, receiver, message: Message) -> None:
        replied = self._calls.pop(message.correlation_id, None)
        if replied is not None:
            replied.set_result(bytes(message.body))

    def _fail_calls(self) -> None:
        for replied in self._calls.values():
            replied.set_exception(ConnectionError("connection to the router lost"))
        self._calls.clear()

    def _request(self, address: str, message: Message, replied: Future, call_id: int) -> None:
        self._calls[call_id] = replied
        self._wire.send(address, message)

    def call(self, server: str) -> object:
        replied: Future = Future()
        call_id = next(self._ids)
        message = Message(body=request("echo"), reply_to=self._reply_to, correlation_id=call_id)
        self._wire.call_soon(self._request, self._addresses.server(server), message, replied,
                             call_id)
        try:
            return result(replied.result(CALL_TIMEOUT))
        except TimeoutError:
            self._wire.call_soon(self._calls.pop, call_id, None)
            raise

    def _send_settled(self, address: str, method: str) -> None:
        outcome: Future = Future()
        self._wire.call_soon(self._wire.send, address, Message(body=request(method)), outcome)
        outcome.result(CALL_TIMEOUT)

    def cast(self, server: str) -> None:
        self._send_settled(self._addresses.server(server), "bump")

    def fanout(self) -> None:
        self._send_settled(self._addresses.fanout, "fan")

    def flush(self) -> None:
        """A cast or fanout returns once the router settled it: nothing to wait for."""

    def close(self) -> None:
        self._wire.close()


class RawAmqpServers:
    """One receiver per server name on its address, plus one on the topic's fanout address
    each, answering calls in the I/O thread and counting casts and fanouts."""

    def __init__(
        self, url: str, topic: str, names: list[str], count: Callable[[str], None]
    ) -> None:
        self._url = url
        self._addresses = _Addresses(url, topic)
        self._names = names
        self._count = count
        self._wire: _Wire | None = None
        self._attached: dict[str, Future] = {}  # by link name
        self.started = 0

    def _opened(self, link, error: str | None) -> None:
        attached = self._attached.pop(link.name, None)
        if attached is None or attached.done():
            return
        if error is None:
            attached.set_result(None)
        else:
            attached.set_exception(ConnectionError(
                f"the router refused a link to {link.source.address}: {error}"))

    def _handle(self, receiver, message: Message) -> None:
        reply = answer(bytes(message.body), self._count)
        if reply is not None:
            self._wire.send(None, Message(
                address=message.reply_to, correlation_id=message.correlation_id, body=reply))

    def start(self, progress: Progress) -> None:
        """Attach every receiver, then report each server as both its links are attached."""
        wire = self._wire = _Wire(self._url, self._opened, self._handle)
        wire.relay()
        links = []
        for name in self._names:
            pair = []
            for address in (self._addresses.server(name), self._addresses.fanout):
                receiver = wire.receive(address)
                self._attached[receiver.name] = attached = Future()
                pair.append(attached)
            links.append(pair)
        wire.start()
        for pair in links:
            for attached in pair:
                attached.result(CALL_TIMEOUT)
            self.started += 1
            progress(self.started)

    def stop(self) -> None:
        if self._wire is not None:
            self._wire.close()
