"""A push-style oslo listener fed straight from a link's I/O thread.

Each message is decoded in the I/O thread (in an eventlet-patched process: in a greenlet
of the caller's hub, see :mod:`bridge`) and handed to oslo's ``on_incoming_callback`` (the
executor's submit) with no polling thread in between, in batches for batch listeners.
Messages that arrive between ``listen()`` and ``start()`` are kept and delivered on start.
``stop()`` drains the subscriptions, so what the router already sent is still handled,
and is idempotent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from hybridmsg.drivers import bridge, envelope
from hybridmsg.drivers.batching import Batcher
from hybridmsg.drivers.incoming import stale_reason
from hybridmsg.drivers.link import Link, Subscription
from hybridmsg.drivers.shim import IncomingMessage, Listener

LOG = logging.getLogger(__name__)

#: Builds the incoming message for a request (None: drop it, already logged).
MakeIncoming = Callable[[envelope.Request, str | None], IncomingMessage | None]


class PushListener(Listener):
    """Subscribes to a set of (address, group) pairs and pushes what arrives to oslo."""

    def __init__(
        self,
        link: Link,
        subscriptions: Sequence[tuple[str, str | None]],
        make_incoming: MakeIncoming,
        batch_size: int = 1,
        batch_timeout: float | None = None,
    ):
        super().__init__(batch_size, batch_timeout)
        self._link = link
        self._make_incoming = make_incoming
        self._lock = threading.Lock()
        self._early: list[IncomingMessage] = []
        self._stopped = False
        self._subs: list[Subscription] = []
        self._batcher: Batcher[IncomingMessage] = Batcher(
            self._deliver, batch_size, batch_timeout
        )
        on_message = bridge.in_callers(self._on_message)
        for address, group in subscriptions:
            self._subs.append(link.subscribe(address, group, on_message))

    def _on_message(self, body: bytes, reply_to: str | None) -> None:
        try:
            request = envelope.decode_request(body)
        except envelope.MalformedMessage as exc:
            LOG.warning("Rejected a message that is not an oslo.messaging request: %s", exc)
            return
        reason = stale_reason(request)
        if reason is not None:
            LOG.warning("%s", reason)
            return
        # A cast may come with a reply subject too (to learn that nobody took it): only
        # a call is answered.
        incoming = self._make_incoming(request, reply_to if request.wants_reply else None)
        if incoming is None:
            return
        with self._lock:
            if self.on_incoming_callback is None:
                if not self._stopped:
                    self._early.append(incoming)
                return
        self._batcher.add(incoming)

    def _deliver(self, batch: list[IncomingMessage]) -> None:
        callback = self.on_incoming_callback
        if callback is not None:
            callback(batch)

    def start(self, on_incoming_callback: Callable) -> None:
        with self._lock:
            super().start(on_incoming_callback)
            early, self._early = self._early, []
        for incoming in early:
            self._batcher.add(incoming)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        subs, self._subs = self._subs, []
        for sub in subs:
            self._link.unsubscribe(sub)
        self._batcher.flush()
        with self._lock:
            super().stop()

    def cleanup(self) -> None:
        self.stop()
