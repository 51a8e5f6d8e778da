"""The pure parts of the bench: timing, percentiles, /proc parsing, tables, targets, chart."""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from hybridmsg.bench.chart import write_chart
from hybridmsg.bench.clusters import reach
from hybridmsg.bench.measure import drive, percentile
from hybridmsg.bench.peer import Counters
from hybridmsg.bench.peers import PeerGroup
from hybridmsg.bench.procstats import (
    cpu_seconds,
    parse_open_files_limit,
    parse_stat_cpu,
    parse_status_rss,
    rss_bytes,
)
from hybridmsg.bench.raw_protocol import answer, request, result, server_url
from hybridmsg.bench.report import (
    baseline,
    column,
    evaluate_targets,
    fmt,
    markdown_table,
    rows,
    skipped_text,
    targets_text,
)
from hybridmsg.bench.runner import describe, processes_for
from hybridmsg.bench.transports import TRANSPORTS
from hybridmsg.commands.bench import _count, _names, _nodes, _sizes
from hybridmsg.plan import BackendKind, Mode
from hybridmsg.stack import local_plan

STAT = (
    "4242 (weird) name (x)) S 1 4242 4242 0 -1 4194560 1200 0 0 0 "
    "250 150 0 0 20 0 3 0 12345 123456789 2048 18446744073709551615 "
    "1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0"
)
STATUS = "Name:\tpython\nVmPeak:\t  20000 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n"
LIMITS = (
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max open files            1024                 524288               files     \n"
)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        (list(range(1, 101)), 0.50, 50),
        (list(range(1, 101)), 0.99, 99),
        (list(range(100, 0, -1)), 0.99, 99),
        ([7.0], 0.99, 7.0),
        ([], 0.5, 0.0),
        ([1, 2], 0.0, 1),
    ],
)
def test_percentile(values, fraction, expected):
    assert percentile(values, fraction) == expected


def test_drive_stops_at_the_count():
    calls = []
    timing = drive(lambda: calls.append(1), threads=4, count=50, duration=30)
    assert timing.count == len(calls) == 50
    assert timing.rate > 0
    assert set(timing.summary()) == {"ops", "ops_per_s", "p50_ms", "p99_ms"}


def test_drive_stops_at_the_deadline():
    started = time.perf_counter()
    timing = drive(lambda: time.sleep(0.01), threads=2, count=10**9, duration=0.2)
    assert time.perf_counter() - started < 2
    assert 0 < timing.count < 10**9


def test_drive_counts_errors_and_keeps_the_first():
    def fail():
        raise RuntimeError("boom")

    summary = drive(fail, threads=3, count=100, duration=5).summary()
    assert summary["ops"] == 0
    assert summary["errors"] == 3
    assert summary["first_error"] == "RuntimeError: boom"


def test_proc_parsing():
    assert parse_stat_cpu(STAT, ticks=100) == pytest.approx(4.0)
    assert parse_status_rss(STATUS) == 10240 * 1024
    assert parse_status_rss("Name:\tzombie\n") == 0
    assert parse_open_files_limit(LIMITS) == 1024


def test_proc_of_this_process():
    assert rss_bytes(os.getpid()) > 0
    assert cpu_seconds(os.getpid()) >= 0
    assert cpu_seconds(2**22 + 1) == 0.0  # no such process


def test_counters_wait_for_a_count():
    counters = Counters()
    assert counters.wait("cast", 1, 0) == 0
    threading.Timer(0.05, lambda: [counters.add("cast") for _ in range(3)]).start()
    assert counters.wait("cast", 3, 5) == 3


def test_raw_servers_answer_calls_and_count_casts_and_fanouts():
    counted = []
    assert result(answer(request("echo"), counted.append)) == 1
    assert answer(request("bump"), counted.append) is None
    assert answer(request("fan"), counted.append) is None
    assert counted == ["cast", "fanout"]


