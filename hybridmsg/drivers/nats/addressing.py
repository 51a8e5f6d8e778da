"""NATS subjects for oslo targets. Pure functions, no I/O.

Layout: ``<prefix>.<vhost>.<kind>.<exchange>.<topic>[.<server>]`` with kind one of
``any`` (RPC to one server of a topic, a queue group), ``one`` (RPC to one named server),
``all`` (fanout), ``notify``, and ``reply`` for each connection's reply subject. Every
token is escaped so that dots in host names, topics or priorities never split a token and
no name can reach another's subjects: characters outside ``[A-Za-z0-9_-]`` become
``%XX`` (UTF-8 bytes) and the empty string becomes ``~``.

Every member of an RPC queue group (``any``, ``one``) on subject ``S`` also has a subject of
its own, ``S.<instance id>``, and answers roll calls on ``S.$who`` with it, so that senders
can take turns over the members (see :mod:`~hybridmsg.drivers.nats.rotation`). Escaped
tokens never contain ``$``: no name reaches a roll-call subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

_SAFE = re.compile(r"[A-Za-z0-9_-]")
_INSTANCE = re.compile(r"[0-9a-f]{32}")
ROLL_CALL = "$who"


def escape(token: str) -> str:
    """Make ``token`` one NATS subject token, reversibly."""
    if not token:
        return "~"
    return "".join(
        ch if _SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode()) for ch in token
    )


@dataclass(frozen=True)
class NatsAddressing:
    """Subjects within one vhost (the path of the transport URL)."""

    vhost: str = ""
    prefix: str = "openstack"

    def _subject(self, kind: str, *tokens: str) -> str:
        return ".".join((self.prefix, escape(self.vhost), kind, *map(escape, tokens)))

    def anycast(self, exchange: str, topic: str) -> str:
        return self._subject("any", exchange, topic)

    def unicast(self, exchange: str, topic: str, server: str) -> str:
        return self._subject("one", exchange, topic, server)

    def multicast(self, exchange: str, topic: str) -> str:
        return self._subject("all", exchange, topic)

    def notify(self, exchange: str, topic: str) -> str:
        return self._subject("notify", exchange, topic)

    def group(self, pool: str | None) -> str:
        return "pool-" + escape(pool) if pool else "listeners"

    def reply(self, connection_id: str) -> str:
        return self._subject("reply", connection_id)

    def rotates(self, subject: str) -> bool:
        """Whether ``subject`` is an RPC queue group's (``any`` or ``one``), whose senders
        take turns over its members."""
        return subject.startswith(self._rotating)

    @cached_property
    def _rotating(self) -> tuple[str, str]:
        head = f"{self.prefix}.{escape(self.vhost)}"
        return f"{head}.any.", f"{head}.one."

    def namespace(self) -> str:
        """A wildcard for every subject of this vhost (for server permissions)."""
        return ".".join((self.prefix, escape(self.vhost), ">"))


def member(subject: str, instance: str) -> str:
    """The subject of one member (``instance``: a uuid4 hex) of the queue group ``subject``."""
    return f"{subject}.{instance}"


def roll_call(subject: str) -> str:
    """Where the members of the queue group ``subject`` answer who they are."""
    return f"{subject}.{ROLL_CALL}"


def is_member(answer: str, subject: str) -> bool:
    """Whether a roll-call answer names a member subject of ``subject`` (and nothing else)."""
    head = subject + "."
    return answer.startswith(head) and _INSTANCE.fullmatch(answer[len(head):]) is not None
