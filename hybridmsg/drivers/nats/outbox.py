"""Handing messages from caller threads to the I/O thread, in order, with few wake-ups.

Callers append to a deque and wake the loop only when no wake-up is already on its way;
one long-lived task in the loop sends everything queued, in order. That replaces a task, a
future chain and a self-pipe write per message (``run_coroutine_threadsafe``) with, under
load, one wake-up for many messages.

A message may have to wait for something the I/O thread learns first (the members of its
queue group, see :mod:`~hybridmsg.drivers.nats.rotation`): the ``hold`` callback says so,
and the messages for that subject stay aside, in order, until :meth:`Outbox.release`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass

import oslo_messaging

LOG = logging.getLogger(__name__)


@dataclass(slots=True)
class Outgoing:
    """One message to publish; ``sent`` (None for replies) learns how it went."""

    subject: str
    body: bytes
    reply_to: str | None
    deadline: float | None
    sent: Future | None


class Outbox:
    """Messages waiting for the I/O thread; :meth:`put` from any thread."""

    def __init__(
        self,
        send: Callable[[Outgoing], Awaitable[None]],
        hold: Callable[[Outgoing], bool] = lambda item: False,
    ):
        self._send = send
        self._hold = hold
        self._queue: collections.deque[Outgoing] = collections.deque()
        self._held: dict[str, list[Outgoing]] = {}
        self._wake_pending = False
        self._ready: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task:
        """Start sending (in the I/O thread, which this binds to); returns the task."""
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        return self._loop.create_task(self._run())

    def put(self, item: Outgoing) -> None:
        """Queue ``item`` (any thread, once :meth:`start` ran)."""
        self._queue.append(item)
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._wake_pending = False
        self._ready.set()

    async def _run(self) -> None:
        """Send what is queued, in order, for as long as the link lives."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                item = self._queue.popleft()
                if self._hold(item):
                    self._held.setdefault(item.subject, []).append(item)
                    continue
                if item.sent is not None and not item.sent.set_running_or_notify_cancel():
                    continue  # its caller gave up before it left
                try:
                    await self._send(item)
                except oslo_messaging.MessagingException as exc:
                    if item.sent is None:
                        LOG.warning("A reply was lost: %s", exc)
                    else:
                        item.sent.set_exception(exc)
                else:
                    if item.sent is not None:
                        item.sent.set_result(None)

    def release(self, subject: str) -> None:
        """Send the messages held for ``subject`` next, in order (I/O thread)."""
        self._queue.extendleft(reversed(self._held.pop(subject, [])))
        self._ready.set()

    def fail_all(self, why: str) -> None:
        """Fail everything still queued or held (the link is closing)."""
        for held in self._held.values():
            self._queue.extend(held)
        self._held.clear()
        while self._queue:
            item = self._queue.popleft()
            if item.sent is not None and item.sent.set_running_or_notify_cancel():
                item.sent.set_exception(oslo_messaging.MessageDeliveryFailure(why))
