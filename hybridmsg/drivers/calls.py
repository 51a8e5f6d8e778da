"""Reply correlation for calls in flight: one queue per call, keyed by message id.

Replies arrive in the link's I/O thread and are handed to the waiting caller's queue;
the caller waits with its deadline and its call-monitor deadline (refreshed by each
heartbeat). Nothing here blocks the I/O thread. ``queue.Queue`` (not ``SimpleQueue``)
so that an eventlet-patched process waits cooperatively.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import oslo_messaging

from hybridmsg.drivers import envelope

LOG = logging.getLogger(__name__)


class PendingCalls:
    """Calls waiting for a reply on one link."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, queue.Queue] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def register(self, msg_id: str) -> queue.Queue:
        q: queue.Queue = queue.Queue()
        with self._lock:
            self._waiting[msg_id] = q
        return q

    def forget(self, msg_id: str) -> None:
        with self._lock:
            self._waiting.pop(msg_id, None)

    def on_reply(self, body: bytes) -> None:
        """Route one reply body to its caller (I/O thread)."""
        try:
            reply = envelope.decode_reply(body)
        except envelope.MalformedMessage as exc:
            LOG.warning("Dropped a malformed reply: %s", exc)
            return
        with self._lock:
            q = self._waiting.get(reply.msg_id)
        if q is None:
            LOG.debug("Dropped a reply for %s: its caller has given up", reply.msg_id)
        else:
            q.put(reply)

    def fail(self, msg_id: str, exc: BaseException) -> None:
        """Wake the caller of ``msg_id`` with ``exc`` (the request could not be sent)."""
        with self._lock:
            q = self._waiting.get(msg_id)
        if q is not None:
            q.put(exc)


def wait_for_reply(
    q: queue.Queue,
    msg_id: str,
    timeout: float | None,
    call_monitor_timeout: float | None,
) -> envelope.Reply:
    """Block until the final reply; raise MessagingTimeout at the first deadline missed."""
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    monitor = None if not call_monitor_timeout else start + call_monitor_timeout
    while True:
        limits = [t for t in (deadline, monitor) if t is not None]
        remaining = None if not limits else min(limits) - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise _timeout(msg_id, time.monotonic() - start, deadline, monitor)
        try:
            item = q.get(timeout=remaining)
        except queue.Empty:
            raise _timeout(msg_id, time.monotonic() - start, deadline, monitor) from None
        if isinstance(item, BaseException):
            raise item
        if item.heartbeat:
            if call_monitor_timeout:
                monitor = time.monotonic() + call_monitor_timeout
            continue
        return item


def _timeout(
    msg_id: str, waited: float, deadline: float | None, monitor: float | None
) -> oslo_messaging.MessagingTimeout:
    if monitor is not None and (deadline is None or monitor < deadline):
        why = "no reply or heartbeat within the call monitor timeout"
    else:
        why = "no reply within the call's timeout"
    return oslo_messaging.MessagingTimeout(
        f"Timed out waiting for a reply to message ID {msg_id}: {why} ({waited:.1f} s)"
    )
