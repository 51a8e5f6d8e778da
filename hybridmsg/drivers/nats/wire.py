"""The NATS wire: one nats-py connection and the one asyncio I/O thread that owns it.

Other threads never touch the connection: they hand coroutines to the loop and wait on
the returned future with a deadline. nats-py errors are mapped here, once, to
oslo.messaging exceptions. The thread starts in :meth:`NatsLink.start`, never before.

A subscription to an RPC queue group also makes this link a member that senders can take
turns over (see :mod:`~hybridmsg.drivers.nats.rotation`): it subscribes to a member subject
of its own and answers roll calls with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

import nats
import oslo_messaging
from nats import errors as nats_errors

from hybridmsg.drivers import bridge
from hybridmsg.drivers.link import Handler, State
from hybridmsg.drivers.nats import addressing
from hybridmsg.drivers.nats.addressing import NatsAddressing
from hybridmsg.drivers.nats.outbox import Outbox, Outgoing
from hybridmsg.drivers.nats.refusals import connect_refusal, permission_denied
from hybridmsg.drivers.nats.resend import Resender
from hybridmsg.drivers.nats.rotation import Rotation
from hybridmsg.drivers.nats.settings import NatsSettings

LOG = logging.getLogger(__name__)

_CONNECT_ERRORS = (nats_errors.Error, OSError, TimeoutError)


def delivery_error(exc: BaseException, subject: str) -> oslo_messaging.MessagingException:
    """The oslo exception for a nats-py failure to publish on ``subject``."""
    if isinstance(exc, nats_errors.MaxPayloadError):
        return oslo_messaging.MessageDeliveryFailure(
            f"message to {subject} is larger than the NATS server's max_payload"
        )
    if isinstance(exc, nats_errors.OutboundBufferLimitError):
        return oslo_messaging.MessageDeliveryFailure(
            f"NATS server unreachable and the outgoing buffer is full; message to {subject} "
            "not sent (raise [oslo_messaging_nats] pending_bytes or restore the server)"
        )
    if isinstance(exc, nats_errors.ConnectionClosedError | nats_errors.ConnectionDrainingError):
        return oslo_messaging.MessageDeliveryFailure(
            f"NATS connection closed; message to {subject} not sent"
        )
    return oslo_messaging.MessageDeliveryFailure(f"cannot send to {subject}: {exc!r}")


@dataclass(frozen=True)
class _Subscription:
    """What one :meth:`NatsLink.subscribe` holds: the nats-py subscriptions to drain (to
    ``subject`` and, for an RPC queue group, to the member subject) and the one to roll
    calls, which goes first so that no sender learns of the member any more."""

    subject: str
    drained: tuple
    roll_call: object | None = None
    fanout: _Fanout | None = None
    handler: Handler | None = None


class _Fanout:
    """One plain subscription to a fanout subject, shared by every listener of this
    link: nats-server sends each message once per connection, and it is handed to each
    listener here, instead of once per listener over the wire."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.handlers: list[Handler] = []
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.sub = None

    async def deliver(self, msg) -> None:
        for handler in tuple(self.handlers):
            try:
                handler(msg.data, msg.reply or None)
            except Exception:
                LOG.exception("Failed to hand over a message from %s", self.subject)


