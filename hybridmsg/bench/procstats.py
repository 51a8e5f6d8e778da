"""CPU seconds and resident memory of processes, from Linux /proc.

``cpu_seconds(pid)`` is user + system time of every thread of ``pid`` (``/proc/PID/stat``
fields 14 and 15, in clock ticks); ``rss_bytes(pid)`` is ``VmRSS`` of ``/proc/PID/status``.
:class:`CpuMeter` takes those for named groups of processes before and after a workload.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat_cpu(stat: str, ticks: int = CLOCK_TICKS) -> float:
    """User + system CPU seconds from the text of ``/proc/PID/stat``."""
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the whole line
    return (utime + stime) / ticks


def parse_status_rss(status: str) -> int:
    """Resident set size in bytes from the text of ``/proc/PID/status`` (0 if absent)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            return int(value) * {"kB": 1024, "mB": 1024**2}.get(unit, 1)
    return 0


def parse_open_files_limit(limits: str) -> int | None:
    """The soft "Max open files" limit from the text of ``/proc/PID/limits``."""
    for line in limits.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    return None


def _read(pid: int, name: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:  # the process is gone
        return None


def cpu_seconds(pid: int) -> float:
    """CPU seconds ``pid`` has used so far (0 when it is gone)."""
    text = _read(pid, "stat")
    return parse_stat_cpu(text) if text else 0.0


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (0 when it is gone)."""
    text = _read(pid, "status")
    return parse_status_rss(text) if text else 0


def open_files_limit(pid: int) -> int | None:
    """The soft limit of open files of ``pid``, None if unknown or unlimited."""
    text = _read(pid, "limits")
    return parse_open_files_limit(text) if text else None


class CpuMeter:
    """CPU seconds used by groups of processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, groups: Mapping[str, Iterable[int]]) -> None:
        self.groups = {name: tuple(pids) for name, pids in groups.items()}
        self._before: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.groups.items()}

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since :meth:`start`."""
        after = self._sample()
        return {name: round(after[name] - self._before[name], 3) for name in after}
