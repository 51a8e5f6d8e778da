"""Batches for oslo's batch notification listeners, on a push-style listener.

oslo hands a push-style listener's callback whatever list the listener gives it: a
listener created with ``batch_size`` > 1 must group messages itself. A batch is handed on
when it is full, or ``batch_timeout`` seconds after its first message arrived, or when the
listener stops, whichever comes first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    """Groups items into lists of at most ``size`` for ``deliver``."""

    def __init__(
        self, deliver: Callable[[list[T]], None], size: int, timeout: float | None
    ) -> None:
        self._deliver = deliver
        self._size = max(1, size)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._timer: threading.Timer | None = None

    def add(self, item: T) -> None:
        if self._size == 1:
            self._deliver([item])
            return
        with self._lock:
            self._items.append(item)
            if len(self._items) < self._size:
                if self._timer is None and self._timeout is not None:
                    self._timer = threading.Timer(self._timeout, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
            batch = self._take()
        self._deliver(batch)

    def flush(self) -> None:
        """Hand on what is waiting, however little."""
        with self._lock:
            batch = self._take()
        if batch:
            self._deliver(batch)

    def _take(self) -> list[T]:
        batch, self._items = self._items, []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return batch
