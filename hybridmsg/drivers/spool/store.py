"""The spool file: notifications in SQLite (WAL), oldest first, bounded.

One :class:`Spool` per spool file, used by the callers of ``notify()`` (:meth:`Spool.offer`)
and by the sender (:meth:`Spool.next`, :meth:`Spool.remove`). Each entry is one serialized
notification with the wall-clock time it was accepted; the table ``counter`` keeps the
number of notifications dropped, so that ``hybridmsg status`` (:func:`read_stats`, read
only, from another process) shows it too.

Durability: WAL with ``synchronous = NORMAL`` keeps a committed entry across a crash of
the process (kill -9) without a disk flush per entry; ``fsync`` (``synchronous = FULL``)
keeps it across a power cut as well. Automatic checkpoints are off, so a commit never
waits for one: a :class:`~.checkpoints.Checkpointer` makes them.

Threads: one connection serves every thread, behind a lock of the OS-thread kind, also in
an eventlet-patched process. It is held only around SQLite calls, which never yield to
eventlet's hub, so a green thread never waits for it while another green thread of the
same hub holds it.
"""

from __future__ import annotations

import enum
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from hybridmsg.drivers.spool.checkpoints import Checkpointer
from hybridmsg.drivers.spool.opts import BLOCK, DROP_OLDEST
from hybridmsg.drivers.spool.slots import SpoolError
from hybridmsg.drivers.spool.threads import native_threading

SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    seq INTEGER PRIMARY KEY,
    accepted REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
DROPPED = "dropped"
INSERT = "INSERT INTO entry (accepted, size, body) VALUES (?, ?, ?)"
COUNT_DROPS = (
    "INSERT INTO counter VALUES (?, ?) "
    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value"
)


class Policy(enum.StrEnum):
    """What :meth:`Spool.offer` does when the spool is full."""

    BLOCK = BLOCK
    DROP_OLDEST = DROP_OLDEST


@dataclass(frozen=True)
class Limits:
    max_messages: int
    max_bytes: int
    policy: Policy = Policy.BLOCK


@dataclass(frozen=True)
class Entry:
    seq: int
    accepted: float
    size: int
    body: str


@dataclass(frozen=True)
class Offer:
    """The answer to :meth:`Spool.offer`: stored or not (full, BLOCK), and what was dropped
    to make room (DROP_OLDEST)."""

    stored: bool
    dropped: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class Stats:
    """A spool as ``status`` and the log show it."""

    path: Path
    depth: int
    size: int
    oldest: float | None  # wall-clock time the oldest entry was accepted
    dropped: int

    def oldest_age(self, now: float | None = None) -> float | None:
        """Seconds the oldest entry has waited, None when empty."""
        return None if self.oldest is None else max(0.0, (now or time.time()) - self.oldest)


def _stats(db: sqlite3.Connection, path: Path) -> Stats:
    depth, size, oldest = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(accepted) FROM entry"
    ).fetchone()
    row = db.execute("SELECT value FROM counter WHERE name = ?", (DROPPED,)).fetchone()
    return Stats(path, depth, size, oldest, row[0] if row else 0)


