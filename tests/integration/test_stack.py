"""The real ``hybridmsg`` command against real servers: up, status, config, check, down.

Each test runs the CLI in subprocesses on its own state directory (RabbitMQ runs as user
``rabbitmq`` under root, hence ``rabbit_dir`` from tests/conftest.py rather than tmp_path)
and always ends with ``down``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import oslo_messaging as om
import pytest

from hybridmsg.backends.ports import port_in_use
from hybridmsg.backends.rabbitmq import RabbitDefinitions
from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.check import TOPIC
from hybridmsg.localservers import LocalRabbit, local_server
from hybridmsg.services import service_config
from hybridmsg.stack import Stack
from tests.conftest import private_directory, rabbit_node_config
from tests.integration.conftest import needs_qdrouterd
from tests.integration.oslo_peer import NotificationRecorder, snippet_conf

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("nova", "neutron", "cinder", "glance", "heat", "keystone")
SERVERS = {"rabbit": 1, "router": 1, "hybrid": 2}
SCHEMES = {
    "rabbit": ("rabbit", "rabbit"),
    "router": ("nats", None),
    "hybrid": ("nats", "rabbit-once"),
}


def hybridmsg(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hybridmsg", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(state_dir: Path, *args: str) -> str:
    result = hybridmsg(state_dir, *args)
    assert result.returncode == 0, f"hybridmsg {' '.join(args)}: {result.stderr}{result.stdout}"
    return result.stdout


SYSTEM_PORT = 5672


@pytest.fixture(scope="module", autouse=True)
def rabbitmq_on_5672() -> Iterator[None]:
    """A RabbitMQ on the standard port for the whole module, as on a machine that already
    runs one: the system node if it is up, else a node of the tests' own on 5672."""
    if port_in_use(SYSTEM_PORT):
        yield
        return
    with private_directory("hybridmsg-system-") as directory:
        config = replace(rabbit_node_config("system"), port=SYSTEM_PORT)
        with RabbitNode(config, directory, RabbitDefinitions.for_accounts([])):
            yield
    # and nothing of ours took its place or stopped it: checked by the tests' own `up`


@pytest.fixture
def state_dir(rabbit_dir: Path) -> Iterator[Path]:
    rabbit_dir.chmod(0o711)  # the rabbitmq user must reach state/rabbitmq/
    state = rabbit_dir / "state"
    yield state
    hybridmsg(state, "down")


def passwords(state_dir: Path) -> list[str]:
    return [s["password"] for s in json.loads((state_dir / "plan.json").read_text())["services"]]


def rabbit_node(state_dir: Path) -> RabbitNode:
    plan = Stack(state_dir).plan()
    rabbit = local_server(plan, plan.rabbitmq, state_dir / "rabbitmq")
    assert isinstance(rabbit, LocalRabbit)
    return rabbit.node


def rabbit_queues(state_dir: Path, vhost: str) -> set[str]:
    return {queue.name for queue in rabbit_node(state_dir).list_queues(vhost)}


