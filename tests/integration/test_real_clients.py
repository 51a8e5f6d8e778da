"""Clients nobody here wrote: oslo.messaging's own functional suite and ombt, on our drivers.

Both run as their authors run them, in processes of their own: the functional suite from
oslo.messaging's wheel (importing ``oslo_messaging.tests`` monkey-patches eventlet, and its
servers use the eventlet executor), driven by ``RPC_TRANSPORT_URL`` and
``NOTIFY_TRANSPORT_URL``; ombt 3 (``ombt2``, also monkey-patched) in its standalone modes.
Nothing of theirs is changed or filtered: the rabbit-only cases are left out with the same
``-k`` expression upstream's own non-rabbit jobs use, and the only skips allowed are the
ones the suite itself makes for a non-rabbit scheme.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hybridmsg.bench.ombt import OMBT, totals
from tests.integration.conftest import needs_qdrouterd

SUITE = "oslo_messaging.tests.functional.test_functional"
#: the cases that test RabbitMQ-only features (kombu compression, its metrics)
NOT_RABBIT_ONLY = "not Metrics and not compression"
#: skips the suite makes by itself when the URL is not rabbit:// (or not amqp://)
SCHEME_SKIPS = ("backend does not support call monitoring", "QPID-6307")


def _summary(output: str) -> dict[str, int]:
    """pytest's closing counts ("16 passed, 2 skipped in 50.1s") as a dict."""
    last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    assert last, f"no pytest summary in:\n{output[-3000:]}"
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", last[-1])}


def _run_functional_suite(tmp_path: Path, rpc_url: str, notify_url: str) -> dict[str, int]:
    env = dict(os.environ, RPC_TRANSPORT_URL=rpc_url, NOTIFY_TRANSPORT_URL=notify_url)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", SUITE, "-k", NOT_RABBIT_ONLY,
         "-q", "-rs", "--timeout", "60", "-p", "no:cacheprovider", "-p", "no:warnings"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    out = run.stdout + run.stderr
    counts = _summary(out)
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0, out[-6000:]
    assert run.returncode == 0, out[-6000:]
    for line in skips:
        assert any(reason in line for reason in SCHEME_SKIPS), f"unexpected skip: {line}"
    assert counts["passed"] + counts.get("skipped", 0) == 19, counts
    return counts


def _rabbit_once(rabbit_url: str) -> str:
    return rabbit_url.replace("rabbit://", "rabbit-once://", 1)


def test_oslo_functional_suite_on_nats(tmp_path, nats_url):
    assert _run_functional_suite(tmp_path, nats_url, nats_url)["passed"] >= 17


def test_oslo_functional_suite_on_hybrid_nats_and_rabbit(tmp_path, nats_url, rabbit_url):
    notify = _rabbit_once(rabbit_url)
    assert _run_functional_suite(tmp_path, nats_url, notify)["passed"] >= 17


@needs_qdrouterd
def test_oslo_functional_suite_on_amqp(tmp_path, amqp_url):
    assert _run_functional_suite(tmp_path, amqp_url, amqp_url)["passed"] >= 16


@needs_qdrouterd
def test_oslo_functional_suite_on_hybrid_amqp_and_rabbit(tmp_path, amqp_url, rabbit_url):
    notify = _rabbit_once(rabbit_url)
    assert _run_functional_suite(tmp_path, amqp_url, notify)["passed"] >= 16


def _ombt(tmp_path: Path, url: str, *mode: str) -> str:
    run = subprocess.run(
        [str(OMBT), "--url", url, "--timeout", "120", *mode],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return run.stdout + run.stderr


@pytest.mark.parametrize("executor", ["threading", "eventlet"])
@pytest.mark.parametrize("cast", [False, True], ids=["rpc", "cast"])
def test_ombt_rpc_accounts_for_every_message_on_nats(tmp_path, nats_url, cast, executor):
    calls = 500
    mode = ["rpc", "--calls", str(calls), "--length", "1024", "--executor", executor]
    counted = totals(_ombt(tmp_path, nats_url, *mode, *(["--cast"] if cast else [])))
    assert counted == {"client": calls, "server": calls}


def test_ombt_notify_accounts_for_every_message_on_nats(tmp_path, nats_url):
    calls = 500
    report = _ombt(tmp_path, nats_url, "notify", "--calls", str(calls), "--length", "1024")
    assert totals(report) == {"notifier": calls, "listener": calls}, report[-2000:]


@needs_qdrouterd
@pytest.mark.parametrize("cast", [False, True], ids=["rpc", "cast"])
def test_ombt_rpc_accounts_for_every_message_on_amqp(tmp_path, amqp_url, cast):
    calls = 500
    mode = ["rpc", "--calls", str(calls), "--length", "1024"]
    counted = totals(_ombt(tmp_path, amqp_url, *mode, *(["--cast"] if cast else [])))
    assert counted == {"client": calls, "server": calls}