class Spool:
    """One spool file, open for this process (which owns it: see :mod:`.slots`)."""

    def __init__(self, path: Path, limits: Limits, *, fsync: bool = False) -> None:
        self.path = path
        self.limits = limits
        self._lock = native_threading().Lock()
        path.touch(mode=0o600)  # private; SQLite gives its -wal and -shm files the same mode
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._db.executescript(SCHEMA)
        self._checkpointer = Checkpointer(path)
        stats = _stats(self._db, path)
        self.depth, self.size, self.dropped = stats.depth, stats.size, stats.dropped
        #: the entry the sender is publishing: never dropped to make room
        self._sending: int | None = None

    def offer(self, body: str) -> Offer:
        """Store ``body`` at the end, unless the spool is full: then, under BLOCK, store
        nothing; under DROP_OLDEST, drop the oldest entries (but the one being sent) until
        it fits. An empty spool takes any entry, however large."""
        size = len(body.encode())
        with self._lock:
            dropped: list[Entry] = []
            if not self._fits(size):
                if self.limits.policy is Policy.BLOCK:
                    return Offer(stored=False)
                dropped = self._make_room(size)
            insert = (INSERT, (time.time(), size, body))
            if dropped:
                self._transaction(
                    *[("DELETE FROM entry WHERE seq = ?", (entry.seq,)) for entry in dropped],
                    (COUNT_DROPS, (DROPPED, len(dropped))),
                    insert,
                )
            else:  # one statement, its own transaction: the common case stays short
                self._db.execute(*insert)
            self._checkpointer.committed()
            self.depth += 1 - len(dropped)
            self.size += size - sum(entry.size for entry in dropped)
            self.dropped += len(dropped)
            return Offer(stored=True, dropped=tuple(dropped))

    def _transaction(self, *statements: tuple[str, tuple]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                self._db.execute(*statement)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _fits(self, size: int) -> bool:
        return self.depth == 0 or (
            self.depth < self.limits.max_messages and self.size + size <= self.limits.max_bytes
        )

    def _make_room(self, size: int) -> list[Entry]:
        """The oldest entries (but the one being sent) whose removal lets ``size`` fit."""
        victims: list[Entry] = []
        depth, total = self.depth, self.size
        rows = self._db.execute(
            "SELECT seq, accepted, size, body FROM entry WHERE seq IS NOT ? ORDER BY seq",
            (self._sending,),
        )
        for row in rows:
            if depth < self.limits.max_messages and total + size <= self.limits.max_bytes:
                break
            entry = Entry(*row)
            victims.append(entry)
            depth, total = depth - 1, total - entry.size
        return victims

    def next(self) -> Entry | None:
        """The oldest entry, now being sent (sender), or None when the spool is empty."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, accepted, size, body FROM entry ORDER BY seq LIMIT 1"
            ).fetchone()
            self._sending = row[0] if row else None
        return Entry(*row) if row else None

    def remove(self, entry: Entry, *, dropped: bool = False) -> None:
        """Forget ``entry`` (sender): RabbitMQ confirmed it, or, ``dropped``, it cannot be
        sent (counted as dropped)."""
        delete = ("DELETE FROM entry WHERE seq = ?", (entry.seq,))
        with self._lock:
            if dropped:
                self._transaction(delete, (COUNT_DROPS, (DROPPED, 1)))
            else:
                self._db.execute(*delete)
            self._checkpointer.committed()
            self._sending = None
            self.depth -= 1
            self.size -= entry.size
            self.dropped += dropped

    def stats(self) -> Stats:
        """Depth, size, oldest entry and drops (cheap: one indexed lookup)."""
        with self._lock:
            row = self._db.execute("SELECT accepted FROM entry ORDER BY seq LIMIT 1").fetchone()
            return Stats(self.path, self.depth, self.size, row and row[0], self.dropped)

    def close(self, *, remove_if_empty: bool = False) -> None:
        """Close the file; ``remove_if_empty`` deletes it when it holds nothing."""
        with self._lock:
            empty = self.depth == 0
            self._checkpointer.close()
            self._db.close()
        if remove_if_empty and empty:
            for suffix in ("", "-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)


def read_spools(directory: Path) -> list[Stats]:
    """The stats of every spool file in ``directory``, read only (e.g. from
    ``hybridmsg status`` while their processes run); none when it does not exist."""
    found = []
    for path in sorted(directory.glob("*.sqlite")):
        try:
            found.append(read_stats(path))
        except sqlite3.Error as exc:
            if path.exists():
                raise SpoolError(f"cannot read the notification spool {path}: {exc}") from None
            # removed meanwhile: emptied by a clean stop
    return found


def read_stats(path: Path) -> Stats:
    """The stats of the spool file ``path``, read only (e.g. from ``hybridmsg status``
    while its process runs)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _stats(db, path)
    finally:
        db.close()
