"""``hybridmsg bench --quick`` against real servers: it produces figures (never how fast)."""

import json
import subprocess
import sys

import pytest

from tests.integration.conftest import needs_qdrouterd

WORKLOADS = ("call", "call_8_threads", "call_2_processes", "cast", "fanout")


@pytest.mark.timeout(240)
def test_quick_bench_produces_figures(tmp_path):
    out = tmp_path / "bench"
    run = subprocess.run(
        [sys.executable, "-m", "hybridmsg.bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "| call: calls/s |" in run.stdout
    document = json.loads((out / "results.json").read_text())
    transports = document["transports"]
    for name in ("rabbit", "nats", "raw-nats"):
        found = transports[name]
        assert "failed" not in found, found.get("failed")
        for workload in WORKLOADS:
            assert found["workloads"][workload]["ops_per_s"] > 0, (name, workload)
        assert found["workloads"]["call"]["p99_ms"] > 0
        assert found["workloads"]["call"]["backend_mib"] > 0
        point = found["scale"]["10"]
        assert point["p50_ms"] > 0 and point["fanout_ms"] > 0 and point["connections"] > 0
    assert transports["rabbit"]["workloads"]["notify"]["ops_per_s"] > 0
    assert transports["rabbit"]["scale"]["10"]["queues"] > 0
    assert transports["nats"]["scale"]["10"]["subscriptions"] > 0
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
