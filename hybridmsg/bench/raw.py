"""Raw request/reply with nats-py, no oslo layer: the ceiling for any driver under oslo.

The same operations as :class:`~hybridmsg.bench.clients.OsloClient` and the same counted
server side as :class:`~hybridmsg.bench.clients.OsloServers`, on plain subjects
(``TOPIC.SERVER`` for call and cast, ``TOPIC.fanout`` for fanout) with the small JSON bodies
of :mod:`hybridmsg.bench.raw_protocol`.
As under oslo's blocking API, callers are threads handing work to one asyncio I/O thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import nats

from hybridmsg.bench.clients import CALL_TIMEOUT, Progress
from hybridmsg.bench.raw_protocol import answer, request, result, server_url


class _Loop:
    """An asyncio loop in its own thread, and a blocking way to run coroutines on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = CALL_TIMEOUT) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class RawNatsClient:
    """call/cast/fanout as plain NATS request and publish."""

    def __init__(self, url: str, topic: str) -> None:
        self._loop = _Loop()
        self._topic = topic
        self._nc = self._loop.run(nats.connect(server_url(url)))

    def call(self, server: str) -> object:
        msg = self._loop.run(
            self._nc.request(f"{self._topic}.{server}", request("echo"), timeout=CALL_TIMEOUT)
        )
        return result(msg.data)

    def cast(self, server: str) -> None:
        self._loop.run(self._nc.publish(f"{self._topic}.{server}", request("bump")))

    def fanout(self) -> None:
        self._loop.run(self._nc.publish(f"{self._topic}.fanout", request("fan")))

    def flush(self) -> None:
        self._loop.run(self._nc.flush())

    def close(self) -> None:
        self._loop.run(self._nc.close())
        self._loop.close()


class RawNatsServers:
    """One subscription per server name (plus one on the fanout subject each)."""

    def __init__(
        self, url: str, topic: str, names: list[str], count: Callable[[str], None]
    ) -> None:
        self._url = url
        self._topic = topic
        self._names = names
        self._count = count
        self._loop: _Loop | None = None
        self._nc: nats.NATS | None = None
        self.started = 0

    async def _handle(self, msg) -> None:
        reply = answer(msg.data, self._count)
        if reply is not None:
            await msg.respond(reply)

    async def _subscribe(self, progress: Progress) -> None:
        nc = self._nc = await nats.connect(server_url(self._url))
        for name in self._names:
            await nc.subscribe(f"{self._topic}.{name}", cb=self._handle)
            await nc.subscribe(f"{self._topic}.fanout", cb=self._handle)
            self.started += 1
            progress(self.started)
        await nc.flush()

    def start(self, progress: Progress) -> None:
        self._loop = _Loop()
        self._loop.run(self._subscribe(progress))

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._nc is not None:
            self._loop.run(self._nc.close())
        self._loop.close()