def test_raw_server_url_drops_the_vhost_and_keeps_the_scheme():
    assert server_url("nats://u:p@127.0.0.1:4222/bench") == "nats://u:p@127.0.0.1:4222"
    assert server_url("amqp://127.0.0.1:5672/bench") == "amqp://127.0.0.1:5672"


@pytest.mark.parametrize(
    ("servers", "sizes"), [(10, [5, 5]), (1000, [250] * 4), (7, [7]), (1, [1]), (100, [25] * 4)]
)
def test_servers_spread_over_processes(servers, sizes):
    group = PeerGroup("oslo", ("nats://x",), "t", servers, processes_for(servers))
    assert group.sizes == sizes


def results(call_rate: float, p99: float, cpu: float, p50_at: dict[str, float]) -> dict:
    figures = {"ops_per_s": call_rate, "p50_ms": 1.0, "p99_ms": p99, "cpu_total": cpu}
    return {
        "workloads": {
            "call": figures | {"cpu_client": 0.1, "cpu_server": 0.1, "cpu_backend": 0.1},
            "call_8_threads": {"ops_per_s": call_rate * 2, "cpu_backend": cpu / 10},
            "cast": {"ops_per_s": call_rate * 3},
        },
        "scale": {n: {"p50_ms": p50, "backend_mib": 10.0} for n, p50 in p50_at.items()},
    }


SAMPLE = {
    "rabbit": results(500, 3.0, 4.0, {"10": 2.0, "1000": 4.0})
    | {"scale": {"10": {"p50_ms": 2.0, "queues": 21}, "1000": {"refused": "x", "started": 826}}},
    "nats": results(2000, 0.5, 1.0, {"10": 1.0, "1000": 1.1}),
    "amqp": {"title": "amqp", "skipped": "qdrouterd not found on PATH"},
}


def test_markdown_table_sets_transports_side_by_side():
    table = markdown_table(SAMPLE, (10, 1000))
    lines = table.splitlines()
    assert lines[0] == "|  | rabbit | nats | nats ÷ rabbit |"
    assert "| call: calls/s | 500 | 2,000 | ×4.00 |" in lines
    assert "| 10 servers: queues | 21 | – |  |" in lines
    assert "| 1,000 servers: call p50 ms | refused at 826 | 1.10 |  |" in lines
    assert not any("notify" in line for line in lines)  # no transport measured it
    assert "amqp" not in table


def test_cluster_columns_are_compared_with_rabbit_of_as_many_nodes():
    assert [column("nats", 1), column("nats", 3)] == ["nats", "nats×3"]
    assert [baseline("nats"), baseline("amqp×3"), baseline("rabbit×3")] == [
        "rabbit", "rabbit×3", "rabbit×3"
    ]
    sample = SAMPLE | {
        "rabbit×3": results(250, 6.0, 8.0, {}),
        "nats×3": results(1000, 1.5, 2.0, {}),
        "raw-nats×3": {"title": "raw", "skipped": "runs against one server only"},
    }
    lines = markdown_table(sample, (10,)).splitlines()
    assert lines[0] == (
        "|  | rabbit | nats | rabbit×3 | nats×3 | nats ÷ rabbit | nats×3 ÷ rabbit×3 |"
    )
    assert "| call: calls/s | 500 | 2,000 | 250 | 1,000 | ×4.00 | ×4.00 |" in lines
    assert "| call: p99 ms | 3.00 | 0.50 | 6.00 | 1.50 | ×0.17 | ×0.25 |" in lines


def test_a_failed_ombt_row_says_failed_and_why():
    failed = {"failed": "client total 200 != server total 198 (200 sent)"}
    sample = {
        "rabbit": results(500, 3.0, 4.0, {}),
        "nats": results(2000, 0.5, 1.0, {}),
    }
    sample["rabbit"]["workloads"]["ombt_rpc"] = {"ops": 200, "ops_per_s": 400.0, "mean_ms": 2.5}
    sample["nats"]["workloads"]["ombt_rpc"] = failed
    lines = markdown_table(sample, ()).splitlines()
    assert "| ombt rpc: msgs/s | 400 | failed |  |" in lines
    assert "| ombt rpc: mean latency ms | 2.50 | failed |  |" in lines
    assert not any(line.startswith("| ombt cast") for line in lines)  # not run
    assert skipped_text(sample) == f"- nats: ombt_rpc failed: {failed['failed']}\n"
    assert describe("ombt rpc", failed) == f"ombt rpc: failed: {failed['failed']}"
    ombt = {"ops": 200, "server_total": 200, "ops_per_s": 900.0, "mean_ms": 1.1}
    assert describe("ombt rpc", ombt) == "ombt rpc: 900 ops/s, mean 1.10 ms, 200 sent, 200 handled"


