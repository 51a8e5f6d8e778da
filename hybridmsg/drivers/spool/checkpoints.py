"""Checkpoints of a spool file, on an OS thread of their own.

A spool commits each entry and each removal on its own (WAL mode, automatic checkpoints
off); :class:`Checkpointer` copies the write-ahead log into the database file every
:data:`EVERY` commits, so that the log starts over and stays a few megabytes, also during
an outage when only entries are added. It runs on a native thread with a connection of
its own: a passive checkpoint blocks no writer, and the disk flush it may do holds up
neither a caller of ``notify()``, nor the sender, nor eventlet's hub.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from hybridmsg.drivers.spool.threads import native_threading

LOG = logging.getLogger(__name__)
#: commits between two checkpoints
EVERY = 1000
#: how long close() waits for a checkpoint under way
JOIN_TIMEOUT = 5.0


class Checkpointer:
    """Checkpoints ``path`` when told that EVERY commits were made; :meth:`close` it."""

    def __init__(self, path: Path) -> None:
        native = native_threading()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._due = native.Event()
        self._closing = False
        self._commits = 0
        self._thread = native.Thread(
            target=self._run, name=f"hybridmsg-spool-checkpoint-{path.stem}", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Count one commit (the caller holds the spool's lock)."""
        self._commits += 1
        if self._commits >= EVERY:
            self._commits = 0
            self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closing:
                return
            try:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                LOG.exception("Checkpoint of a notification spool failed; trying again later")

    def close(self) -> None:
        self._closing = True
        self._due.set()
        self._thread.join(JOIN_TIMEOUT)
        if not self._thread.is_alive():
            self._db.close()
