"""Taking turns over the members of an RPC queue group, as RabbitMQ does among a queue's
consumers.

nats-server gives each message on a queue-group subject to a random member, so two
messages in a row may reach the same server. A sender instead learns the members of the
group on ``S`` by a *roll call*: a message on ``S.$who`` that every member answers with its
own subject ``S.<instance id>`` (see :mod:`~hybridmsg.drivers.nats.addressing`). It then
sends each call or cast to the next member in turn, and to ``S`` itself (the queue group)
while it knows none.

* The first message to ``S`` waits for the first roll call to settle: until no answer came
  for :data:`QUIET` seconds or for as long again as the roll call had taken (on a loaded
  machine answers come slowly), whichever is longer; at once on nats-server's "no
  responders" (no members); at most :data:`LIMIT` seconds after it was sent. Later
  messages to ``S`` wait behind it, in order.
* A view older than :data:`MAX_AGE` seconds is refreshed at the next send, without waiting:
  members that answer join the turn; one that is gone is dropped when a message to it
  comes back as "no responders" (the message then goes to ``S``, see
  :mod:`~hybridmsg.drivers.nats.resend`).

Roll-call answers come back on the link's reply wildcard with tokens ``w<n>``, one per
subject. Runs in the link's I/O thread only; no locks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import oslo_messaging

from hybridmsg.drivers.nats.addressing import is_member, roll_call
from hybridmsg.drivers.nats.resend import NO_RESPONDERS, Publish

LOG = logging.getLogger(__name__)

MAX_AGE = 5.0
QUIET = 0.05
LIMIT = 0.5


@dataclass
class View:
    """The members of one queue group a sender knows, and whose turn is next."""

    learned: float
    members: list[str] = field(default_factory=list)
    cursor: int = 0

    def add(self, member: str) -> None:
        if member not in self.members:
            self.members.append(member)

    def remove(self, member: str) -> None:
        if member not in self.members:
            return
        index = self.members.index(member)
        del self.members[index]
        if index < self.cursor:
            self.cursor -= 1
        if self.cursor >= len(self.members):
            self.cursor = 0

    def clear(self) -> None:
        self.members.clear()
        self.cursor = 0

    def next(self) -> str | None:
        """The member whose turn it is (None: no member known)."""
        if not self.members:
            return None
        member = self.members[self.cursor]
        self.cursor = (self.cursor + 1) % len(self.members)
        return member

    def stale(self, now: float, max_age: float) -> bool:
        return now - self.learned >= max_age


@dataclass
class _Learning:
    view: View
    settle: asyncio.TimerHandle


class Rotation:
    """Views of the queue groups this link sends to, learned and refreshed by roll call."""

    def __init__(
        self,
        reply_prefix: str,
        publish: Publish,
        rotates: Callable[[str], bool],
        release: Callable[[str], None],
        *,
        max_age: float = MAX_AGE,
        quiet: float = QUIET,
        limit: float = LIMIT,
    ):
        self._prefix = reply_prefix
        self._publish = publish
        self._rotates = rotates
        self._release = release
        self._max_age, self._quiet, self._limit = max_age, quiet, limit
        self._numbers = itertools.count()
        self._views: dict[str, View] = {}
        self._learning: dict[str, _Learning] = {}
        self._tokens: dict[str, str] = {}  # subject -> its roll-call token
        self._subjects: dict[str, str] = {}  # token -> subject

    def must_wait(self, subject: str) -> bool:
        """Whether a message to ``subject`` must wait for its first roll call (then
        :meth:`route` once the release callback named ``subject``)."""
        loop = asyncio.get_running_loop()
        view = self._views.get(subject)
        if view is not None:
            if view.stale(loop.time(), self._max_age):
                view.learned = loop.time()
                loop.create_task(self._ask(subject))
            return False
        if subject in self._learning:
            return True
        if not self._rotates(subject):
            return False
        settle = loop.call_later(self._limit, self._settle, subject)
        self._learning[subject] = _Learning(View(loop.time()), settle)
        loop.create_task(self._ask(subject))
        return True

    def route(self, subject: str) -> str:
        """Where to send the next message for ``subject``: a member, or the group itself."""
        view = self._views.get(subject)
        member = view.next() if view is not None else None
        return member or subject

    def gone(self, subject: str, member: str) -> None:
        """Forget ``member`` of ``subject``: nobody is subscribed to it any more."""
        view = self._views.get(subject)
        if view is not None:
            view.remove(member)

    def answered(self, reply_subject: str, data: bytes, status: str | None) -> bool:
        """Take a message on the reply wildcard if it answers a roll call."""
        token = reply_subject[len(self._prefix) + 1:]
        if not token.startswith("w"):
            return False
        subject = self._subjects.get(token)
        if subject is None:
            return True
        learning = self._learning.get(subject)
        view = learning.view if learning is not None else self._views.get(subject)
        if status == NO_RESPONDERS:
            view.clear()
            if learning is not None:
                self._settle(subject)
        elif status is None:
            answer = data.decode(errors="replace")
            if is_member(answer, subject):
                view.add(answer)
                if learning is not None:
                    self._wait_for_more(subject, learning)
            else:
                LOG.warning("Ignored a roll-call answer for %s naming %r", subject, answer)
        return True

    def _wait_for_more(self, subject: str, learning: _Learning) -> None:
        """After an answer, wait for more: as long again as the roll call took so far (a
        loaded machine answers slowly), at least ``quiet``, and never past ``limit``."""
        loop = asyncio.get_running_loop()
        now, asked = loop.time(), learning.view.learned
        learning.settle.cancel()
        learning.settle = loop.call_at(
            min(now + max(self._quiet, now - asked), asked + self._limit), self._settle, subject
        )

    def _settle(self, subject: str) -> None:
        learning = self._learning.pop(subject, None)
        if learning is None:
            return
        learning.settle.cancel()
        self._views[subject] = learning.view
        LOG.debug(
            "Roll call on %s: %d members in %.3f s", subject, len(learning.view.members),
            asyncio.get_running_loop().time() - learning.view.learned,
        )
        self._release(subject)

    async def _ask(self, subject: str) -> None:
        token = self._tokens.get(subject)
        if token is None:
            token = self._tokens[subject] = f"w{next(self._numbers)}"
            self._subjects[token] = subject
        try:
            await self._publish(roll_call(subject), b"", f"{self._prefix}.{token}")
        except oslo_messaging.MessagingException as exc:
            LOG.debug("Roll call on %s not sent: %s", subject, exc)
            self._settle(subject)