def test_raw_transports_have_no_cluster_column():
    assert TRANSPORTS["raw-nats"].unavailable(3) == (
        "runs against one server only (no cluster column)"
    )
    assert [n for n, t in TRANSPORTS.items() if t.cluster] == ["rabbit", "nats", "amqp"]
    assert [n for n, t in TRANSPORTS.items() if t.has_oslo_url] == ["rabbit", "nats", "amqp"]


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (None, "–"),
        (1234.5, "1,234"),
        (12.34, "12.3"),
        (0.5, "0.50"),
        (0.0123, "0.012"),
        (0.0, "0"),
        (21, "21"),
        ("refused", "refused"),
    ],
)
def test_fmt(cell, text):
    assert fmt(cell) == text


def test_targets_are_ratios_to_rabbit():
    found = {t["target"]: t for t in evaluate_targets(SAMPLE)}
    assert {t["transport"] for t in found.values()} == {"nats"}
    assert found["sequential calls/s ≥ 3× rabbit"]["met"]
    assert found["sequential calls/s ≥ 3× rabbit"]["measured"] == 4.0
    assert found["total CPU per 1,000 calls ≤ 1/2 of rabbit"]["met"]
    backend = found["backend CPU per 1,000 calls (8 threads) ≤ 1/5 of RabbitMQ"]
    assert backend["measured"] == 0.25 and not backend["met"]
    flat = found["call p50 flat (≤ +20 %) from fewest to most servers"]
    assert flat["measured"] == 1.1 and flat["met"]
    assert found["fanout to 1,000 servers ≤ 25 ms"]["measured"] is None  # no fanout figure


def test_each_router_has_its_own_goals():
    """Issue 15: amqp:// must reach ×2 where nats:// must reach ×3; the fanout goal is in ms."""
    amqp = results(1100, 1.4, 1.9, {"10": 1.0, "1000": 1.0})
    nats = results(1400, 1.2, 1.9, {"10": 1.0}) | {
        "scale": {"10": {"p50_ms": 1.0}, "1000": {"p50_ms": 1.0, "fanout_ms": 30.0}}
    }
    run = {"rabbit": SAMPLE["rabbit"], "nats": nats, "amqp": amqp}
    found = {(t["transport"], t["target"]): t for t in evaluate_targets(run)}
    assert found[("amqp", "sequential calls/s ≥ 2× rabbit")]["met"]
    assert not found[("nats", "sequential calls/s ≥ 3× rabbit")]["met"]
    assert found[("amqp", "sequential call p99 ≤ 1/2 of rabbit")]["met"]
    assert not found[("nats", "sequential call p99 ≤ 1/3 of rabbit")]["met"]
    fanout = found[("nats", "fanout to 1,000 servers ≤ 25 ms")]
    assert fanout["measured"] == 30.0 and not fanout["met"]
    assert ("amqp", "fanout to 1,000 servers ≤ 25 ms") not in found
    text = targets_text(list(found.values()))
    assert "- nats: fanout to 1,000 servers ≤ 25 ms: **MISSED** (measured 30 ms)" in text
    assert "- amqp: sequential calls/s ≥ 2× rabbit: **met** (measured ×2.20)" in text


