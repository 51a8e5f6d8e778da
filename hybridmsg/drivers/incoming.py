"""Messages handed to oslo's RPC and notification servers.

An RPC message replies and heartbeats through the link it arrived on, without waiting
for the I/O thread: the reply is queued to the wire in order and failures are logged,
as oslo's contract for ``reply`` asks.

A request whose caller has given up (its envelope deadline passed) is never executed:
the listener drops it on arrival, and :meth:`RpcIncoming.acknowledge` -- which oslo's RPC
server calls in the executor's worker right before dispatching -- refuses it if it waited
past the deadline in the executor's queue; oslo then logs "Can not acknowledge message.
Skip processing" with our reason and neither dispatches nor replies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from oslo_messaging import MessagingException

from hybridmsg.drivers import envelope
from hybridmsg.drivers.shim import IncomingMessage, RpcIncomingMessage, serialize_remote_exception

LOG = logging.getLogger(__name__)


class StaleRequest(MessagingException):
    """A request whose caller gave up before a server could start it."""


def stale_reason(request: envelope.Request) -> str | None:
    """Why ``request`` must not run (its caller's deadline passed), or None when it may."""
    if request.deadline is None:
        return None
    late = time.time() - request.deadline
    if late <= 0:
        return None
    return f"Dropped request {request.msg_id}: its caller gave up {late:.3f} s ago"

#: Sends a reply body to a reply address: (address, body) -> None, never raises.
SendReply = Callable[[str, bytes], None]


class RpcIncoming(RpcIncomingMessage):
    """An RPC request or cast received by a server."""

    def __init__(self, request: envelope.Request, reply_to: str | None, send: SendReply):
        super().__init__(request.ctxt, request.message, request.msg_id)
        self.client_timeout = request.call_monitor_timeout
        self._request = request
        self._reply_to = reply_to
        self._send = send

    def acknowledge(self) -> None:
        """Routers do not redeliver, so nothing to acknowledge; but oslo's RPC server calls
        this just before dispatching, so refuse a request that went stale in its queue.

        Raising here departs from the base class docstring on purpose: oslo's RPC server
        catches it and skips the request (rpc/server.py ``_process_incoming``).
        """
        reason = stale_reason(self._request)
        if reason is not None:
            raise StaleRequest(reason + " (while it waited for a worker)")

    def requeue(self) -> None:
        """Not supported (the driver says so in ``require_features``)."""

    def reply(self, reply: Any = None, failure: Any = None) -> None:
        if self._reply_to is None:
            return
        if failure is not None:
            body = envelope.encode_reply(self.msg_id, failure=serialize_remote_exception(failure))
        else:
            try:
                body = envelope.encode_reply(self.msg_id, result=reply)
            except (TypeError, ValueError) as exc:
                LOG.error("Cannot serialize the reply to %s: %s", self.msg_id, exc)
                body = envelope.encode_reply(
                    self.msg_id, failure=serialize_remote_exception((type(exc), exc, None))
                )
        self._send(self._reply_to, body)

    def heartbeat(self) -> None:
        if self._reply_to is not None:
            self._send(self._reply_to, envelope.encode_heartbeat(self.msg_id))


class NotificationIncoming(IncomingMessage):
    """A notification received by a notification listener."""

    def __init__(self, request: envelope.Request):
        super().__init__(request.ctxt, request.message, request.msg_id)

    def acknowledge(self) -> None:
        """Nothing to acknowledge on a router."""

    def requeue(self) -> None:
        """Not supported (the driver says so in ``require_features``)."""
