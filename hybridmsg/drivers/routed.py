"""The routed-RPC driver core, shared by every wire.

:class:`RoutedDriver` implements oslo.messaging's ``BaseDriver`` on top of a
:class:`~hybridmsg.drivers.link.Link` and an :class:`~hybridmsg.drivers.link.Addressing`.
A driver (one per oslo transport) opens exactly one link, lazily, on first use, and every
client, RPC server and notification listener of that transport shares it: a process with a
thousand RPC servers still holds one connection. No thread starts before first use.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future

import oslo_messaging

from hybridmsg.drivers import bridge, calls, envelope
from hybridmsg.drivers.incoming import NotificationIncoming, RpcIncoming
from hybridmsg.drivers.link import Addressing, Link, LinkFactory, State
from hybridmsg.drivers.listener import PushListener
from hybridmsg.drivers.shim import BaseDriver, deserialize_remote_exception

LOG = logging.getLogger(__name__)

RPC_GROUP = "rpc"


class RoutedDriver(BaseDriver):
    """oslo.messaging driver for a message router; subclasses supply wire and addressing."""

    def __init__(
        self,
        conf,
        url,
        default_exchange=None,
        allowed_remote_exmods=None,
        *,
        link_factory: LinkFactory,
        addressing: Addressing,
        send_timeout: float,
        notify_timeout: float | None = None,
        early_casts: bool = False,
    ):
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        self._link_factory = link_factory
        self._addressing = addressing
        self._send_timeout = send_timeout
        self._notify_timeout = notify_timeout or send_timeout
        self._early_casts = early_casts  # a cast returns once it left (Link.publish)
        self._calls = calls.PendingCalls()
        self._lock = threading.Lock()
        self._state = State.NEW
        self._link: Link | None = None
        self._started: Future | None = None

    # -- life cycle -------------------------------------------------------------------

    def _connected(self, timeout: float | None) -> Link:
        """The link, connecting it on first use. Each caller waits for the connection
        with its own ``timeout`` (None: for as long as it takes); the lock is never held
        while waiting, so a send with a deadline never queues behind an endless connect."""
        with self._lock:
            if self._state is State.CLOSED:
                raise oslo_messaging.MessageDeliveryFailure(
                    "this transport was cleaned up; create a new one"
                )
            if self._link is None:
                self._link = self._link_factory(bridge.in_callers(self._calls.on_reply))
                self._started = self._link.start()
                self._state = State.RUNNING
            link, started = self._link, self._started
        try:
            bridge.wait(started, timeout)
        except TimeoutError:
            raise oslo_messaging.MessagingTimeout(
                f"no {link.peer} reachable within {timeout:.1f} s"
            ) from None
        except oslo_messaging.MessagingException:
            self._forget(link)  # refused: the next use starts afresh
            raise
        return link

    def _forget(self, link: Link) -> None:
        with self._lock:
            if self._link is link:
                self._link = None
                if self._state is State.RUNNING:
                    self._state = State.NEW
        link.close()

    def cleanup(self) -> None:
        with self._lock:
            self._state = State.CLOSED
            link, self._link = self._link, None
        if link is not None:
            link.close()

    # -- sending ----------------------------------------------------------------------

    def _exchange(self, target) -> str:
        return target.exchange or self._default_exchange or "openstack"

    def _rpc_address(self, target) -> str:
        exchange = self._exchange(target)
        if target.fanout:
            return self._addressing.multicast(exchange, target.topic)
        if target.server:
            return self._addressing.unicast(exchange, target.topic, target.server)
        return self._addressing.anycast(exchange, target.topic)

    def send(
        self,
        target,
        ctxt,
        message,
        wait_for_reply=None,
        timeout=None,
        call_monitor_timeout=None,
        retry=None,
        transport_options=None,
    ):
        address = self._rpc_address(target)
        msg_id = uuid.uuid4().hex
        if not wait_for_reply:
            body = envelope.encode_request(msg_id, ctxt, message)
            self._hand_off(
                address, body, self._send_timeout, fanout=target.fanout, early=self._early_casts
            )
            return None

        started = time.monotonic()
        link = self._connected(timeout)
        remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        deadline = None if remaining is None else time.time() + remaining
        body = envelope.encode_request(
            msg_id, ctxt, message, deadline, call_monitor_timeout, wants_reply=True
        )
        q = self._calls.register(msg_id)
        sent = link.publish(
            address, body, reply_to=link.reply_address,
            deadline=None if remaining is None else time.monotonic() + remaining,
        )
        try:
            sent.add_done_callback(
                bridge.in_callers(lambda f: self._fail_if_unsent(f, msg_id))
            )
            reply = calls.wait_for_reply(q, msg_id, remaining, call_monitor_timeout)
        finally:
            self._calls.forget(msg_id)
            sent.cancel()  # still waiting for the router's credit: never send it late
        if reply.failure is not None:
            raise deserialize_remote_exception(reply.failure, self._allowed_remote_exmods)
        return reply.result

    def _fail_if_unsent(self, sent: Future, msg_id: str) -> None:
        exc = None if sent.cancelled() else sent.exception()
        if exc is not None:
            self._calls.fail(msg_id, exc)

    def _hand_off(
        self, address: str, body: bytes, timeout: float, fanout: bool = False,
        early: bool = False,
    ) -> None:
        """Publish and wait until the wire took the message, at most ``timeout`` s."""
        started = time.monotonic()
        link = self._connected(timeout)
        sent = link.publish(address, body, deadline=started + timeout, fanout=fanout, early=early)
        try:
            bridge.wait(sent, max(0.0, timeout - (time.monotonic() - started)))
        except TimeoutError:
            sent.cancel()
            raise oslo_messaging.MessageDeliveryFailure(
                f"the router did not take the message to {address} within {timeout:.0f} s"
            ) from None

    def _send_reply(self, address: str, body: bytes) -> None:
        link = self._link
        if link is None:
            LOG.warning("Cannot send a reply to %s: the transport was cleaned up", address)
            return
        link.reply(address, body)

    def send_notification(self, target, ctxt, message, version, retry=None):
        address = self._addressing.notify(self._exchange(target), target.topic)
        body = envelope.encode_request(uuid.uuid4().hex, ctxt, message)
        self._hand_off(address, body, self._notify_timeout)

    # -- receiving --------------------------------------------------------------------

    def listen(self, target, batch_size, batch_timeout):
        exchange = self._exchange(target)
        subs = [
            (self._addressing.anycast(exchange, target.topic), RPC_GROUP),
            (self._addressing.multicast(exchange, target.topic), None),
        ]
        if target.server:
            # grouped, as RabbitMQ's one queue per server: two instances of one server (the
            # replacement started before the old one stops) share its messages, never both
            unicast = self._addressing.unicast(exchange, target.topic, target.server)
            subs.append((unicast, RPC_GROUP))
        return PushListener(
            self._connected(None),
            subs,
            lambda request, reply_to: RpcIncoming(request, reply_to, self._send_reply),
            batch_size,
            batch_timeout,
        )

    def listen_for_notifications(self, targets_and_priorities, pool, batch_size, batch_timeout):
        group = self._addressing.group(pool)
        subs = [
            (self._addressing.notify(self._exchange(t), f"{t.topic}.{priority}"), group)
            for t, priority in targets_and_priorities
        ]
        return PushListener(
            self._connected(None),
            subs,
            lambda request, reply_to: NotificationIncoming(request),
            batch_size,
            batch_timeout,
        )
