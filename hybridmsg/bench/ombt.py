"""ombt 3 (``ombt2``, oslo.messaging's own benchmark tool) in its standalone modes, and its
report read back.

``ombt2 --url URL --timeout T rpc --calls N --length 1024 [--cast]`` runs one RPC server
and one client in one process (monkey-patched by eventlet, as ombt does itself) and
prints an "Aggregated ... results" section per side: ``Total Messages``, ``Test
Interval: START - STOP (SECS secs)`` (wall-clock times), ``Aggregate throughput`` and,
where there are latencies, ``Latency N samples (msecs): Average ...``.
:func:`parse_report` reads those sections; :func:`rpc_figures` turns an rpc or cast
report into the bench's figures, refusing a run whose client and server totals differ.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hybridmsg.errors import HybridmsgError
from hybridmsg.plan import mask_url

#: the ombt2 script beside this interpreter (ombt is in the test and bench extras)
OMBT = Path(sys.executable).parent / "ombt2"
LENGTH = 1024  # payload bytes, as in ombt's default
_SECTION = re.compile(r"^Aggregated (?:RPC )?(\w+)(?: \(\w+\))? results:$", re.MULTILINE)
_TOTAL = re.compile(r"^Total Messages: (\d+)$", re.MULTILINE)
_INTERVAL = re.compile(r"^Test Interval: ([\d.]+) - ([\d.]+) ", re.MULTILINE)
_FAILED = re.compile(r"^Error: (\d+) message transfers failed$", re.MULTILINE)
_LATENCY = re.compile(r"^Latency \d+ samples \(msecs\): Average ([\d.]+)", re.MULTILINE)


class OmbtError(HybridmsgError):
    """ombt could not run, or its report does not account for every message."""


@dataclass(frozen=True)
class Side:
    """One side's aggregated results (client, server, notifier, listener)."""

    total: int
    start: float = 0.0
    stop: float = 0.0
    failed: int = 0
    mean_latency_ms: float | None = None


def parse_report(report: str) -> dict[str, Side]:
    """Every "Aggregated SIDE results" section of ``report``, by side in lower case
    ("client", "server"; "notifier", "listener")."""
    heads = list(_SECTION.finditer(report))
    ends = [head.start() for head in heads[1:]] + [len(report)]
    sides = {}
    for head, end in zip(heads, ends, strict=False):  # no heads: no sections
        block = report[head.end() : end]
        total = _TOTAL.search(block)
        if total is None:
            continue
        interval = _INTERVAL.search(block)
        failed = _FAILED.search(block)
        latency = _LATENCY.search(block)
        sides[head.group(1).lower()] = Side(
            total=int(total.group(1)),
            start=float(interval.group(1)) if interval else 0.0,
            stop=float(interval.group(2)) if interval else 0.0,
            failed=int(failed.group(1)) if failed else 0,
            mean_latency_ms=float(latency.group(1)) if latency else None,
        )
    return sides


def totals(report: str) -> dict[str, int]:
    """Each side's "Total Messages": {'client': n, 'server': n} (rpc) or
    {'notifier': n, 'listener': n} (notify)."""
    return {side: found.total for side, found in parse_report(report).items()}


def rpc_figures(report: str, calls: int) -> dict:
    """The bench's figures of an ``rpc`` (or ``rpc --cast``) report of ``calls`` messages:
    ``ops`` and ``ops_per_s`` from the client's first send to the last message the server
    handled, and the client's mean latency. OmbtError unless client and server both
    account for every message."""
    sides = parse_report(report)
    client, server = sides.get("client"), sides.get("server")
    if client is None or server is None:
        raise OmbtError("ombt printed no client and server results")
    if client.total != server.total:
        raise OmbtError(
            f"client total {client.total} != server total {server.total} ({calls} sent)"
        )
    failed = client.failed + server.failed
    if failed or client.total != calls:
        raise OmbtError(f"{calls} sent, {client.total} counted, {failed} transfers failed")
    elapsed = max(client.stop, server.stop) - client.start
    figures: dict = {
        "ops": client.total,
        "server_total": server.total,
        "ops_per_s": round(client.total / elapsed, 1) if elapsed > 0 else 0.0,
    }
    if client.mean_latency_ms is not None:
        figures["mean_ms"] = round(client.mean_latency_ms, 3)
    return figures


def run_ombt(url: str, *mode: str, timeout: float) -> str:
    """``ombt2 --url URL --timeout T MODE...``'s output (stdout then stderr); OmbtError
    (the password masked) when it fails or outlives ``timeout`` by a minute."""
    command = [str(OMBT), "--url", url, "--timeout", f"{timeout:g}", *mode]
    if not OMBT.exists():
        raise OmbtError(f"{OMBT} not found: pip install 'hybridmsg[bench]' (ombt)")
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        raise OmbtError(f"ombt2 {' '.join(mode)} did not finish in {timeout + 60:g} s") from None
    output = run.stdout + run.stderr
    if run.returncode != 0:
        last = [line for line in output.splitlines() if line.strip()][-1:] or ["no output"]
        raise OmbtError(
            f"ombt2 {' '.join(mode)} exited with {run.returncode}: "
            + last[0].replace(url, mask_url(url))
        )
    return output


def rpc_run(url: str, calls: int, *, cast: bool, timeout: float) -> dict:
    """ombt's standalone ``rpc`` of ``calls`` 1 KiB messages (``cast``: ``rpc --cast``) on
    ``url``: :func:`rpc_figures` of its report."""
    mode = ["rpc", "--calls", str(calls), "--length", str(LENGTH), *(["--cast"] if cast else [])]
    return rpc_figures(run_ombt(url, *mode, timeout=timeout), calls)
