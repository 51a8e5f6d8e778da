"""Live migration rabbit -> hybrid (nats, or qdrouterd where its binary is) and back under
load, everything counted.

A workload of several services runs in real processes (``migration_workload``), each service
with two RPC servers (shared topic ``work`` plus one topic per server), a client calling
and casting continuously to both kinds of topic while it sends notifications, and a
notification listener. :class:`Migration` drives a real local stack (RabbitMQ node and
the router) and, at each stage, the workload does a rolling restart of every process on
its new config, one instance per service at a time (the replacement starts before the old
instance stops). The forward migration is interrupted once and resumed. At the end every
call must have had its reply and every cast and notification must have been handled
exactly once.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import oslo_messaging as om
import pytest
from oslo_config import cfg

from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.drivers.dual import GROUP, OPTS
from hybridmsg.localservers import LocalRabbit
from hybridmsg.migration.runner import Migration
from hybridmsg.migration.stages import Stage
from hybridmsg.plan import BackendKind, Mode, Plan
from hybridmsg.stack import Stack, TLSChoice
from tests.integration.conftest import ROOT, needs_qdrouterd
from tests.integration.migration_workload import (
    Workload,
    assert_nothing_lost,
    report,
)
from tests.integration.oslo_peer import Recorder, rpc_servers, rpc_transport

SERVICES = ("nova", "neutron", "cinder")


def rabbit_node(stack: Stack) -> RabbitNode:
    plan = stack.plan()
    server = stack.server(plan, plan.rabbitmq)
    assert isinstance(server, LocalRabbit)
    return server.node


@pytest.fixture
def state_dir(rabbit_dir: Path) -> Iterator[Path]:
    rabbit_dir.chmod(0o711)  # the rabbitmq user must reach state/rabbitmq/
    state = rabbit_dir / "state"
    yield state
    Stack(state).down(progress=lambda *a, **k: None)


class Interrupted(KeyboardInterrupt):
    """The operator's Ctrl-C, once, half way through the forward migration."""


