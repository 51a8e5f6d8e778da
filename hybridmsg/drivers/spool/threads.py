"""The kinds of thread a spool deals with, in a plain and in an eventlet-patched process.

The sender is a ``threading.Thread`` as the process has it: a green thread once eventlet
has patched ``threading``, because it publishes through oslo's own RabbitMQ connections,
which are green there too (their locks, heartbeat thread and sockets belong to the
hub); a native thread sharing them with the hub would be unsafe. What would block the
hub for longer than a quick SQLite statement (a checkpoint, which may flush the disk)
runs in eventlet's pool of native threads instead (:func:`off_hub`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from hybridmsg.drivers.bridge import patched

T = TypeVar("T")


def native_lock():
    """A lock of the OS-thread kind, also in a patched process."""
    if patched():
        from eventlet import patcher

        return patcher.original("threading").Lock()
    return threading.Lock()


def off_hub(fn: Callable[[], T]) -> T:
    """``fn()``; in a patched process in a native thread, the caller waiting green."""
    if patched():
        from eventlet import tpool

        return tpool.execute(fn)
    return fn()
