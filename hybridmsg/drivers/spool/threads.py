"""The kinds of thread a spool deals with, in a plain and in an eventlet-patched process.

The sender is a ``threading.Thread`` as the process has it: a green thread once eventlet
has patched ``threading``, because it publishes through oslo's own RabbitMQ connections,
which are green there too (their locks, heartbeat thread and sockets belong to the
hub); a native thread sharing them with the hub would be unsafe. What touches only
SQLite may use the OS-thread kind (:func:`native_threading`) also in a patched process:
the lock around the spool's statements, and the checkpointer thread, which may flush the
disk and must not hold the hub meanwhile.
"""

from __future__ import annotations

import threading

from hybridmsg.drivers.bridge import patched


def native_threading():
    """The ``threading`` module of OS threads, also when eventlet has patched it."""
    if patched():
        from eventlet import patcher

        return patcher.original("threading")
    return threading