class NatsLink:
    """A :class:`~hybridmsg.drivers.link.Link` over one nats-py connection."""

    def __init__(
        self,
        settings: NatsSettings,
        subjects: NatsAddressing,
        on_reply: Callable[[bytes], None],
    ):
        self._settings = settings
        self._subjects = subjects
        self._reply_address = subjects.reply(uuid.uuid4().hex)
        self._on_reply = on_reply
        self._state = State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = None
        self._connect_task: asyncio.Task | None = None
        self._nc: nats.NATS | None = None
        self._resender: Resender | None = None
        self._rotation: Rotation | None = None
        self._outbox = Outbox(self._send, self._must_wait)
        self._pump: asyncio.Task | None = None
        self._connecting = False
        self._refused: set[str] = set()  # subjects the server refused a subscription to
        self._fanouts: dict[str, _Fanout] = {}  # I/O thread only

    @property
    def reply_address(self) -> str:
        return self._reply_address

    # -- life cycle -------------------------------------------------------------------

    @property
    def peer(self) -> str:
        return f"NATS server at {', '.join(self._settings.servers)}"

    def start(self) -> Future:
        if self._state is not State.NEW:
            raise RuntimeError(f"NatsLink.start() called in state {self._state.value}")
        self._loop = bridge.event_loop()
        self._thread = bridge.io_thread(self._run, "hybridmsg-nats-io")
        self._thread.start()
        self._state = State.RUNNING
        return self._submit(self._connect())

    def _run(self) -> None:
        bridge.run_loop(self._loop)

    async def _connect(self) -> None:
        s, subjects = self._settings, self._subjects
        self._connecting = True
        self._connect_task = asyncio.current_task()
        while True:
            nc = nats.NATS()
            try:
                await nc.connect(
                    servers=list(s.servers),
                    user=s.user,
                    password=s.password,
                    tls=s.tls,
                    name=f"hybridmsg-{self._reply_address.rsplit('.', 1)[-1][:8]}",
                    connect_timeout=s.connect_timeout,
                    reconnect_time_wait=s.reconnect_interval,
                    max_reconnect_attempts=-1,
                    ping_interval=s.ping_interval,
                    max_outstanding_pings=s.max_outstanding_pings,
                    pending_size=s.pending_bytes,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    tls_handshake_first=s.tls is not None and s.tls_handshake_first,
                )
                LOG.info("Connected to NATS at %s", nc.connected_url.netloc)
                break
            except oslo_messaging.MessagingException:  # raised by _on_error: no retry helps
                await self._abandon(nc)
                raise
            except _CONNECT_ERRORS as exc:
                if refusal := connect_refusal(exc, s):
                    await self._abandon(nc)
                    raise refusal from None
                # one attempt every reconnect_interval, as nats-py paces its reconnects:
                # a server that comes back is in use again within that interval
                LOG.warning(
                    "Cannot connect to NATS at %s (%s); retrying in %.1f s",
                    ", ".join(s.servers),
                    exc or type(exc).__name__,
                    s.reconnect_interval,
                )
                await asyncio.sleep(s.reconnect_interval)
        self._connecting = False
        self._nc = nc
        self._rotation = Rotation(
            self._reply_address, self._publish, subjects.rotates, self._outbox.release
        )
        self._resender = Resender(self._reply_address, self._publish, self._rotation.gone)
        self._pump = self._outbox.start()
        sub = await nc.subscribe(self._resender.wildcard, cb=self._reply_cb)
        await nc.flush(timeout=s.connect_timeout)
        await self._confirm(sub)

    async def _abandon(self, nc: nats.NATS) -> None:
        """Close a connection that never came up (nats-py's close can hang after a failed
        TLS handshake: bounded)."""
        try:
            await asyncio.wait_for(nc.close(), self._settings.connect_timeout)
        except (TimeoutError, nats_errors.Error, OSError):
            LOG.debug("Abandoned a NATS connection that did not close")

    async def _confirm(self, sub) -> None:
        """Raise when the server refused ``sub``. Its -ERR precedes the PONG of the flush
        before this, but nats-py hands it to the error callback in a task of its own: one
        more round trip makes sure that task has run."""
        try:
            await self._nc.flush(timeout=self._settings.connect_timeout)
        except (TimeoutError, nats_errors.Error):
            return  # not connected now: the subscription is restored (or refused) later
        if sub.subject in self._refused:
            self._refused.discard(sub.subject)
            await sub.unsubscribe()
            raise oslo_messaging.MessagingException(
                f"NATS server refused user {self._settings.user!r} a subscription to "
                f"{sub.subject}: outside its permissions (another vhost in the transport URL?)"
            )

    async def _reply_cb(self, msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if self._rotation.answered(msg.subject, msg.data, status):
            return
        if not self._resender.consumed(msg.subject, status):
            self._on_reply(msg.data)

    async def _on_error(self, exc: Exception) -> None:
        if self._connecting and (refusal := connect_refusal(exc, self._settings)):
            raise refusal  # ends nc.connect() instead of retrying what cannot succeed
        if denied := permission_denied(exc):
            kind, subject = denied
            if kind == "subscription":
                self._refused.add(subject)
            LOG.error(
                "NATS server refused user %r to %s %s: outside its permissions",
                self._settings.user,
                "publish to" if kind == "publish" else "subscribe to",
                subject,
            )
            return
        LOG.warning("NATS connection error: %s", exc or type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if self._state is State.RUNNING:
            LOG.warning("Disconnected from NATS; reconnecting")

    async def _on_reconnected(self) -> None:
        LOG.info("Reconnected to NATS at %s", self._nc.connected_url.netloc if self._nc else "?")

    def close(self) -> None:
        if self._state is State.CLOSED or self._loop is None:
            self._state = State.CLOSED
            return
        self._state = State.CLOSED
        if bridge.native_ident() == self._thread.ident:
            self._loop.create_task(self._close())
            return
        closing = self._run_in_loop(self._close())
        try:
            bridge.wait(closing, self._settings.drain_timeout + self._settings.connect_timeout)
        except (TimeoutError, RuntimeError):
            LOG.warning("NATS connection did not close in time; dropping it")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    async def _close(self) -> None:
        if self._connecting and self._connect_task is not None:
            self._connect_task.cancel()  # still trying to connect: stop trying
        self._outbox.fail_all("the transport was closed before this message left")
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    # -- traffic ----------------------------------------------------------------------

    def _submit(self, coro) -> Future:
        if self._state is not State.RUNNING:
            coro.close()
            failed = bridge.future()
            failed.set_exception(
                oslo_messaging.MessageDeliveryFailure("the NATS connection is closed")
            )
            return failed
        return self._run_in_loop(coro)

    def _run_in_loop(self, coro) -> Future:
        """Run ``coro`` in the I/O thread; the returned future (see :mod:`bridge`) has its
        outcome, and cancelling it cancels the coroutine."""
        done = bridge.future()

        def begin() -> None:
            task = self._loop.create_task(coro)
            task.add_done_callback(lambda t: _settle(done, t))
            done.add_done_callback(
                lambda f: f.cancelled() and self._loop.call_soon_threadsafe(task.cancel)
            )

        self._loop.call_soon_threadsafe(begin)
        return done

    def publish(
        self, address: str, body: bytes, reply_to: str | None = None,
        deadline: float | None = None, fanout: bool = False, early: bool = False,
    ) -> Future:
        """A NATS publish has no outcome to wait for: ``early`` changes nothing here."""
        sent = bridge.future()
        self._put(Outgoing(address, body, reply_to, None if fanout else deadline, sent))
        return sent

    def reply(self, address: str, body: bytes) -> None:
        self._put(Outgoing(address, body, None, None, None))

    def _put(self, item: Outgoing) -> None:
        if self._state is not State.RUNNING:
            if item.sent is not None:
                item.sent.set_exception(
                    oslo_messaging.MessageDeliveryFailure("the NATS connection is closed")
                )
            return
        self._outbox.put(item)

    async def _send(self, item: Outgoing) -> None:
        """Publish one queued message (I/O thread); calls and casts are tracked so that
        "no responders" sends them again until their deadline."""
        if item.deadline is None:
            await self._publish(item.subject, item.body, item.reply_to or "")
            return
        subject = self._rotation.route(item.subject)
        reply = self._resender.track(
            subject, item.subject, item.body, item.deadline, item.reply_to is not None
        )
        await self._publish(subject, item.body, reply)

    def _must_wait(self, item: Outgoing) -> bool:
        """Whether a call or cast waits for its queue group's first roll call (I/O thread)."""
        return item.deadline is not None and self._rotation.must_wait(item.subject)

    async def _publish(self, subject: str, body: bytes, reply: str) -> None:
        try:
            await self._nc.publish(subject, body, reply=reply)
        except nats_errors.Error as exc:
            raise delivery_error(exc, subject) from exc

    def subscribe(self, address: str, group: str | None, handler: Handler):
        subscribing = self._submit(self._subscribe(address, group or "", handler))
        try:
            return bridge.wait(subscribing, self._settings.connect_timeout * 3)
        except TimeoutError:
            subscribing.cancel()
            raise oslo_messaging.MessagingTimeout(
                f"the NATS server did not take a subscription to {address} within "
                f"{self._settings.connect_timeout * 3:.0f} s"
            ) from None

    async def _subscribe(self, subject: str, queue: str, handler: Handler):
        if not queue:
            return await self._join_fanout(subject, handler)

        async def deliver(msg) -> None:
            try:
                handler(msg.data, msg.reply or None)
            except Exception:
                LOG.exception("Failed to hand over a message from %s", subject)

        sub = await self._nc.subscribe(subject, queue=queue, cb=deliver)
        held = _Subscription(subject, (sub,))
        if self._subjects.rotates(subject):
            held = await self._join(held, deliver)
        await self._confirmed(sub)
        return held

    async def _confirmed(self, sub) -> None:
        try:
            await self._nc.flush(timeout=self._settings.connect_timeout)
        except (TimeoutError, nats_errors.Error):
            LOG.warning(
                "Subscription to %s not confirmed yet; it is restored on reconnect", sub.subject
            )
        await self._confirm(sub)

    async def _join_fanout(self, subject: str, handler: Handler) -> _Subscription:
        fanout = self._fanouts.get(subject)
        if fanout is None:
            fanout = self._fanouts[subject] = _Fanout(subject)
            try:
                fanout.sub = await self._nc.subscribe(subject, cb=fanout.deliver)
                await self._confirmed(fanout.sub)
            except BaseException as exc:
                del self._fanouts[subject]
                fanout.ready.set_exception(exc)
                fanout.ready.exception()  # retrieved: later joiners get their own error
                raise
            fanout.ready.set_result(None)
        else:
            await asyncio.shield(fanout.ready)
        fanout.handlers.append(handler)
        return _Subscription(subject, (), fanout=fanout, handler=handler)

    async def _join(self, held: _Subscription, deliver) -> _Subscription:
        """Become a member senders can take turns over: a member subject of this
        subscription's own, and the answer to roll calls on its subject."""
        subject = held.subject
        member = addressing.member(subject, uuid.uuid4().hex)

        async def answer(msg) -> None:
            if not msg.reply:
                return
            try:
                await self._nc.publish(msg.reply, member.encode())
            except nats_errors.Error as exc:
                LOG.debug("Roll call on %s not answered: %r", subject, exc)

        return _Subscription(
            subject,
            (*held.drained, await self._nc.subscribe(member, cb=deliver)),
            await self._nc.subscribe(addressing.roll_call(subject), cb=answer),
        )

    def unsubscribe(self, subscription) -> None:
        if self._state is not State.RUNNING:
            return
        started = time.monotonic()
        try:
            bridge.wait(self._submit(self._drain(subscription)), self._settings.drain_timeout + 1)
        except (TimeoutError, oslo_messaging.MessagingException):
            LOG.warning(
                "Subscription to %s not drained after %.1f s",
                subscription.subject,
                time.monotonic() - started,
            )

    async def _drain(self, held: _Subscription) -> None:
        if held.fanout is not None:
            fanout = held.fanout
            fanout.handlers.remove(held.handler)
            if fanout.handlers or self._fanouts.get(fanout.subject) is not fanout:
                return
            del self._fanouts[fanout.subject]
            held = _Subscription(held.subject, (fanout.sub,))
        if held.roll_call is not None:
            await _unsubscribe(held.roll_call)
        await asyncio.gather(*map(self._drain_one, held.drained))

    async def _drain_one(self, sub) -> None:
        try:
            await asyncio.wait_for(sub.drain(), self._settings.drain_timeout)
        except (TimeoutError, nats_errors.Error):
            await _unsubscribe(sub)


async def _unsubscribe(sub) -> None:
    try:
        await sub.unsubscribe()
    except nats_errors.Error:
        pass


def _settle(done: Future, task: asyncio.Task) -> None:
    """Hand a finished task's outcome to the caller's future (I/O thread)."""
    try:
        if task.cancelled():
            done.cancel()
        elif task.exception() is not None:
            done.set_exception(task.exception())
        else:
            done.set_result(task.result())
    except InvalidStateError:
        pass  # the caller gave up (cancelled) first