@pytest.mark.parametrize("mode", ["rabbit", "router", "hybrid"])
def test_mode_end_to_end(mode: str, state_dir: Path) -> None:
    up = ok(state_dir, "up", "--mode", mode)
    assert up.count("starting ") == SERVERS[mode]
    assert "***" in up
    assert not any(password in up for password in passwords(state_dir))

    status = ok(state_dir, "status")
    assert status.count(" running") == SERVERS[mode]
    assert f"services: {', '.join(SERVICES)}" in status
    assert ("notification spools: none open" in status) is (mode == "hybrid")

    config = ok(state_dir, "config", "nova")
    assert config == (state_dir / "services" / "nova.conf").read_text()
    rpc, notify = SCHEMES[mode]
    assert f"transport_url = {rpc}://nova:" in config
    assert f"[oslo_messaging_{rpc}]\nssl = true\nssl_ca_file = " in config  # TLS by default
    if notify:
        assert "driver = messagingv2" in config
        assert config.count(f"{notify}://nova:") == (2 if rpc == notify else 1)
    else:
        assert "driver = noop" in config

    check = ok(state_dir, "check", "--timeout", "20")
    rows = [line for line in check.splitlines() if line.split()[:1] in ([s] for s in SERVICES)]
    assert len(rows) == len(SERVICES)
    for row in rows:
        assert row.count("ok ") == (3 if mode == "router" else 4), row
    # a service that reads nothing but its snippet works, after check declared its things
    service = subprocess.run(
        [sys.executable, "-m", "tests.integration.snippet_service",
         str(state_dir / "services" / "nova.conf")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert service.returncode == 0, service.stderr[-2000:]
    expected = {"call": "ok", "cast": True}
    if notify:
        expected["notifications"] = 5
    assert json.loads(service.stdout.splitlines()[-1]) == expected
    if mode == "hybrid":  # RPC went over NATS: RabbitMQ only keeps notification queues
        assert rabbit_queues(state_dir, "nova") == {f"{TOPIC}.info", "snippet.info"}
    if mode == "rabbit":
        assert f"{TOPIC}.check-1" in rabbit_queues(state_dir, "nova")

    down = ok(state_dir, "down")
    assert down.count("stopped ") == SERVERS[mode]
    assert port_in_use(SYSTEM_PORT), "the RabbitMQ on 5672 was disturbed"
    stopped = hybridmsg(state_dir, "status")
    assert stopped.returncode == 1
    assert stopped.stdout.count(" stopped") == SERVERS[mode]


def test_up_again_and_mode_changes_reconfigure(state_dir: Path) -> None:
    ok(state_dir, "up", "--mode", "rabbit")
    rabbit_pid = Stack(state_dir).status()[0].pid

    hybrid = ok(state_dir, "up", "--mode", "hybrid")
    assert f"already running (pid {rabbit_pid})" in hybrid
    assert "starting nats-server" in hybrid

    again = ok(state_dir, "up")
    assert again.count("already running") == 2
    assert "starting" not in again

    router = ok(state_dir, "up", "--mode", "router", "--services", "nova,heat")
    assert "stopped RabbitMQ node" in router
    assert [s.title for s in Stack(state_dir).status()] == ["nats-server"]
    assert sorted(p.name for p in (state_dir / "services").iterdir()) == ["heat.conf", "nova.conf"]

    check = ok(state_dir, "check")
    assert "heat" in check and "cinder" not in check

    unknown = hybridmsg(state_dir, "config", "cinder")
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "hybridmsg config: unknown service 'cinder'; known services: nova, heat\n"
    )


@needs_qdrouterd
def test_hybrid_with_qdrouterd_end_to_end(state_dir: Path) -> None:
    """RPC through Qpid Dispatch Router (mutual TLS, one vhost policy per service),
    notifications on RabbitMQ: check and a snippet-only service both work."""
    refused = hybridmsg(state_dir, "up", "--mode", "hybrid", "--router", "qdrouterd", "--no-tls")
    assert refused.returncode == 2 and "needs mutual TLS" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    ok(state_dir, "up", "--mode", "hybrid", "--router", "qdrouterd")
    config = ok(state_dir, "config", "nova")
    assert "transport_url = amqp://localhost:" in config and "ssl_cert_file = " in config
    check = ok(state_dir, "check", "--timeout", "20")
    rows = [line for line in check.splitlines() if line.split()[:1] in ([s] for s in SERVICES)]
    assert len(rows) == len(SERVICES) and all(row.count("ok ") == 4 for row in rows), check
    service = subprocess.run(
        [sys.executable, "-m", "tests.integration.snippet_service",
         str(state_dir / "services" / "nova.conf")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert service.returncode == 0, service.stderr[-2000:]
    assert json.loads(service.stdout.splitlines()[-1]) == {
        "call": "ok", "cast": True, "notifications": 5
    }
    log = (state_dir / "qdrouterd" / "qdrouterd-router.log").read_text()
    assert not any(f"({level})" in log for level in ("warning", "error", "critical"))
    assert ok(state_dir, "down").count("stopped ") == 2


def vhost_contents(state_dir: Path, vhost: str) -> list[str]:
    """The exchanges and queues of ``vhost``, with their durability, sorted."""
    node = rabbit_node(state_dir)
    return sorted(
        f"{kind} {line}"
        for kind in ("exchange", "queue")
        for line in node.ctl(f"list_{kind}s", "-q", "-p", vhost, "name", "durable").splitlines()
    )


def test_probe_changes_nothing_it_probes(state_dir: Path) -> None:
    """A probe logs in and declares nothing: on a fresh vhost, what a service declares later
    (durable, as its snippet says) still works; on a vhost in use, with the services' durable
    exchange, a correct URL is accepted."""
    ok(state_dir, "up", "--mode", "rabbit", "--services", "nova,glance")
    plan = Stack(state_dir).plan()

    def probe(service: str) -> str:
        config = service_config(plan, service)
        return ok(state_dir, "probe", config.self_contained(config.rpc_url), "--timeout", "20")

    fresh = vhost_contents(state_dir, "glance")
    assert "accepted user 'glance' over TLS" in probe("glance")
    assert vhost_contents(state_dir, "glance") == fresh
    ok(state_dir, "check", "--timeout", "20")  # glance's durable exchange and queues, declared
    in_use = vhost_contents(state_dir, "nova")
    assert "exchange openstack\ttrue" in in_use  # the services' exchange, durable
    assert "accepted user 'nova' over TLS" in probe("nova")
    assert vhost_contents(state_dir, "nova") == in_use
    ok(state_dir, "check", "--timeout", "20")


def notification_transport(state_dir: Path) -> om.Transport:
    """nova's notification transport, configured by nothing but its snippet."""
    return om.get_notification_transport(snippet_conf(state_dir / "services" / "nova.conf"))


def addresses(state_dir: Path) -> dict[str, tuple[str, str]]:
    """Each backend that runs: (address, RabbitMQ node name or "")."""
    plan = Stack(state_dir).plan()
    return {b.kind.value: (b.nodes[0].address, b.nodes[0].name) for b in plan.backends}


def test_mode_switches_keep_each_backends_ports_node_and_data(state_dir: Path) -> None:
    """hybrid -> router -> rabbit -> hybrid: RabbitMQ and nats-server come back on their
    ports (and RabbitMQ on its node name), and a notification queued before the switches
    is read after them."""
    ok(state_dir, "up", "--mode", "hybrid", "--services", "nova")
    first = addresses(state_dir)
    transport = notification_transport(state_dir)
    try:
        om.Notifier(transport, "test", driver="messagingv2", topics=["switches"]).info(
            {}, "before.switches", {"n": 1}
        )
    finally:
        transport.cleanup()

    ok(state_dir, "up", "--mode", "router")
    assert addresses(state_dir) == {"nats": first["nats"]}
    ok(state_dir, "up", "--mode", "rabbit")
    assert addresses(state_dir) == {"rabbitmq": first["rabbitmq"]}
    ok(state_dir, "up", "--mode", "hybrid")
    assert addresses(state_dir) == first
    assert json.loads((state_dir / "plan.json").read_text())["mode"] == "hybrid"

    recorder = NotificationRecorder()
    transport = notification_transport(state_dir)
    listener = om.get_notification_listener(
        transport, [om.Target(topic="switches")], [recorder], executor="threading"
    )
    listener.start()
    try:
        assert recorder.wait_for(1, timeout=30), "the notification queued before was lost"
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
    assert recorder.events == [("before.switches", {"n": 1})]
