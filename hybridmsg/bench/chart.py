"""The PNG chart of a run (matplotlib, Agg backend: no display needed).

Four panels: calls/s by workload, CPU per 1,000 sequential calls by side, call latency
and backend memory against the number of RPC servers.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

THROUGHPUT = [
    ("call", "call"),
    ("call_8_threads", "8 threads"),
    ("call_2_processes", "2 processes"),
    ("cast", "cast"),
    ("fanout", "fanout ×10"),
]
SIDES = [("cpu_client", "client"), ("cpu_server", "RPC server"), ("cpu_backend", "backend")]


def _ran(transports: dict[str, dict]) -> dict[str, dict]:
    return {name: r for name, r in transports.items() if "workloads" in r}


def _throughput(ax, transports: dict[str, dict]) -> None:
    width = 0.8 / max(1, len(transports))
    for i, (name, results) in enumerate(transports.items()):
        heights = [results["workloads"].get(w, {}).get("ops_per_s", 0) for w, _ in THROUGHPUT]
        ax.bar([x + i * width for x in range(len(THROUGHPUT))], heights, width, label=name)
    ax.set_xticks([x + width * (len(transports) - 1) / 2 for x in range(len(THROUGHPUT))])
    ax.set_xticklabels([label for _, label in THROUGHPUT])
    ax.set_ylabel("operations/s")
    ax.set_title("Throughput (higher is better)")
    ax.legend()


def _cpu(ax, transports: dict[str, dict]) -> None:
    names = list(transports)
    bottoms = [0.0] * len(names)
    for field, label in SIDES:
        heights = [transports[n]["workloads"].get("call", {}).get(field, 0) for n in names]
        ax.bar(names, heights, bottom=bottoms, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_ylabel("CPU seconds per 1,000 calls")
    ax.set_title("CPU per sequential call (lower is better)")
    ax.legend()


def _scale(ax, transports: dict[str, dict], field: str, ylabel: str, title: str) -> None:
    for name, results in transports.items():
        points = sorted(
            (int(n), f[field]) for n, f in results.get("scale", {}).items() if field in f
        )
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("RPC servers")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()


def write_chart(transports: dict[str, dict], path: Path) -> None:
    """Draw the chart of ``transports`` (results per name) into ``path`` (PNG)."""
    ran = _ran(transports)
    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    _throughput(axes[0][0], ran)
    _cpu(axes[0][1], ran)
    _scale(axes[1][0], ran, "p50_ms", "p50 call latency, ms", "Call latency vs servers")
    _scale(axes[1][1], ran, "backend_mib", "backend RSS, MiB", "Backend memory vs servers")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
