"""Native I/O threads, and handing their results back to callers, green or native.

A wire's I/O loop (:func:`event_loop`, run by :func:`run_loop`: nats-py on it for NATS,
proton's engine for AMQP) runs on a native OS thread, also when eventlet has
monkey-patched the process: under patching a ``threading.Thread`` is a greenlet of the
one OS thread, and two loops on one OS thread collide. What crosses from that thread to
the callers goes through this module:

* :func:`future` makes the futures the I/O thread resolves. Unpatched, a plain
  ``concurrent.futures.Future``; patched, one whose lock is a native one, so resolving it
  from the I/O thread never touches eventlet's green primitives.
* :func:`wait` waits for such a future: a native caller blocks on it; a green caller
  sleeps on a green event that the I/O thread wakes through the hub's :class:`_Portal`
  (a pipe the hub watches), so the hub keeps running other greenlets meanwhile.
* :func:`in_callers` wraps a callback the I/O thread calls (a message for a listener, a
  reply for a waiting call) so that, in a patched process, it runs in a greenlet of the
  caller's hub instead, where oslo's executors and green queues live. Unpatched, it
  returns the callback unchanged: no hop is added to the threaded case.

Nothing polls on a timer: every wake-up is one byte on a pipe.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import uvloop

LOG = logging.getLogger(__name__)

T = TypeVar("T")


def patched() -> bool:
    """Whether eventlet has monkey-patched ``threading`` in this process."""
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    return eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("thread")


def _native_threading():
    if patched():
        from eventlet import patcher

        return patcher.original("threading")
    return threading


def io_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread for an I/O loop: a native OS thread even in a patched process."""
    return _native_threading().Thread(target=target, name=name, daemon=True)


def event_loop() -> asyncio.AbstractEventLoop:
    """A new asyncio loop for an I/O thread: uvloop's, which runs on libuv in C. It polls
    and resolves host names without Python's ``select`` and ``socket`` modules, so
    eventlet's patching never reaches it, and it costs less per message than the stock
    loop (``docs/benchmarks.md``)."""
    return uvloop.new_event_loop()


def run_loop(loop: asyncio.AbstractEventLoop, first: Callable[[], None] | None = None) -> None:
    """Run ``loop`` in this (I/O) thread until it is stopped, ``first()`` first, then cancel
    what tasks it still has, let them end, and close it."""
    asyncio.set_event_loop(loop)
    if first is not None:
        loop.call_soon(first)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


def native_ident() -> int:
    """The OS-level identity of the running thread (green threads share their OS thread's)."""
    return _native_threading().get_ident()


def native_lock():
    """A lock that the I/O thread and callers, green or native, may share; hold it only
    for a few statements and never across a wait."""
    return _native_threading().Lock()


def future() -> Future:
    """A future an I/O thread may resolve and any caller may :func:`wait` for."""
    made: Future = Future()
    if patched():
        made._condition = _native_threading().Condition()  # noqa: SLF001
    return made


def wait(made: Future, timeout: float | None) -> Any:
    """``made.result(timeout)``, without blocking eventlet's hub when called from a green
    thread. Raises ``TimeoutError`` when ``timeout`` passes first."""
    if made.done() or not patched():
        return made.result(timeout)
    from eventlet.event import Event

    woken = Event()
    wake = _portal().post
    made.add_done_callback(lambda _: wake(_send_once, woken))
    if woken.wait(timeout) is None and not made.done():
        raise TimeoutError()
    return made.result(0)


def _send_once(event) -> None:
    if not event.ready():
        event.send(True)


def in_callers(callback: Callable[..., None]) -> Callable[..., None]:
    """``callback``, made to run in the calling side's world when called from an I/O
    thread: in a greenlet of the current hub when the process is patched, else as is."""
    if not patched():
        return callback
    post = _portal().post

    def deliver(*args) -> None:
        post(callback, *args)

    return deliver


class _Portal:
    """Runs functions posted from any OS thread in one greenlet of one eventlet hub."""

    def __init__(self) -> None:
        import eventlet

        self._pending: collections.deque = collections.deque()
        self._lock = native_lock()
        self._wake_pending = False
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        # eventlet's green os.read/os.write wait for the hub before every call on a pipe
        self._os = eventlet.patcher.original("os")
        eventlet.spawn_n(self._pump)

    def post(self, fn: Callable[..., None], *args) -> None:
        """Queue ``fn(*args)`` for the hub's greenlet (any thread)."""
        self._pending.append((fn, args))
        with self._lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        self._os.write(self._write_fd, b"!")

    def _pump(self) -> None:
        from eventlet.hubs import trampoline

        while True:
            trampoline(self._read_fd, read=True)
            try:
                self._os.read(self._read_fd, 4096)
            except BlockingIOError:
                pass
            with self._lock:
                self._wake_pending = False
            while self._pending:
                fn, args = self._pending.popleft()
                try:
                    fn(*args)
                except Exception:
                    LOG.exception("A callback from an I/O thread failed")


_portals: dict[int, _Portal] = {}
_portals_lock = threading.Lock()


def _portal() -> _Portal:
    """The portal of the running hub (one per OS thread that runs green threads)."""
    key = native_ident()
    portal = _portals.get(key)
    if portal is None:
        with _portals_lock:
            portal = _portals.get(key)
            if portal is None:
                portal = _portals[key] = _Portal()
    return portal
