"""The oslo.messaging behaviour every transport must give, run on each real server.

Parametrized over ``rabbit://`` (oslo's own driver on a real RabbitMQ node) and ``nats://``
(hybridmsg's driver on a real nats-server), so each transport is held to the same
semantics. Every wait is bounded; nothing sleeps its way to a pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import oslo_messaging as om
import pytest
from oslo_config import cfg

from tests.integration.conftest import ROOT, needs_qdrouterd
from tests.integration.oslo_peer import (
    NotificationRecorder,
    PeerError,
    Recorder,
    rpc_servers,
    rpc_transport,
)

TRANSPORTS = ["rabbit", "nats", pytest.param("amqp", marks=needs_qdrouterd)]
SLACK = 2.0  # seconds a timeout may overrun on a loaded machine


@pytest.fixture(params=TRANSPORTS)
def url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def client(transport, topic, **kwargs):
    return om.get_rpc_client(transport, om.Target(topic=topic), timeout=10, **kwargs)


def test_call_returns_the_reply(url, topic):
    with rpc_transport(url) as transport, rpc_servers(
        transport, [om.Target(topic=topic, server="a")], [Recorder("a")]
    ):
        assert client(transport, topic).call({}, "echo", value=[1, "x"]) == {
            "server": "a",
            "value": [1, "x"],
        }


def test_remote_exceptions_come_back_as_oslo_does(url, topic):
    with rpc_transport(url, allowed_remote_exmods=[PeerError.__module__]) as transport:
        with rpc_servers(transport, [om.Target(topic=topic, server="a")], [Recorder("a")]):
            rpc = client(transport, topic)
            with pytest.raises(ValueError, match="bad value from the endpoint"):
                rpc.call({}, "fail", kind="value")
            with pytest.raises(PeerError, match="a custom failure"):
                rpc.call({}, "fail", kind="custom")
    with rpc_transport(url) as transport:
        with rpc_servers(transport, [om.Target(topic=topic, server="a")], [Recorder("a")]):
            with pytest.raises(om.RemoteError) as err:
                client(transport, topic).call({}, "fail", kind="custom")
            assert err.value.exc_type == "PeerError"
            with pytest.raises(om.RemoteError) as err:
                client(transport, topic).call({}, "no_such_method")
            assert err.value.exc_type == "NoSuchMethod"


def test_call_without_a_server_times_out_at_its_timeout(url, topic):
    with rpc_transport(url) as transport:
        rpc = om.get_rpc_client(transport, om.Target(topic=topic), timeout=1.5)
        started = time.monotonic()
        with pytest.raises(om.MessagingTimeout):
            rpc.call({}, "echo", value=1)
        elapsed = time.monotonic() - started
        assert 1.5 * 0.9 <= elapsed <= 1.5 + SLACK


def test_cast_is_handled(url, topic):
    rec = Recorder("a")
    with rpc_transport(url) as transport, rpc_servers(
        transport, [om.Target(topic=topic, server="a")], [rec]
    ):
        rpc = client(transport, topic)
        for i in range(20):
            rpc.cast({}, "record", value=i)
        assert rec.wait_casts(20)
        assert rec.casts == Counter(range(20))


def test_fanout_reaches_every_server_of_the_topic(url, topic):
    recs = [Recorder(f"s{i}") for i in range(3)]
    other = Recorder("other-topic")
    targets = [om.Target(topic=topic, server=r.name) for r in recs]
    with rpc_transport(url) as transport, rpc_servers(
        transport, [*targets, om.Target(topic=topic + "-x", server="o")], [*recs, other]
    ):
        client(transport, topic).prepare(fanout=True).cast({}, "record", value="hello")
        for rec in recs:
            assert rec.wait_casts(1), f"{rec.name} missed the fanout"
            assert rec.casts == Counter(["hello"])
        # Each server got one copy, and another topic none; a call proves delivery order.
        client(transport, topic + "-x").call({}, "echo", value=0)
        assert not other.casts


def test_server_target_reaches_only_that_server(url, topic):
    recs = [Recorder(f"s{i}") for i in range(3)]
    targets = [om.Target(topic=topic, server=r.name) for r in recs]
    with rpc_transport(url) as transport, rpc_servers(transport, targets, recs):
        rpc = om.get_rpc_client(transport, om.Target(topic=topic, server="s1"), timeout=10)
        answers = Counter(rpc.call({}, "echo", value=i)["server"] for i in range(30))
        assert answers == Counter({"s1": 30})
        assert not recs[0].calls and not recs[2].calls


def test_servers_of_a_topic_share_calls_each_handled_once(url, topic):
    recs = [Recorder(f"s{i}") for i in range(3)]
    targets = [om.Target(topic=topic, server=r.name) for r in recs]
    with rpc_transport(url) as transport, rpc_servers(transport, targets, recs):
        rpc = client(transport, topic)
        answers = Counter(rpc.call({}, "echo", value=i)["server"] for i in range(90))
    assert sum(answers.values()) == 90
    assert set(answers) == {"s0", "s1", "s2"}, f"calls not shared: {answers}"
    handled = Counter()
    for rec in recs:
        handled.update(rec.calls)
    assert handled == Counter(range(90))


def test_exchanges_keep_traffic_apart(url, topic):
    with rpc_transport(url) as transport, rpc_servers(
        transport,
        [om.Target(topic=topic, server="a", exchange="nova"),
         om.Target(topic=topic + "-b", server="b", exchange="openstack")],
        [Recorder("a"), Recorder("b")],
    ):
        nova = om.get_rpc_client(transport, om.Target(topic=topic, exchange="nova"))
        assert nova.call({}, "echo", value=1)["server"] == "a"
        # No exchange in the target: the control_exchange, "openstack" by default.
        assert client(transport, topic + "-b").call({}, "echo", value=1)["server"] == "b"
        for exchange in ("glance", None):
            lost = om.get_rpc_client(
                transport, om.Target(topic=topic, exchange=exchange), timeout=1
            )
            with pytest.raises(om.MessagingTimeout):
                lost.call({}, "echo", value=1)


def test_long_call_kept_alive_by_call_monitor_heartbeats(url, topic):
    with rpc_transport(url) as transport, rpc_servers(
        transport, [om.Target(topic=topic, server="a")], [Recorder("a")]
    ):
        rpc = om.get_rpc_client(
            transport, om.Target(topic=topic), timeout=20, call_monitor_timeout=2
        )
        # Takes longer than the monitor timeout: only heartbeats keep the call alive.
        assert rpc.call({}, "slow", seconds=3.5) == "a"
        short = om.get_rpc_client(transport, om.Target(topic=topic), timeout=1.5)
        with pytest.raises(om.MessagingTimeout):
            short.call({}, "slow", seconds=3)


def test_stop_wait_cleanup_leave_no_threads(url, topic):
    before = set(threading.enumerate())
    with rpc_transport(url) as transport, rpc_servers(
        transport,
        [om.Target(topic=topic, server=f"s{i}") for i in range(3)],
        [Recorder(f"s{i}") for i in range(3)],
    ):
        client(transport, topic).call({}, "echo", value=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"threads left behind: {[t.name for t in left]}"


@pytest.mark.parametrize("pools", [(None, None), ("billing", "search")])
def test_notifications_reach_listeners_by_pool(url, topic, pools):
    """Listeners of one pool share notifications; each pool gets every notification."""
    recs = [NotificationRecorder() for _ in pools]
    notify_transport = om.get_notification_transport(cfg.CONF, url=url)
    if pools[0] and url.startswith("amqp:"):
        # A router has no consumer groups: pools need a broker, and say so.
        listener = om.get_notification_listener(
            notify_transport, [om.Target(topic=topic)], recs[:1], executor="threading",
            pool=pools[0],
        )
        with pytest.raises(NotImplementedError, match="pools need a broker"):
            listener.start()
        notify_transport.cleanup()
        return
    listeners = [
        om.get_notification_listener(
            notify_transport, [om.Target(topic=topic)], [rec], executor="threading", pool=pool
        )
        for rec, pool in zip(recs, pools, strict=True)
    ]
    try:
        for listener in listeners:
            listener.start()
        notifier = om.Notifier(
            notify_transport, publisher_id="test", driver="messagingv2", topics=[topic]
        )
        for i in range(10):
            notifier.info({}, "test.event", {"n": i})
        if pools[0] is None:
            assert _wait_total(recs, 10)
            got = sorted(p["n"] for rec in recs for _, p in rec.events)
            assert got == list(range(10)), "each notification once across the pool"
        else:
            for rec in recs:
                assert rec.wait_for(10)
                assert sorted(p["n"] for _, p in rec.events) == list(range(10))
    finally:
        for listener in listeners:
            listener.stop()
            listener.wait()
        notify_transport.cleanup()


def _wait_total(recs, count: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while sum(len(r.events) for r in recs) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_several_hosts_in_the_url_fail_over(url, topic, unused_port):
    scheme, rest = url.split("://", 1)
    creds, _, tail = rest.rpartition("@")
    creds = f"{creds}@" if creds else ""
    multi = f"{scheme}://{creds}127.0.0.1:{unused_port},{creds}{tail}"
    with rpc_transport(multi) as transport, rpc_servers(
        transport, [om.Target(topic=topic, server="a")], [Recorder("a")]
    ):
        for i in range(5):
            assert client(transport, topic).call({}, "echo", value=i)["value"] == i


@pytest.mark.parametrize("executor", ["threading", "eventlet"])
def test_calls_casts_fanout_between_processes(url, topic, executor, peer_process):
    """Two server processes (each under ``executor``) and this process as the client."""
    peers = [peer_process(url, topic, name, executor) for name in ("p1", "p2")]
    for peer in peers:
        assert peer.answer == {"server": peer.name, "value": "self"}
    with rpc_transport(url) as transport:
        rpc = client(transport, topic)
        seen = Counter(rpc.call({}, "echo", value=i)["server"] for i in range(40))
        assert sum(seen.values()) == 40 and set(seen) <= {"p1", "p2"}
        for name in ("p1", "p2"):
            direct = om.get_rpc_client(transport, om.Target(topic=topic, server=name), timeout=10)
            assert direct.call({}, "echo", value=name)["server"] == name
        rpc.cast({}, "echo", value="cast")
        rpc.prepare(fanout=True).cast({}, "echo", value="fanout")
    for peer in peers:
        assert peer.stop() == "stopped"


def test_several_transports_of_one_driver_in_an_eventlet_patched_process(url):
    """Servers, a client and a notifier on three transports of one driver, in one
    monkey-patched process with the eventlet executor: every call answered, every cast
    and notification handled once, every fanout by both servers."""
    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.patched_peer", url],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got == {
        "replies": True, "casts_everywhere": True, "casts": 40, "fanouts": [10, 10],
        "notifications": 40,
    }, run.stderr[-3000:]
