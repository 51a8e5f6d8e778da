"""``hybridmsg bench --quick --nodes 1,3`` against real servers and clusters: it produces
figures (never how fast), ombt's rows account for every message, and the cluster columns
run on 3 nodes."""

import json
import subprocess
import sys

import pytest

from hybridmsg.bench.transports import TRANSPORTS
from tests.integration.conftest import needs_qdrouterd

WORKLOADS = ("call", "call_8_threads", "call_2_processes", "cast", "fanout")
OMBT_CALLS = 200  # what --quick sends per ombt run
#: amqp runs where a qdrouterd is found (HYBRIDMSG_QDROUTERD or PATH), else it is skipped
ROUTER = None if TRANSPORTS["amqp"].unavailable() else "amqp"


@pytest.mark.timeout(420)
def test_quick_bench_produces_figures(tmp_path):
    out = tmp_path / "bench"
    run = subprocess.run(
        [sys.executable, "-m", "hybridmsg.bench", "--quick", "--nodes", "1,3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=410,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| call: calls/s |" in run.stdout
    assert "| ombt rpc: msgs/s |" in run.stdout and "| ombt cast: msgs/s (all handled) |" in (
        run.stdout
    )
    header = next(line for line in run.stdout.splitlines() if line.startswith("|  |"))
    assert "| rabbit×3 | nats×3 |" in header and "| nats×3 ÷ rabbit×3 |" in header
    document = json.loads((out / "results.json").read_text())
    transports = document["transports"]
    oslo = ("rabbit", "nats", *filter(None, [ROUTER]))
    single = (*oslo, "raw-nats")
    clusters = tuple(f"{name}×3" for name in oslo)
    for name in (*single, *clusters):
        found = transports[name]
        assert "failed" not in found, found.get("failed")
        assert found["nodes"] == (3 if "×" in name else 1)
        for workload in WORKLOADS:
            assert found["workloads"][workload]["ops_per_s"] > 0, (name, workload)
        assert found["workloads"]["call"]["p99_ms"] > 0
        assert found["workloads"]["call"]["backend_mib"] > 0
        point = found["scale"]["10"]
        assert point["p50_ms"] > 0 and point["fanout_ms"] > 0 and point["connections"] > 0
    for name in (*oslo, *clusters):
        for mode in ("ombt_rpc", "ombt_cast"):
            figures = transports[name]["workloads"][mode]
            assert figures["ops"] == figures["server_total"] == OMBT_CALLS, (name, figures)
            assert figures["ops_per_s"] > 0
    assert "ombt_rpc" not in transports["raw-nats"]["workloads"]
    assert transports["raw-nats×3"] == {
        "title": "raw nats-py", "skipped": "runs against one server only (no cluster column)"
    }
    for name in ("rabbit", "rabbit×3"):
        assert transports[name]["workloads"]["notify"]["ops_per_s"] > 0
        assert transports[name]["scale"]["10"]["queues"] > 0
    for name in ("nats", "nats×3"):
        # the client and two peers: one connection each, on whichever node
        assert transports[name]["scale"]["10"]["connections"] == 3
        assert transports[name]["scale"]["10"]["subscriptions"] > 0
    assert document["options"]["nodes"] == [1, 3]
    assert document["targets"]
    assert (out / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "report.md").exists()


@needs_qdrouterd
@pytest.mark.timeout(180)
def test_quick_bench_raw_amqp_accounts_for_every_message(tmp_path):
    """Raw proton through qdrouterd: every call answered, every cast and fanout counted."""
    out = tmp_path / "bench"
    run = subprocess.run(
        [sys.executable, "-m", "hybridmsg.bench", "--quick", "--transports", "raw-amqp",
         "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "|  | raw-amqp |" in run.stdout
    found = json.loads((out / "results.json").read_text())["transports"]["raw-amqp"]
    assert "failed" not in found and "skipped" not in found, found
    assert found["backend"]["server"] == "qdrouterd"
    for workload in WORKLOADS:
        figures = found["workloads"][workload]
        assert figures["ops"] > 0, workload
        assert "errors" not in figures, (workload, figures.get("first_error"))
        assert "unhandled" not in figures, (workload, figures["unhandled"])
    point = found["scale"]["10"]
    assert "errors" not in point and "fanout_reached" not in point, point
    assert point["fanout_ms"] > 0 and point["connections"] > 0
