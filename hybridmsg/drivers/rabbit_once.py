"""The ``rabbit-once://`` driver: oslo.messaging's own RabbitMQ driver, whose notifiers
send each notification until RabbitMQ has it and whose notification listeners hand each
one to the service once, also across a broker crash or restart.

RabbitMQ delivers at least once. After a broker crash a notifier republishes what the
broker stored but never confirmed, and a listener gets again what it acknowledged but the
broker did not record; the copies share oslo's unique id. oslo.messaging 18.x drops a copy
only when the first was acknowledged among the last 16, and then leaves it unacknowledged
(it is delivered again at the next reconnect); two copies read before the first is handled
both reach the service. This driver is ``rabbit://`` in every other respect (same options,
``[oslo_messaging_rabbit]``, same queues and wire); its notification listeners remember the
ids of the last :data:`REMEMBERED` notifications handled and of those in hand, acknowledge
every copy of them and drop it (logged).

Sending: with ``retry = -1`` (what the plan's snippets set) oslo 18.3.1 on kombu 5.7 still
gives up when RabbitMQ refuses connections for longer than kombu's connect timeout (5 s),
or at once when it refuses the transport's very first connection (kombu's
``OperationalError``), and the Notifier logs and drops the notification. Here such a send
is tried again every ``rabbit_retry_interval`` until RabbitMQ takes it, under the same
unique id, so that a copy an earlier attempt left in the broker is dropped by the listener.

With ``[hybridmsg_rabbit_once] spool_directory`` set (the plan's snippets set it), a
notification is not sent by the caller of ``notify()`` at all: it is stored in the
process's spool on local disk (:mod:`hybridmsg.drivers.spool`) under a unique id of its
own, and a sender thread sends it as above, oldest first, removing it once RabbitMQ
confirmed it. ``notify()`` no longer waits for RabbitMQ; a spool a killed process left is
sent when a process of the same name opens this driver again.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import uuid
from pathlib import Path

from kombu.exceptions import OperationalError
from oslo_messaging import MessageDeliveryFailure, Target, TransportURL

from hybridmsg.drivers.shim import (
    UNIQUE_ID,
    NotificationAMQPIncomingMessage,
    NotificationAMQPListener,
    RabbitDriver,
)
from hybridmsg.drivers.spool import opts as spool_opts
from hybridmsg.drivers.spool.outbox import Notification, Outbox
from hybridmsg.drivers.spool.slots import leftovers, process_name
from hybridmsg.drivers.spool.store import Limits, Policy

LOG = logging.getLogger(__name__)
#: how many handled notification ids a listener remembers
REMEMBERED = 10_000


class Ledger:
    """The unique ids a listener has in hand and those it handled lately (thread-safe)."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._lock = threading.Lock()
        self._in_hand: set[str] = set()
        self._handled: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._size = size

    def admit(self, unique_id: str | None) -> bool:
        """True for a notification seen for the first time (now in hand), False for a copy."""
        if unique_id is None:
            return True
        with self._lock:
            if unique_id in self._in_hand or unique_id in self._handled:
                return False
            self._in_hand.add(unique_id)
            return True

    def handled(self, unique_id: str | None) -> None:
        with self._lock:
            self._in_hand.discard(unique_id)
            if unique_id is not None:
                self._handled[unique_id] = None
                while len(self._handled) > self._size:
                    self._handled.popitem(last=False)

    def given_back(self, unique_id: str | None) -> None:
        """Requeued: a later delivery of it is not a copy."""
        with self._lock:
            self._in_hand.discard(unique_id)


class _OnceIncoming(NotificationAMQPIncomingMessage):
    def acknowledge(self):
        super().acknowledge()
        self.listener.ledger.handled(self.unique_id)

    def requeue(self):
        self.listener.ledger.given_back(self.unique_id)
        super().requeue()


class _OnceListener(NotificationAMQPListener):
    """oslo's notification listener that acknowledges and drops copies (consumer thread)."""

    message_cls = _OnceIncoming
    ledger: Ledger

    def __call__(self, message):
        unique_id = message.get(UNIQUE_ID)
        if not self.ledger.admit(unique_id):
            LOG.info("Dropped a copy of notification %s: already handled or in hand", unique_id)
            message.acknowledge()
            return
        super().__call__(message)


