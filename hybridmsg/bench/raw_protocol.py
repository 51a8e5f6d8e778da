"""What the raw (no oslo) clients and servers of every wire share: the small JSON request
bodies, how a server answers them, and the server address of a transport URL.

A request is ``{"method": ..., "args": {"value": 1}}``: ``echo`` for a call (answered with
``{"result": 1}``), ``bump`` for a cast and ``fan`` for a fanout (both only counted).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

ANSWER = json.dumps({"result": 1}).encode()


def server_url(url: str) -> str:
    """The server address of a transport URL (its vhost dropped): ``scheme://host:port``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def request(method: str) -> bytes:
    """The body of a request for ``method`` (``echo``, ``bump`` or ``fan``)."""
    return json.dumps({"method": method, "args": {"value": 1}}).encode()


def answer(body: bytes, count: Callable[[str], None]) -> bytes | None:
    """The reply to a request body (a call), or None once a cast or fanout is counted."""
    method = json.loads(body)["method"]
    if method == "echo":
        return ANSWER
    count("cast" if method == "bump" else "fanout")
    return None


def result(reply: bytes) -> object:
    """What a call returns, from the body of its reply."""
    return json.loads(reply)["result"]