def test_targets_show_the_raw_ceiling_beside_the_driver():
    """Issue 15: a missed target shows what the raw client reached in the same run."""
    run = {
        "rabbit": SAMPLE["rabbit"],
        "amqp": results(450, 2.5, 4.0, {"10": 1.0}),
        "raw-amqp": results(600, 1.5, 3.0, {"10": 1.0}),
    }
    found = {t["target"]: t for t in evaluate_targets(run)}
    assert {t["transport"] for t in found.values()} == {"amqp"}  # raw ones have no targets
    assert found["sequential calls/s ≥ 2× rabbit"]["ceiling"] == {"raw-amqp": 1.2}
    text = targets_text(list(found.values()))
    assert "- amqp: sequential calls/s ≥ 2× rabbit: **MISSED** (measured ×0.90; raw-amqp ×1.20)" \
        in text
    assert "ceiling" not in evaluate_targets(SAMPLE)[0]  # raw-nats did not run


def test_chart_is_written(tmp_path):
    write_chart(SAMPLE, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_bench_arguments():
    assert _names("rabbit, nats") == ("rabbit", "nats")
    assert _sizes("1000,10,100,10") == (10, 100, 1000)
    with pytest.raises(argparse.ArgumentTypeError, match="unknown transport kafka"):
        _names("rabbit,kafka")
    with pytest.raises(argparse.ArgumentTypeError):
        _sizes("0")
    with pytest.raises(argparse.ArgumentTypeError):
        _sizes("ten")
    assert _nodes("3,1") == (1, 3)
    with pytest.raises(argparse.ArgumentTypeError, match="numbers of nodes must be 1 to 8"):
        _nodes("1,9")
    assert _count("0") == 0
    with pytest.raises(argparse.ArgumentTypeError, match="not a number of messages"):
        _count("-5")


@pytest.mark.parametrize(("mode", "query"), [(Mode.ROUTER, ""), (Mode.RABBIT, "?")])
def test_on_a_cluster_the_client_and_the_servers_use_different_nodes(mode, query):
    plan = local_plan(mode, ("bench",), BackendKind.NATS, nodes=3)
    urls = reach(plan, 3)

    def hosts(url: str) -> list[str]:
        return re.findall(r"@(127\.0\.0\.\d+):", url)

    assert hosts(urls.url) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert hosts(urls.client) == ["127.0.0.4"]
    assert [hosts(url) for url in urls.servers] == [["127.0.0.2"], ["127.0.0.3"]]
    # the service's options (on RabbitMQ: quorum queues) go with every URL
    for url in (urls.url, urls.client, *urls.servers):
        assert ("?" in url) == bool(query)
        assert ("rabbit_quorum_queue=true" in url) == (mode is Mode.RABBIT)


def test_casts_that_return_once_sent_compare_with_rabbits_casts():
    """oslo's rabbit:// casts never wait for the consumer: amqp://'s casts with
    casts_wait_for_outcome = false are compared with them, row and target alike."""
    run = {
        "rabbit": {"workloads": {"cast": {"ops_per_s": 1000}}},
        "amqp": {"workloads": {"cast": {"ops_per_s": 500}, "cast_early": {"ops_per_s": 2500}}},
    }
    table = dict(rows(run, ()))
    assert table["cast: casts/s (all handled)"] == [1000, 500]
    assert table["cast returning once sent: casts/s (all handled)"] == [1000, 2500]
    found = {t["target"]: t for t in evaluate_targets(run)}
    assert not found["casts/s ≥ 2× rabbit"]["met"]
    early = found["casts/s, casts_wait_for_outcome = false, ≥ 2× rabbit"]
    assert early["measured"] == 2.5 and early["met"]


def test_oslo_floor_measures_a_fanout_to_every_server_through_fake():
    run = subprocess.run(
        [sys.executable, "-m", "hybridmsg.bench.oslo_floor", "5", "2"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.fullmatch(
        r"fake:// fanout to 5 servers in one process: median \d+\.\d ms over 2 rounds\n",
        run.stdout,
    )
    refused = subprocess.run(
        [sys.executable, "-m", "hybridmsg.bench.oslo_floor", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == 2 and "must be at least 1" in refused.stderr
    assert "Traceback" not in refused.stderr
