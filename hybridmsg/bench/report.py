"""The results document and its renderings: markdown table, targets, JSON file.

The document is ``{"command", "machine", "options", "transports": {column: results},
"targets": [...]}``: a column per transport and number of nodes (:func:`column`), whose
results hold ``workloads`` (name -> figures, or ``{"failed": why}``) and ``scale`` (number
of servers as text -> figures), or ``skipped``/``failed``. A column of N nodes is compared
with rabbit of N nodes. Everything here is pure but :func:`write_json`.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

BASELINE = "rabbit"
CLUSTER_MARK = "×"  # "nats×3": nats on a cluster of 3 nodes
ROUTERS = ("nats", "amqp")  # the transports the targets are about
CEILINGS = {"nats": "raw-nats", "amqp": "raw-amqp"}  # each one's raw client, no oslo layer
FieldPath = tuple[str, str]  # (workload, figure)

WORKLOAD_ROWS: list[tuple[str, FieldPath]] = [
    ("call: calls/s", ("call", "ops_per_s")),
    ("call: p50 ms", ("call", "p50_ms")),
    ("call: p99 ms", ("call", "p99_ms")),
    ("call: CPU s/1k, client", ("call", "cpu_client")),
    ("call: CPU s/1k, RPC server", ("call", "cpu_server")),
    ("call: CPU s/1k, backend", ("call", "cpu_backend")),
    ("call: CPU s/1k, total", ("call", "cpu_total")),
    ("call: backend RSS MiB", ("call", "backend_mib")),
    ("call ×8 threads: calls/s", ("call_8_threads", "ops_per_s")),
    ("call ×8 threads: p99 ms", ("call_8_threads", "p99_ms")),
    ("call ×8 threads: CPU s/1k, total", ("call_8_threads", "cpu_total")),
    ("call ×8 threads: CPU s/1k, backend", ("call_8_threads", "cpu_backend")),
    ("call, 2 processes ×4: calls/s", ("call_2_processes", "ops_per_s")),
    ("call, 2 processes ×4: p99 ms", ("call_2_processes", "p99_ms")),
    ("cast: casts/s (all handled)", ("cast", "ops_per_s")),
    ("cast: CPU s/1k, total", ("cast", "cpu_total")),
    ("cast returning once sent: casts/s (all handled)", ("cast_early", "ops_per_s")),
    ("cast returning once sent: CPU s/1k, total", ("cast_early", "cpu_total")),
    ("fanout to 10: fanouts/s (all handled)", ("fanout", "ops_per_s")),
    ("fanout to 10: CPU s/1k, total", ("fanout", "cpu_total")),
    ("notify: notifications/s (all handled)", ("notify", "ops_per_s")),
    ("ombt rpc: msgs/s", ("ombt_rpc", "ops_per_s")),
    ("ombt rpc: mean latency ms", ("ombt_rpc", "mean_ms")),
    ("ombt cast: msgs/s (all handled)", ("ombt_cast", "ops_per_s")),
]
SCALE_ROWS: list[tuple[str, str]] = [
    ("call calls/s", "ops_per_s"),
    ("call p50 ms", "p50_ms"),
    ("call p99 ms", "p99_ms"),
    ("fanout to all ms", "fanout_ms"),
    ("fanout reached (of all)", "fanout_reached"),
    ("backend RSS MiB", "backend_mib"),
    ("backend CPU s/1k calls", "cpu_backend"),
    ("backend idle CPU %", "backend_idle_cpu_pct"),
    ("queues", "queues"),
    ("connections", "connections"),
    ("subscriptions", "subscriptions"),
]


def column(transport: str, nodes: int) -> str:
    """The report column of ``transport`` on ``nodes`` nodes: ``nats``, ``nats×3``."""
    return transport if nodes == 1 else f"{transport}{CLUSTER_MARK}{nodes}"


def baseline(name: str) -> str:
    """The column ``name`` is compared with: rabbit on as many nodes."""
    _, mark, nodes = name.partition(CLUSTER_MARK)
    return f"{BASELINE}{mark}{nodes}"


def value(results: dict, section: str, key: str, field: str) -> float | str | None:
    """``results[section][key][field]``; a refused scale point gives its refusal text, a
    failed workload "failed"."""
    figures = results.get(section, {}).get(key)
    if figures is None:
        return None
    if "failed" in figures:
        return "failed"
    if "refused" in figures and field not in figures:
        return f"refused at {figures['started']}"
    return figures.get(field)


#: Workloads whose baseline figure is another workload of the baseline: oslo's rabbit://
#: casts return once published, never waiting for the consumer, so its plain casts are
#: what amqp://'s casts that do not wait for the outcome compare with.
BASELINE_SAME = {"cast_early": "cast"}


def _workload(results: dict, name: str, workload: str, field: str):
    if baseline(name) == name:
        workload = BASELINE_SAME.get(workload, workload)
    return value(results, "workloads", workload, field)


def rows(transports: dict[str, dict], scale: Sequence[int]) -> list[tuple[str, list]]:
    """(label, [value per transport]) for every row of the table, in order."""
    names = list(transports)
    table = [
        (label, [_workload(transports[n], n, w, f) for n in names])
        for label, (w, f) in WORKLOAD_ROWS
    ]
    for servers in scale:
        for label, field in SCALE_ROWS:
            cells = [value(transports[n], "scale", str(servers), field) for n in names]
            if any(cell is not None for cell in cells):
                table.append((f"{servers:,} servers: {label}", cells))
    return table


def fmt(cell: float | str | None) -> str:
    """A table cell: numbers to about three significant figures, nothing as a dash."""
    if cell is None:
        return "–"
    if isinstance(cell, str):
        return cell
    if isinstance(cell, int) or cell == 0:
        return f"{cell:,.0f}"
    if abs(cell) >= 100:
        return f"{cell:,.0f}"
    if abs(cell) >= 10:
        return f"{cell:.1f}"
    return f"{cell:.2f}" if abs(cell) >= 0.1 else f"{cell:.3f}"


def ratio(cell: float | str | None, base: float | str | None) -> str:
    if not isinstance(cell, int | float) or not isinstance(base, int | float) or not base:
        return ""
    return f"×{fmt(cell / base)}"


def markdown_table(transports: dict[str, dict], scale: Sequence[int]) -> str:
    """Columns side by side, with a ratio column for every column whose rabbit of as many
    nodes ran too (``nats ÷ rabbit``, ``nats×3 ÷ rabbit×3``)."""
    shown = {n: r for n, r in transports.items() if "workloads" in r}
    names = list(shown)
    others = [n for n in names if baseline(n) != n and baseline(n) in shown]
    header = ["", *names, *(f"{n} ÷ {baseline(n)}" for n in others)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, cells in rows(shown, scale):
        if all(cell is None for cell in cells):
            continue
        by_name = dict(zip(names, cells, strict=True))
        ratios = [ratio(by_name[n], by_name[baseline(n)]) for n in others]
        lines.append("| " + " | ".join([label, *map(fmt, cells), *ratios]) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Target:
    """A goal for each router transport, as a figure measured in one run: ``text`` has a
    ``{goal}`` field, filled in per transport from ``goals``."""

    text: str
    measure: Callable[[dict, str], float | None]
    goals: dict[str, float]
    compare: Callable[[float, float], bool]
    shown: Callable[[float], str] = lambda goal: f"{goal:g}×"
    unit: str = "×"  # of the measured figure: a ratio, else e.g. "ms"

    def describe(self, name: str) -> str:
        return self.text.format(goal=self.shown(self.goals[name]))


def _fraction(goal: float) -> str:
    return f"1/{round(1 / goal)}"


def _vs_rabbit(workload: str, field: str) -> Callable[[dict, str], float | None]:
    def measure(transports: dict, name: str) -> float | None:
        mine = value(transports[name], "workloads", workload, field)
        base = _workload(transports.get(BASELINE, {}), BASELINE, workload, field)
        ok = isinstance(mine, int | float) and isinstance(base, int | float) and base
        return mine / base if ok else None

    return measure


def _flatness(transports: dict, name: str) -> float | None:
    """p50 call latency at the most servers over that at the fewest."""
    scale = transports[name].get("scale", {})
    measured = sorted((int(n), f["p50_ms"]) for n, f in scale.items() if "p50_ms" in f)
    if len(measured) < 2 or not measured[0][1]:
        return None
    return measured[-1][1] / measured[0][1]


def _fanout_at_most_servers(transports: dict, name: str) -> float | None:
    """Milliseconds until a fanout reached all servers, at the largest scale point of 1,000
    servers or more (None when the run had none)."""
    scale = transports[name].get("scale", {})
    measured = sorted((int(n), f["fanout_ms"]) for n, f in scale.items() if "fanout_ms" in f)
    if not measured or measured[-1][0] < 1000:
        return None
    return measured[-1][1]


BOTH = ROUTERS
#: Issue 15's goals: the router must beat RabbitMQ on CPU and throughput.
TARGETS = [
    Target("sequential calls/s ≥ {goal} rabbit", _vs_rabbit("call", "ops_per_s"),
           {"nats": 3, "amqp": 2}, operator.ge),
    Target("sequential call p99 ≤ {goal} of rabbit", _vs_rabbit("call", "p99_ms"),
           {"nats": 1 / 3, "amqp": 1 / 2}, operator.le, _fraction),
    Target("calls/s from 8 threads ≥ {goal} rabbit", _vs_rabbit("call_8_threads", "ops_per_s"),
           dict.fromkeys(BOTH, 4), operator.ge),
    Target("casts/s ≥ {goal} rabbit", _vs_rabbit("cast", "ops_per_s"),
           {"nats": 3, "amqp": 2}, operator.ge),
    Target("casts/s, casts_wait_for_outcome = false, ≥ {goal} rabbit",
           _vs_rabbit("cast_early", "ops_per_s"), {"amqp": 2}, operator.ge),
    Target("total CPU per 1,000 calls ≤ {goal} of rabbit", _vs_rabbit("call", "cpu_total"),
           dict.fromkeys(BOTH, 1 / 2), operator.le, _fraction),
    Target("total CPU per 1,000 casts ≤ {goal} of rabbit", _vs_rabbit("cast", "cpu_total"),
           dict.fromkeys(BOTH, 1 / 2), operator.le, _fraction),
    Target("backend CPU per 1,000 calls (8 threads) ≤ {goal} of RabbitMQ",
           _vs_rabbit("call_8_threads", "cpu_backend"), dict.fromkeys(BOTH, 1 / 5), operator.le,
           _fraction),
    Target("call p50 flat (≤ +20 %) from fewest to most servers", _flatness,
           dict.fromkeys(BOTH, 1.2), operator.le),
    Target("fanout to 1,000 servers ≤ {goal} ms", _fanout_at_most_servers,
           {"nats": 25}, operator.le, lambda goal: f"{goal:g}", unit="ms"),
]


def evaluate_targets(transports: dict[str, dict]) -> list[dict]:
    """Each target for each router transport that ran: the measured figure and met/missed."""
    found = []
    for name in ROUTERS:
        if "workloads" not in transports.get(name, {}):
            continue
        for target in TARGETS:
            if name not in target.goals:
                continue
            goal = target.goals[name]
            measured = target.measure(transports, name)
            raw = CEILINGS[name]
            raw_ran = "workloads" in transports.get(raw, {})
            ceiling = target.measure(transports, raw) if raw_ran else None
            found.append(
                {
                    "transport": name,
                    "target": target.describe(name),
                    "goal": round(goal, 3),
                    "measured": None if measured is None else round(measured, 3),
                    "unit": target.unit,
                    "met": measured is not None and target.compare(measured, goal),
                }
                | ({"ceiling": {raw: round(ceiling, 3)}} if ceiling is not None else {})
            )
    return found


def _figure(measured: float, unit: str) -> str:
    return f"×{measured:.2f}" if unit == "×" else f"{measured:g} {unit}"


def targets_text(targets: list[dict]) -> str:
    """One markdown list line per target: met or missed, with the measured figure and,
    when its raw client ran too, the same figure of that ceiling."""
    lines = []
    for t in targets:
        if t["measured"] is None:
            lines.append(f"- {t['transport']}: {t['target']}: not measured in this run")
            continue
        verdict = "met" if t["met"] else "MISSED"
        unit = t.get("unit", "×")
        shown = _figure(t["measured"], unit)
        for raw, ceiling in t.get("ceiling", {}).items():
            shown += f"; {raw} {_figure(ceiling, unit)}"
        lines.append(f"- {t['transport']}: {t['target']}: **{verdict}** (measured {shown})")
    return "\n".join(lines) + "\n"


def skipped_text(transports: dict[str, dict]) -> str:
    """Lines for the columns that were skipped or failed, and the workloads that failed."""
    lines = [
        f"- {name}: {'skipped' if 'skipped' in r else 'failed'}: {r.get('skipped') or r['failed']}"
        for name, r in transports.items()
        if "skipped" in r or "failed" in r
    ]
    lines += [
        f"- {name}: {workload} failed: {figures['failed']}"
        for name, r in transports.items()
        for workload, figures in r.get("workloads", {}).items()
        if "failed" in figures
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def write_json(document: dict, path: Path) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")
