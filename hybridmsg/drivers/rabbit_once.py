"""The ``rabbit-once://`` driver: oslo.messaging's own RabbitMQ driver, whose notification
listeners hand each notification to the service once, also after a broker crash.

RabbitMQ delivers at least once. After a broker crash a notifier republishes what the
broker stored but never confirmed, and a listener gets again what it acknowledged but the
broker did not record; the copies share oslo's unique id. oslo.messaging 18.x drops a copy
only when the first was acknowledged among the last 16, and then leaves it unacknowledged
(it is delivered again at the next reconnect); two copies read before the first is handled
both reach the service. This driver is ``rabbit://`` in every other respect (same options,
``[oslo_messaging_rabbit]``, same queues and wire); its notification listeners remember the
ids of the last :data:`REMEMBERED` notifications handled and of those in hand, acknowledge
every copy of them and drop it (logged).
"""

from __future__ import annotations

import collections
import logging
import threading

from oslo_messaging import TransportURL

from hybridmsg.drivers.shim import (
    UNIQUE_ID,
    NotificationAMQPIncomingMessage,
    NotificationAMQPListener,
    RabbitDriver,
)

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


class RabbitOnceDriver(RabbitDriver):
    """``rabbit://`` with notification listeners that deliver each notification once."""

    def __init__(self, conf, url, default_exchange=None, allowed_remote_exmods=None):
        rabbit = TransportURL(conf, "rabbit", url.virtual_host, url.hosts, query=url.query)
        super().__init__(conf, rabbit, default_exchange, allowed_remote_exmods)

    def listen_for_notifications(self, targets_and_priorities, pool, batch_size, batch_timeout):
        listener = super().listen_for_notifications(
            targets_and_priorities, pool, batch_size, batch_timeout
        )
        inner = listener._poll_style_listener  # not started: no message read yet
        inner.__class__ = _OnceListener
        inner.ledger = Ledger()
        return listener