@pytest.mark.parametrize(
    "router",
    [BackendKind.NATS, pytest.param(BackendKind.QDROUTERD, marks=needs_qdrouterd)],
)
def test_migrate_rabbit_to_hybrid_and_back_loses_nothing(
    router: BackendKind, state_dir: Path, tmp_path: Path
) -> None:
    stack = Stack(state_dir)
    started = time.monotonic()
    lines: list[str] = []

    def progress(text: str = "", **_: object) -> None:
        lines.append(f"{time.monotonic() - started:6.1f} {text}")

    # qdrouterd authenticates services by client certificate: that stack starts with TLS
    tls = TLSChoice(mutual=True) if router.needs_client_certificates else TLSChoice(enabled=False)
    stack.up(Mode.RABBIT, services=SERVICES, progress=progress, tls=tls)
    workload = Workload(lambda service, _: stack.snippet_file(service), tmp_path, SERVICES,
                        note=progress)

    interrupted: list[Stage] = []

    def restart(stage: Stage, wide: Plan) -> None:
        workload.restart_all(stage, wide)
        if stage.after.index == 2 and not interrupted:
            interrupted.append(stage)
            raise Interrupted()

    migration = Migration(stack, restart, progress=progress, check_timeout=20)
    try:
        workload.start()
        progress(f"workload of {len(workload.procs)} processes started")
        with pytest.raises(Interrupted):
            migration.run(Mode.HYBRID, router=router)
        assert migration.position(stack.plan()) == 1
        # mid-migration the snippets are dual://: check tests both transports of each
        check = subprocess.run(
            [sys.executable, "-m", "hybridmsg", "check", "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        scheme = router.scheme
        assert f"nova ({scheme})" in check.stdout and "nova (rabbit)" in check.stdout
        forward = migration.run(Mode.HYBRID, router=router)
        assert stack.plan().mode is Mode.HYBRID
        assert f"{router.scheme}://" in stack.snippet_file("nova").read_text()
        back = migration.run(Mode.RABBIT)
        assert [s.title for s in stack.status()][0].startswith("RabbitMQ")
        assert len(stack.status()) == 1  # the router stopped after the roll back
        workload.finish(rabbit_node(stack))
    finally:
        workload.kill()
        print("\n".join(lines))  # captured: pytest shows it when the test fails (or with -rP)
    counts = report(workload.results, f"migration workload, rabbit <-> hybrid ({router}): "
                    f"{len(SERVICES)} services, {workload.restarts} restarts")
    for direction, timings in (("rabbit->hybrid", forward), ("hybrid->rabbit", back)):
        print(
            f"  {direction} (after resume): "
            + ", ".join(f"stage {t.stage.number} {t.seconds:.1f} s" for t in timings)
        )
    assert_nothing_lost(counts)


@pytest.mark.parametrize("url", ["rabbit_url", "nats_url"])
def test_two_instances_of_one_server_share_its_topic(url: str, request) -> None:
    """The replacement of a server runs beside the old instance for a moment: messages to
    that server's own topic go to one of the two, never to both (RabbitMQ's queue, NATS's
    queue group)."""
    recorders = [Recorder("old"), Recorder("new")]
    with rpc_transport(request.getfixturevalue(url)) as transport:
        targets = [om.Target(topic="twice", server="one")] * 2
        with rpc_servers(transport, targets, recorders):
            client = om.get_rpc_client(transport, om.Target(topic="twice", server="one"))
            for i in range(40):
                client.cast({}, "record", value=i)
            answers = [client.call({}, "echo", value=i)["server"] for i in range(10)]
            deadline = time.monotonic() + 10  # casts are not ordered between two servers
            while sum(r.casts.total() for r in recorders) < 40 and time.monotonic() < deadline:
                recorders[0].wait_casts(recorders[0].casts.total() + 1, timeout=0.1)
    handled = recorders[0].casts + recorders[1].casts
    assert handled == Counter(range(40)), handled
    assert recorders[0].calls + recorders[1].calls == Counter(range(10))
    assert len(answers) == 10


@contextlib.contextmanager
def dual_transport(send_url: str, also_listen_url: str | None = None) -> Iterator[om.Transport]:
    """A ``dual://`` RPC transport configured as a service's snippet would (cfg.CONF)."""
    cfg.CONF.register_opts(OPTS, group=GROUP)
    cfg.CONF.set_override("send_url", send_url, group=GROUP)
    cfg.CONF.set_override("also_listen_url", also_listen_url, group=GROUP)
    dual = om.get_rpc_transport(cfg.CONF, url="dual://")
    try:
        yield dual
    finally:
        dual.cleanup()
        cfg.CONF.clear_override("send_url", group=GROUP)
        cfg.CONF.clear_override("also_listen_url", group=GROUP)


def test_rabbit_servers_replaced_under_load_lose_nothing(rabbit_url: str) -> None:
    """One RPC server replaced three times while casts flow to its topic and its own
    topic, replacement first: plain rabbit:// -> dual:// -> dual:// -> plain rabbit://.

    A plain oslo 18.x server loses what RabbitMQ delivers between stop() and the close
    of its connection; a dual:// server takes the traffic over first (consumer priority)
    and hands back what it reads after stop() (requeue), so every cast is handled once.
    """
    target = om.Target(topic="handover", server="s1")
    recorders: list[Recorder] = []
    sent = 0
    stop_sending = threading.Event()

    def start(transport: om.Transport) -> om.rpc.server.RPCServer:
        recorders.append(Recorder(f"server-{len(recorders)}"))
        server = om.get_rpc_server(transport, target, [recorders[-1]], executor="threading")
        server.start()
        return server

    def send(client: om.RPCClient) -> None:
        nonlocal sent
        to_one = client.prepare(server="s1")
        while not stop_sending.wait(0.002):
            (to_one if sent % 2 else client).cast({}, "record", value=sent)
            sent += 1

    with rpc_transport(rabbit_url) as plain, dual_transport(rabbit_url) as dual:
        current = start(plain)
        sender = threading.Thread(target=send, args=(om.get_rpc_client(plain, target),))
        sender.start()
        try:
            for transport in (dual, dual, plain):
                time.sleep(0.5)
                replacement = start(transport)
                time.sleep(0.5)
                current.stop()
                current.wait()
                current = replacement
        finally:
            stop_sending.set()
            sender.join()
        deadline = time.monotonic() + 20
        while (handled := sum(sum(r.casts.values()) for r in recorders)) < sent:
            assert time.monotonic() < deadline, f"{sent - handled} of {sent} casts never handled"
            recorders[-1].wait_casts(sum(recorders[-1].casts.values()) + 1, timeout=0.2)
        current.stop()
        current.wait()
    handled = sum((r.casts for r in recorders), Counter())
    assert sent > 100
    assert handled == Counter(range(sent)), (sent, sum(handled.values()))
    assert all(r.casts for r in recorders)


def test_dual_driver_serves_both_transports(rabbit_url: str, nats_url: str) -> None:
    """dual://: a server listens on RabbitMQ and NATS at once."""
    recorder = Recorder("dual")
    with dual_transport(nats_url, rabbit_url) as dual:
        with rpc_servers(dual, [om.Target(topic="dual", server="s1")], [recorder]):
            with rpc_transport(rabbit_url) as rabbit, rpc_transport(nats_url) as nats:
                for name, transport in (("rabbit", rabbit), ("nats", nats), ("dual", dual)):
                    client = om.get_rpc_client(transport, om.Target(topic="dual"), timeout=20)
                    assert client.call({}, "echo", value=name) == {"server": "dual", "value": name}
                    client.prepare(server="s1").cast({}, "record", value=name)
                assert recorder.wait_casts(3)
    assert recorder.casts == Counter({"rabbit": 1, "nats": 1, "dual": 1})
