"""Sending again what nats-server said nobody listens to, until the sender's deadline.

NATS keeps no queue: a request published while no server of its topic is subscribed (an
RPC server restarting, a rolling upgrade) is dropped, and nats-server says so by sending a
"503 no responders" status to the message's reply subject. Every call and cast therefore
goes out with a reply subject of its own (``<reply prefix>.<token>``); on a 503 for that
token the message is published again after a short pause, until its deadline.

A call's entry ends with its first reply or heartbeat. A cast's ends with a *marker*: an
empty message this link sends to its own ``<reply prefix>.m<round>`` after the cast. The
server handles one connection's messages in order and sends a 503 right away, so when the
marker comes back every 503 for the casts before it has been seen: the rest were taken.

A message sent to one member of a queue group (``S.<instance id>``, see
:mod:`~hybridmsg.drivers.nats.rotation`) that comes back as 503 found that member gone: the
member is forgotten and the message goes at once to the group ``S`` itself, and from then
on as any other.

Runs in the link's I/O thread only; no locks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

LOG = logging.getLogger(__name__)

NO_RESPONDERS = "503"
MAX_PAUSE = 0.5
SWEEP_EVERY = 1024
MARKER_TIMEOUT = 5.0

Publish = Callable[[str, bytes, str], Awaitable[None]]
#: Called with (group subject, member subject) when a member turned out to be gone.
Gone = Callable[[str, str], None]


@dataclass
class _Pending:
    subject: str
    group: str  # where to send it when ``subject``, a member of the group, is gone
    body: bytes
    deadline: float
    is_call: bool
    attempts: int = 1
    round: int | None = 0  # None: waiting to be sent again, no marker can confirm it


class Resender:
    """Messages in flight that a 503 may bring back, keyed by reply-subject token."""

    def __init__(
        self, reply_prefix: str, publish: Publish, gone: Gone, first_pause: float = 0.05
    ):
        self._prefix = reply_prefix
        self._publish = publish
        self._gone = gone
        self._first_pause = first_pause
        self._tokens = itertools.count()
        self._pending: dict[str, _Pending] = {}
        self._round = 0
        self._markers: dict[str, asyncio.Future] = {}
        self._confirming: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def wildcard(self) -> str:
        return f"{self._prefix}.*"

    def track(
        self, subject: str, group: str, body: bytes, deadline: float, is_call: bool
    ) -> str:
        """Register a message to ``subject`` (``group``, or one member of it); return the
        reply subject to publish it with."""
        number = next(self._tokens)
        if number % SWEEP_EVERY == 0:
            self._sweep(asyncio.get_running_loop().time())
        token = str(number)
        self._pending[token] = _Pending(
            subject, group, body, deadline, is_call, round=self._round
        )
        if not is_call and (self._confirming is None or self._confirming.done()):
            self._confirming = asyncio.get_running_loop().create_task(self._confirm())
        return f"{self._prefix}.{token}"

    def _sweep(self, now: float) -> None:
        """Forget messages past their deadline that never got an answer (a server died)."""
        for token in [t for t, p in self._pending.items() if p.deadline <= now]:
            del self._pending[token]

    def consumed(self, subject: str, status: str | None) -> bool:
        """Account for a message on the reply subject; False if it is a reply to deliver."""
        token = subject[len(self._prefix) + 1:]
        marker = self._markers.pop(token, None)
        if marker is not None:
            if not marker.done():
                marker.set_result(None)
            return True
        if status is None:
            self._pending.pop(token, None)  # a reply or heartbeat: a server has the call
            return False
        pending = self._pending.get(token)
        if status == NO_RESPONDERS and pending is not None:
            pending.round = None
            at_once = pending.subject != pending.group
            if at_once:
                self._gone(pending.group, pending.subject)
                pending.subject = pending.group
            asyncio.get_running_loop().create_task(self._again(token, pending, at_once))
        return True

    async def _confirm(self) -> None:
        loop = asyncio.get_running_loop()
        while any(not p.is_call and p.round is not None for p in self._pending.values()):
            covered = self._round
            self._round += 1
            token = f"m{covered}"
            marker = self._markers[token] = loop.create_future()
            try:
                await self._publish(f"{self._prefix}.{token}", b"", "")
                await asyncio.wait_for(marker, MARKER_TIMEOUT)
            except Exception as exc:  # disconnected: these casts wait for the next round
                self._markers.pop(token, None)
                LOG.debug("Cast confirmation round %d failed: %r", covered, exc)
                await asyncio.sleep(MAX_PAUSE)
                continue
            for done in [t for t, p in self._pending.items()
                         if not p.is_call and p.round is not None and p.round <= covered]:
                del self._pending[done]

    async def _again(self, token: str, pending: _Pending, at_once: bool) -> None:
        loop = asyncio.get_running_loop()
        pause = 0.0 if at_once else min(self._first_pause * 2 ** (pending.attempts - 1), MAX_PAUSE)
        if loop.time() + pause >= pending.deadline:
            self._pending.pop(token, None)
            if not pending.is_call:
                LOG.error("Cast to %s dropped: no server subscribed before its deadline",
                          pending.subject)
            return
        await asyncio.sleep(pause)
        if self._pending.get(token) is not pending:
            return
        pending.attempts += 1
        pending.round = self._round
        await self._publish(pending.subject, pending.body, f"{self._prefix}.{token}")
        if not pending.is_call and (self._confirming is None or self._confirming.done()):
            self._confirming = loop.create_task(self._confirm())
