"""The sender of a notification spool, and what ``notify()`` does when the spool is full.

An :class:`Outbox` owns one spool file and one sender thread. :meth:`Outbox.put` stores a
:class:`Notification` and wakes the sender; the sender takes the oldest entry, hands it
to ``publish`` (which returns once RabbitMQ confirmed it, trying again meanwhile) and
only then removes it, so what is on disk is what RabbitMQ has not confirmed. A crash
between the confirm and the removal sends the entry again at the next start, under the
same unique id (a copy the ``rabbit-once://`` listener drops).

When the spool is full, ``put`` waits for room (:attr:`Policy.BLOCK`, logged once per
outage) or the spool drops its oldest entries (:attr:`Policy.DROP_OLDEST`, each logged).
While entries wait longer than :data:`BACKLOG_AGE`, the spool's depth, the age of its
oldest entry and its drops are logged every :data:`REPORT_EVERY` seconds, and once more
when it has drained. See :mod:`.threads` for which kind of thread the sender is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from oslo_serialization import jsonutils

from hybridmsg.drivers.shim import UNIQUE_ID
from hybridmsg.drivers.spool.slots import Slot, process_name
from hybridmsg.drivers.spool.store import Entry, Limits, Offer, Spool, Stats

LOG = logging.getLogger(__name__)
#: seconds between two reports of a backlog
REPORT_EVERY = 10.0
#: an entry waiting this long (seconds) means RabbitMQ is not taking them: a backlog
BACKLOG_AGE = 1.0
#: the sender looks at the spool at least this often (seconds), woken or not
IDLE_WAIT = 1.0
#: a blocked put() looks for room at least this often (seconds)
ROOM_WAIT = 1.0
#: how long close() waits for the sender to stop between two entries
JOIN_TIMEOUT = 1.0


@dataclass(frozen=True)
class Notification:
    """What oslo's driver needs to send one notification, as the notifier gave it."""

    exchange: str | None
    topic: str
    ctxt: dict
    message: dict
    version: float

    def to_json(self) -> str:
        return jsonutils.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Notification:
        return cls(**jsonutils.loads(text))

    def __str__(self) -> str:
        return (
            f"{self.message.get('event_type', 'notification')} to {self.topic} "
            f"(unique id {self.message.get(UNIQUE_ID)})"
        )


Publish = Callable[[Notification], None]
#: spools a forked child inherited: never closed there (see :meth:`Outbox.abandon`)
_ABANDONED: list[Spool] = []


class Outbox:
    """One spool file and its sender; :meth:`close` it."""

    def __init__(self, slot: Slot, spool: Spool, publish: Publish) -> None:
        self._slot, self._spool, self._publish = slot, spool, publish
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._stopping = False
        self._full_logged = False
        self._backlog = False
        self._last_report = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"hybridmsg-spool-{slot.path.stem}", daemon=True
        )
        self._thread.start()

    @classmethod
    def open(cls, directory: Path, limits: Limits, fsync: bool, publish: Publish) -> Outbox:
        """The outbox of this process in ``directory`` (see :mod:`.slots`), its sender
        started: it sends at once what the file already holds."""
        slot = Slot.claim(directory, process_name())
        try:
            spool = Spool(slot.path, limits, fsync=fsync)
        except BaseException:
            slot.release()
            raise
        LOG.info(
            "Notification spool %s: %d waiting, %d dropped", slot.path, spool.depth, spool.dropped
        )
        return cls(slot, spool, publish)

    def abandon(self) -> None:
        """In a child forked from the process that opened this outbox: let it be. The
        child's copy of the slot's lock descriptor is closed (the parent keeps the lock);
        the SQLite connections are kept, unused and unclosed, as SQLite asks of a
        connection that crossed a fork."""
        self._slot.release()
        _ABANDONED.append(self._spool)

    @property
    def path(self) -> Path:
        return self._spool.path

    def stats(self) -> Stats:
        return self._spool.stats()

    def put(self, notification: Notification) -> None:
        """Store ``notification`` for the sender; under BLOCK, wait while the spool is full."""
        body = notification.to_json()
        offer = self._spool.offer(body)
        if not offer.stored:
            offer = self._wait_for_room(body)
        self._wake.set()
        for entry in offer.dropped:
            LOG.warning(
                "Notification spool %s full: dropped the oldest, %s (%d dropped in all)",
                self.path,
                Notification.from_json(entry.body),
                self._spool.dropped,
            )
        self._report_backlog()

    def _wait_for_room(self, body: str) -> Offer:
        with self._room:
            while True:
                offer = self._spool.offer(body)
                if offer.stored:
                    return offer
                if not self._full_logged:
                    self._full_logged = True
                    limits = self._spool.limits
                    LOG.warning(
                        "Notification spool %s full (%d notifications, %d bytes; limits %d, "
                        "%d): notify() waits until RabbitMQ takes some",
                        self.path,
                        self._spool.depth,
                        self._spool.size,
                        limits.max_messages,
                        limits.max_bytes,
                    )
                self._wake.set()
                self._room.wait(ROOM_WAIT)

    def _report_backlog(self) -> None:
        """Log depth, oldest and drops every REPORT_EVERY s while there is a backlog."""
        now = time.monotonic()
        if now - self._last_report < REPORT_EVERY:
            return
        self._last_report = now
        stats = self._spool.stats()
        age = stats.oldest_age()
        if age is not None and age >= BACKLOG_AGE:
            self._backlog = True
            LOG.info(
                "Notification spool %s: %d waiting (%d bytes), the oldest for %.1f s, %d dropped",
                self.path,
                stats.depth,
                stats.size,
                age,
                stats.dropped,
            )

    def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                entry = self._spool.next()
                if entry is None:
                    self._drained()
                    self._wake.wait(IDLE_WAIT)
                    continue
                if not self._send(entry):
                    return
            except Exception:  # the spool file itself failed (disk full, I/O error)
                LOG.exception("Notification spool %s failed; trying again", self.path)
                self._wake.wait(IDLE_WAIT)
            with self._room:
                self._room.notify_all()
            self._report_backlog()

    def _send(self, entry: Entry) -> bool:
        """Publish ``entry`` and remove it; False when stopped meanwhile (entry kept)."""
        notification = Notification.from_json(entry.body)
        try:
            self._publish(notification)
        except Exception:
            if self._stopping:
                return False
            LOG.exception("Could not send %s: dropped it", notification)
            self._spool.remove(entry, dropped=True)
            return True
        self._spool.remove(entry)
        return True

    def _drained(self) -> None:
        self._full_logged = False
        if self._backlog:
            self._backlog = False
            LOG.info(
                "Notification spool %s drained: RabbitMQ has confirmed every notification "
                "(%d dropped)",
                self.path,
                self._spool.dropped,
            )

    def close(self, flush_timeout: float) -> None:
        """Wait up to ``flush_timeout`` s for the spool to empty, stop the sender and
        close the file (removed when empty); what is left is sent at the next start."""
        with self._room:
            self._room.wait_for(lambda: self._spool.depth == 0, flush_timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(JOIN_TIMEOUT)
        left = self._spool.depth
        if left:
            LOG.warning(
                "%d notifications not sent yet stay in %s: sent when this service starts again",
                left,
                self.path,
            )
        if self._thread.is_alive():
            return  # still publishing one: keep the file open and the slot
        self._spool.close(remove_if_empty=True)
        self._slot.release()
