"""Timing: run an operation from threads within a count and a time budget; percentiles.

``drive(op, threads, count, duration)`` calls ``op()`` from ``threads`` threads until
``count`` calls are done in all or ``duration`` seconds have passed, whichever comes
first, and returns a :class:`Timing` of every call's latency. A call that raises ends its
thread and is counted in ``errors`` (with the first error's text kept).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Timing:
    """Latencies (seconds) of the calls made, and the wall time they took."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0
    first_error: str = ""

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        """Calls per second."""
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> dict[str, float | int | str]:
        """ops, ops/s, p50 and p99 latency in milliseconds (and errors if any)."""
        result: dict[str, float | int | str] = {
            "ops": self.count,
            "ops_per_s": round(self.rate, 1),
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 3),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 3),
        }
        if self.errors:
            result |= {"errors": self.errors, "first_error": self.first_error}
        return result


def drive(op: Callable[[], object], threads: int, count: int, duration: float) -> Timing:
    """Call ``op`` from ``threads`` threads, ``count`` times in all, within ``duration`` s."""
    timing = Timing()
    lock = threading.Lock()
    left = [count]
    deadline = time.perf_counter() + duration

    def worker() -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            started = time.perf_counter()
            if started >= deadline:
                return
            try:
                op()
            except Exception as exc:  # counted and reported, not raised
                with lock:
                    timing.errors += 1
                    timing.first_error = timing.first_error or f"{type(exc).__name__}: {exc}"
                return
            finished = time.perf_counter()
            with lock:
                timing.latencies.append(finished - started)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    timing.elapsed = time.perf_counter() - started
    return timing
