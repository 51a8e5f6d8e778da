"""``hybridmsg up --nodes 3``: a 3-node NATS cluster and a 3-node RabbitMQ cluster on the
test hosts 127.0.0.2-4 of this machine, proven with real traffic through each node.

One stack for the module (started and stopped here, through the CLI as a deployer would).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import oslo_messaging as om
import psutil
import pytest
from oslo_config import cfg

from hybridmsg.localservers import rabbit_node
from hybridmsg.services import ServiceConfig, on_node
from hybridmsg.stack import Stack, host_addresses
from tests.conftest import private_directory
from tests.integration.conftest import needs_qdrouterd
from tests.integration.oslo_peer import NotificationRecorder, Recorder, rpc_servers, rpc_transport
from tests.integration.test_stack import hybridmsg, ok

NODES = 3
HOSTS = host_addresses(NODES)
SERVICES = ("nova", "glance")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    with private_directory("hybridmsg-cluster-") as directory:
        directory.chmod(0o711)  # the rabbitmq user must reach state/rabbitmq/
        state = directory / "state"
        try:
            ok(state, "up", "--mode", "hybrid", "--nodes", str(NODES),
               "--services", ",".join(SERVICES))
            yield Stack(state)
        finally:
            hybridmsg(state, "down")


def state(stack: Stack) -> Path:
    return stack.state_dir


def test_the_test_hosts_are_distinct_loopback_addresses():
    assert HOSTS == ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def test_status_shows_every_node_running(cluster):
    rows = ok(state(cluster), "status").splitlines()
    for title in ("RabbitMQ node", "nats-server"):
        nodes = [row for row in rows if row.startswith(title)]
        assert len(nodes) == NODES, rows
        assert all(row.endswith("running") for row in nodes)
        assert [host for host in HOSTS if any(f" {host}:" in row for row in nodes)] == list(HOSTS)


def test_each_nats_node_routes_to_the_other_two(cluster):
    nodes = cluster.plan().router.nodes
    for node in nodes:
        with urllib.request.urlopen(f"http://{node.host}:{node.monitor_port}/routez") as answer:
            routez = json.load(answer)
        assert routez["server_name"] == node.address
        assert {route["remote_name"] for route in routez["routes"]} == {
            other.address for other in nodes if other != node
        }


def test_rabbitmq_cluster_has_three_running_nodes(cluster):
    plan = cluster.plan()
    node = rabbit_node(cluster.server(plan, plan.rabbitmq))
    status = json.loads(node.ctl("cluster_status", "--formatter", "json"))
    names = sorted(n.name for n in plan.rabbitmq.nodes)
    assert sorted(name.rpartition("@")[2] for name in names) == sorted(HOSTS)
    assert sorted(status["running_nodes"]) == names
    assert sorted(status["disk_nodes"]) == names
    assert status["cluster_name"] == "hybridmsg"
    assert not status["partitions"]


def test_the_snippet_names_all_three_hosts(cluster):
    snippet = ok(state(cluster), "config", "nova")
    urls = [line for line in snippet.splitlines() if line.startswith("transport_url = ")]
    assert [url.split("://")[0].split(" = ")[1] for url in urls] == ["nats", "rabbit-once"]
    for url in urls:
        assert [host for host in HOSTS if f"@{host}:" in url] == list(HOSTS)
    assert "rabbit_quorum_queue = true" in snippet


def test_check_proves_every_node(cluster):
    out = ok(state(cluster), "check")
    for host in HOSTS:
        (row,) = [line for line in out.splitlines() if line.startswith(f"nova @{host}:")]
        assert row.split().count("ok") == 4, out  # call, cast, fanout, notify


def call_across(config: ServiceConfig) -> tuple[ServiceConfig, ServiceConfig]:
    """An RPC server on the first node answers a call from the last; both configs."""
    first, last = on_node(config, 0), on_node(config, NODES - 1)
    with rpc_transport(first.self_contained(first.rpc_url)) as server_side, rpc_servers(
        server_side, [om.Target(topic="cross", server="s1")], [Recorder("s1")]
    ), rpc_transport(last.self_contained(last.rpc_url)) as client_side:
        client = om.get_rpc_client(client_side, om.Target(topic="cross"), timeout=10)
        assert client.call({}, "echo", value="across")["server"] == "s1"
    return first, last


def test_traffic_crosses_the_cluster(cluster):
    """An RPC server on the first node answers a client on the last; a notification sent
    through the last node reaches a listener on the first."""
    config = cluster.read_config("nova")
    first, last = call_across(config)
    assert first.notification_url and last.notification_url
    recorder = NotificationRecorder()
    listen = om.get_notification_transport(
        cfg.CONF, url=first.self_contained(first.notification_url)
    )
    send = om.get_notification_transport(
        cfg.CONF, url=last.self_contained(last.notification_url)
    )
    listener = om.get_notification_listener(
        listen, [om.Target(topic="cluster_test")], [recorder], executor="threading"
    )
    listener.start()
    try:
        notifier = om.Notifier(send, "nova.host", driver="messagingv2", topics=["cluster_test"])
        notifier.info({}, "nova.crossed", {"through": HOSTS[-1]})
        assert recorder.wait_for(1, timeout=30), recorder.events
    finally:
        listener.stop()
        listener.wait()
        listen.cleanup()
        send.cleanup()
    assert recorder.events == [("nova.crossed", {"through": HOSTS[-1]})]


def _listening(pid: int) -> set[str]:
    """The addresses ``pid`` and its children listen on (TCP)."""
    process = psutil.Process(pid)
    return {
        conn.laddr.ip
        for proc in (process, *process.children(recursive=True))
        for conn in proc.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN
    }


def test_nothing_listens_beyond_the_test_hosts(cluster):
    """Each node listens on its own test host only; the cluster's epmd on the test hosts
    and loopback (epmd always adds it)."""
    for server in cluster.status():
        host = server.address.rpartition(":")[0]
        assert server.pid is not None
        assert _listening(server.pid) == {host}, server.title
    epmd = cluster.state_dir / "rabbitmq" / "epmd" / "epmd.pid"
    assert _listening(int(epmd.read_text())) <= {*HOSTS, "127.0.0.1", "::1"}


@needs_qdrouterd
def test_a_qdrouterd_mesh_of_three_routers():
    """``--router qdrouterd --nodes 3``: three interior routers, each with a direct route
    to the other two; a call crosses from the last router to the first."""
    with private_directory("hybridmsg-mesh-") as directory:
        directory.chmod(0o711)
        mesh = directory / "state"
        try:
            ok(mesh, "up", "--mode", "router", "--router", "qdrouterd", "--nodes", str(NODES),
               "--services", "nova")
            out = ok(mesh, "check")
            assert sum(line.startswith("nova @localhost:") for line in out.splitlines()) == NODES
            # a router whose peer was not listening yet connects on its next retry
            deadline = time.monotonic() + 60
            while not all(_direct_routes(mesh, n) for n in range(1, NODES + 1)):
                assert time.monotonic() < deadline, [_last_hops(mesh, n) for n in (1, 2, 3)]
                time.sleep(0.5)
            call_across(Stack(mesh).read_config("nova"))
        finally:
            hybridmsg(mesh, "down")


def _last_hops(mesh: Path, number: int) -> str:
    log = (mesh / "qdrouterd" / f"node{number}" / "qdrouterd-router.log").read_text()
    hops = [line for line in log.splitlines() if "Computed next hops" in line]
    return hops[-1] if hops else ""  # none computed yet: the caller polls again


def _direct_routes(mesh: Path, number: int) -> bool:
    """Whether router ``number`` reaches every other router directly."""
    others = {f"hybridmsg-{n}" for n in range(1, NODES + 1) if n != number}
    return all(f"'{router}': '{router}'" in _last_hops(mesh, number) for router in others)