class _KeepsUniqueId(dict):
    """A message whose unique id, once set, stays the same when oslo sets it again."""

    def update(self, *args, **kwargs):
        unique_id = self.get(UNIQUE_ID)
        super().update(*args, **kwargs)
        if unique_id is not None:
            self[UNIQUE_ID] = unique_id


class RabbitOnceDriver(RabbitDriver):
    """``rabbit://`` whose notifications are sent until taken and delivered once, and,
    with a spool directory, spooled on local disk first."""

    def __init__(self, conf, url, default_exchange=None, allowed_remote_exmods=None):
        rabbit = TransportURL(conf, "rabbit", url.virtual_host, url.hosts, query=url.query)
        super().__init__(conf, rabbit, default_exchange, allowed_remote_exmods)
        self._retry_interval = max(1.0, float(conf.oslo_messaging_rabbit.rabbit_retry_interval))
        conf.register_opts(spool_opts.OPTS, group=spool_opts.GROUP)
        self._spool_conf = conf[spool_opts.GROUP]
        self._outbox: Outbox | None = None
        self._outbox_pid: int | None = None
        self._outbox_lock = threading.Lock()
        directory = self._spool_conf.spool_directory
        if directory and leftovers(Path(directory), process_name()):
            self._outbox_here()  # what a process of this name left: send it now

    def send_notification(self, target, ctxt, message, version, retry=None):
        if self._spool_conf.spool_directory:
            message = dict(message)  # the notifier hands the same dict to every topic
            message[UNIQUE_ID] = uuid.uuid4().hex
            context = ctxt if isinstance(ctxt, dict) else ctxt.to_dict()
            notification = Notification(target.exchange, target.topic, context, message, version)
            self._outbox_here().put(notification)
        elif retry is not None and retry >= 0:
            super().send_notification(target, ctxt, message, version, retry=retry)
        else:
            self._send_until_taken(target, ctxt, message, version)

    def _send_until_taken(self, target, ctxt, message, version) -> None:
        message = _KeepsUniqueId(message)
        while True:
            try:
                return super().send_notification(target, ctxt, message, version, retry=-1)
            except (MessageDeliveryFailure, OperationalError) as exc:
                LOG.warning(
                    "Notification to %s not sent yet, trying again in %g s: %s",
                    target.topic,
                    self._retry_interval,
                    exc,
                )
                time.sleep(self._retry_interval)

    def _publish(self, notification: Notification) -> None:
        """Send a spooled notification; returns once RabbitMQ confirmed it (sender)."""
        target = Target(exchange=notification.exchange, topic=notification.topic)
        self._send_until_taken(
            target, notification.ctxt, notification.message, notification.version
        )

    def _outbox_here(self) -> Outbox:
        """This process's outbox, opened on first use (again in a forked child)."""
        outbox = self._outbox
        if outbox is not None and self._outbox_pid == os.getpid():
            return outbox
        with self._outbox_lock:
            if self._outbox is None or self._outbox_pid != os.getpid():
                if self._outbox is not None:
                    self._outbox.abandon()
                group = self._spool_conf
                limits = Limits(
                    group.spool_max_messages, group.spool_max_bytes, Policy(group.spool_when_full)
                )
                self._outbox = Outbox.open(
                    Path(group.spool_directory), limits, group.spool_fsync, self._publish
                )
                self._outbox_pid = os.getpid()
            return self._outbox

    def cleanup(self):
        outbox, self._outbox = self._outbox, None
        if outbox is not None and self._outbox_pid == os.getpid():
            outbox.close(self._spool_conf.spool_flush_timeout)
        super().cleanup()

    def listen_for_notifications(self, targets_and_priorities, pool, batch_size, batch_timeout):
        listener = super().listen_for_notifications(
            targets_and_priorities, pool, batch_size, batch_timeout
        )
        inner = listener._poll_style_listener  # not started: no message read yet
        inner.__class__ = _OnceListener
        inner.ledger = Ledger()
        return listener
