"""What travels on the wire: requests, replies and notifications as JSON bodies.

Pure functions, no I/O. A request carries its message id, whether it wants a reply (calls),
the caller's absolute deadline (so a server can drop work nobody waits for) and the
call-monitor timeout. Replies carry the id they answer, and are either a heartbeat, a
result or a serialized remote failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oslo_serialization import jsonutils

VERSION = 1


class MalformedMessage(ValueError):
    """A body that is not a message of ours (garbage, truncated, foreign)."""


@dataclass(frozen=True, slots=True)
class Request:
    """An RPC request or cast as received by a server."""

    msg_id: str
    ctxt: dict
    message: dict
    deadline: float | None = None
    call_monitor_timeout: float | None = None
    wants_reply: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to one call: a heartbeat, a result, or a serialized failure."""

    msg_id: str
    result: Any = None
    failure: str | None = None
    heartbeat: bool = False


def encode_request(
    msg_id: str,
    ctxt: dict,
    message: dict,
    deadline: float | None = None,
    call_monitor_timeout: float | None = None,
    wants_reply: bool = False,
) -> bytes:
    body = {"v": VERSION, "id": msg_id, "ctxt": ctxt, "msg": message}
    if wants_reply:
        body["call"] = True
    if deadline is not None:
        body["deadline"] = deadline
    if call_monitor_timeout:
        body["cm"] = call_monitor_timeout
    return jsonutils.dump_as_bytes(body)


def encode_reply(msg_id: str, result: Any = None, failure: str | None = None) -> bytes:
    body: dict[str, Any] = {"v": VERSION, "id": msg_id}
    if failure is not None:
        body["failure"] = failure
    else:
        body["result"] = result
    return jsonutils.dump_as_bytes(body)


def encode_heartbeat(msg_id: str) -> bytes:
    return jsonutils.dump_as_bytes({"v": VERSION, "id": msg_id, "hb": True})


def _load(body: bytes) -> dict:
    try:
        obj = jsonutils.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"not JSON ({len(body)} bytes)") from exc
    if not isinstance(obj, dict) or obj.get("v") != VERSION or not isinstance(obj.get("id"), str):
        raise MalformedMessage("not a hybridmsg envelope")
    return obj


def decode_request(body: bytes) -> Request:
    obj = _load(body)
    ctxt, message = obj.get("ctxt"), obj.get("msg")
    if not isinstance(ctxt, dict) or not isinstance(message, dict):
        raise MalformedMessage("request without context or message")
    deadline, cm = obj.get("deadline"), obj.get("cm")
    if not all(v is None or isinstance(v, int | float) for v in (deadline, cm)):
        raise MalformedMessage("request with a non-numeric deadline")
    return Request(obj["id"], ctxt, message, deadline, cm, bool(obj.get("call")))


def decode_reply(body: bytes) -> Reply:
    obj = _load(body)
    failure = obj.get("failure")
    if failure is not None and not isinstance(failure, str):
        raise MalformedMessage("reply with a malformed failure")
    return Reply(obj["id"], obj.get("result"), failure, bool(obj.get("hb")))
