"""Messages handed to oslo's RPC and notification servers.

An RPC message replies and heartbeats through the link it arrived on, without waiting
for the I/O thread: the reply is queued to the wire in order and failures are logged,
as oslo's contract for ``reply`` asks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hybridmsg.drivers import envelope
from hybridmsg.drivers.shim import IncomingMessage, RpcIncomingMessage, serialize_remote_exception

LOG = logging.getLogger(__name__)

#: Sends a reply body to a reply address: (address, body) -> None, never raises.
SendReply = Callable[[str, bytes], None]


class RpcIncoming(RpcIncomingMessage):
    """An RPC request or cast received by a server."""

    def __init__(self, request: envelope.Request, reply_to: str | None, send: SendReply):
        super().__init__(request.ctxt, request.message, request.msg_id)
        self.client_timeout = request.call_monitor_timeout
        self._reply_to = reply_to
        self._send = send

    def acknowledge(self) -> None:
        """Routers do not redeliver: nothing to acknowledge."""

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
