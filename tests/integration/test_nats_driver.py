"""What the nats:// driver promises beyond the shared conformance suite.

One connection per transport, reconnect after a server restart, vhosts as namespaces,
oversized and garbage messages, stale requests: each against its own real nats-server.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
import uuid

import nats
import oslo_messaging as om
import pytest

from hybridmsg.backends.nats import NatsServer, NatsServerConfig
from hybridmsg.backends.ports import free_port
from hybridmsg.drivers.nats.addressing import NatsAddressing
from tests.integration.oslo_peer import NotificationRecorder, Recorder, rpc_servers, rpc_transport


@pytest.fixture
def natsd(tmp_path):
    """A private nats-server with monitoring and a small max_payload."""
    server = NatsServer(
        NatsServerConfig(port=free_port(), monitoring_port=free_port(), max_payload=64 * 1024),
        tmp_path,
    )
    server.start()
    yield server
    server.stop()


def url_of(server, vhost: str = "") -> str:
    return f"nats://127.0.0.1:{server.port}/{vhost}"


def connections(server) -> list[dict]:
    port = server.config.monitoring_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/connz?subs=1", timeout=5) as resp:
        return json.load(resp)["connections"] or []


def call_until_ok(rpc, timeout: float) -> float:
    """Call until it succeeds; return how long that took (raise at the deadline)."""
    started = time.monotonic()
    while True:
        try:
            rpc.call({}, "echo", value=1)
            return time.monotonic() - started
        except om.MessagingTimeout:
            if time.monotonic() - started > timeout:
                raise


def test_one_connection_per_transport(natsd):
    topic = "t"
    names = [f"s{i}" for i in range(20)]
    with rpc_transport(url_of(natsd)) as transport, rpc_servers(
        transport, [om.Target(topic=topic, server=n) for n in names], [Recorder(n) for n in names]
    ):
        om.get_rpc_client(transport, om.Target(topic=topic), timeout=5).call({}, "echo", value=1)
        notify = om.get_notification_listener(
            transport, [om.Target(topic="n")], [NotificationRecorder()], executor="threading"
        )
        notify.start()
        try:
            conns = connections(natsd)
        finally:
            notify.stop()
            notify.wait()
    assert len(conns) == 1, f"{len(conns)} connections for one transport"
    # 20 servers x 2 RPC queue groups (each with a member subject and a roll call) + one
    # fanout subscription the 20 share + the notification listener + the reply subject
    assert len(conns[0]["subscriptions_list"]) == 20 * (2 + 2 * 2) + 1 + 1 + 1


def test_reconnects_and_resubscribes_after_a_restart(natsd):
    with rpc_transport(url_of(natsd)) as transport, rpc_servers(
        transport, [om.Target(topic="t", server="a")], [Recorder("a")]
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="t"), timeout=1)
        assert rpc.call({}, "echo", value=0)["server"] == "a"
        natsd.restart()
        # Both sides reconnect and the server's subscriptions come back by themselves.
        assert call_until_ok(rpc, timeout=15) < 15
        assert rpc.call({}, "echo", value=2)["value"] == 2


def test_vhosts_keep_traffic_apart(natsd):
    with rpc_transport(url_of(natsd, "nova")) as nova, rpc_transport(
        url_of(natsd, "glance")
    ) as glance, rpc_servers(nova, [om.Target(topic="t", server="a")], [Recorder("nova")]):
        assert om.get_rpc_client(nova, om.Target(topic="t"), timeout=5).call(
            {}, "echo", value=1
        )["server"] == "nova"
        with pytest.raises(om.MessagingTimeout):
            om.get_rpc_client(glance, om.Target(topic="t"), timeout=1).call({}, "echo", value=1)


def test_oversized_message_fails_clearly_and_the_server_lives_on(natsd):
    rec = Recorder("a")
    with rpc_transport(url_of(natsd)) as transport, rpc_servers(
        transport, [om.Target(topic="t", server="a")], [rec]
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="t"), timeout=5)
        big = "x" * (128 * 1024)
        with pytest.raises(om.MessageDeliveryFailure, match="max_payload"):
            rpc.call({}, "echo", value=big)
        with pytest.raises(om.MessageDeliveryFailure, match="max_payload"):
            rpc.cast({}, "record", value=big)
        assert rpc.call({}, "echo", value="small")["value"] == "small"


def test_garbage_on_rpc_subjects_is_rejected_and_the_server_lives_on(natsd, caplog):
    rec = Recorder("a")
    with rpc_transport(url_of(natsd, "v")) as transport, rpc_servers(
        transport, [om.Target(topic="t", server="a")], [rec]
    ):
        subject = NatsAddressing("v").anycast("openstack", "t")

        async def spray():
            nc = await nats_connect(natsd)
            for body in (b"\x00\xff garbage", b"{}", b'{"v": 1, "id": 5}', b"[]"):
                await nc.publish(subject, body, reply="somewhere")
            await nc.flush()
            await nc.close()

        asyncio.run(spray())
        rpc = om.get_rpc_client(transport, om.Target(topic="t"), timeout=5)
        assert rpc.call({}, "echo", value="after")["value"] == "after"
    rejected = [r for r in caplog.records if "Rejected a message" in r.getMessage()]
    assert len(rejected) == 4
    assert set(rec.calls) == {"after"}


async def nats_connect(server):
    return await nats.connect(f"nats://127.0.0.1:{server.port}", connect_timeout=5)


def test_request_whose_caller_gave_up_is_not_executed(natsd, caplog):
    """A call that reaches a server after its deadline is dropped, not executed."""
    rec = Recorder("a")
    with rpc_transport(url_of(natsd)) as transport:
        rpc = om.get_rpc_client(transport, om.Target(topic="late"), timeout=1)
        with pytest.raises(om.MessagingTimeout):
            rpc.call({}, "echo", value="nobody listens")
        # Replay that exact request to a live server after its deadline has passed.
        subject = NatsAddressing().anycast("openstack", "late")
        stale = _stale_request(subject)
        with rpc_servers(transport, [om.Target(topic="late", server="a")], [rec]):
            asyncio.run(_publish(natsd, subject, stale))
            assert rpc.call({}, "echo", value="fresh")["value"] == "fresh"
    assert set(rec.calls) == {"fresh"}
    assert any("caller gave up" in r.getMessage() for r in caplog.records)


def _stale_request(subject: str) -> bytes:
    from hybridmsg.drivers import envelope

    return envelope.encode_request(
        uuid.uuid4().hex, {}, {"method": "echo", "args": {"value": "stale"}},
        deadline=time.time() - 1,
    )


async def _publish(server, subject: str, body: bytes) -> None:
    nc = await nats_connect(server)
    await nc.publish(subject, body)
    await nc.flush()
    await nc.close()


def test_calls_and_casts_wait_for_a_server_that_is_restarting(natsd):
    """nats-server keeps no queue; the driver sends again on "no responders" until the
    sender's deadline, so a server that (re)subscribes in time still gets each message once."""
    rec = Recorder("late")
    with rpc_transport(url_of(natsd)) as transport:
        rpc = om.get_rpc_client(transport, om.Target(topic="late"), timeout=10)
        answers: list = []
        caller = threading.Thread(target=lambda: answers.append(rpc.call({}, "echo", value="c")))
        caller.start()
        for i in range(5):
            rpc.cast({}, "record", value=i)
        time.sleep(0.5)  # the server really is absent for a while: nothing is queued anywhere
        with rpc_servers(transport, [om.Target(topic="late", server="s")], [rec]):
            caller.join(10)
            assert answers == [{"server": "late", "value": "c"}]
            assert rec.wait_casts(5)
            # one more call proves all earlier sends were processed: nothing comes twice
            assert rpc.call({}, "echo", value="last")["value"] == "last"
    assert dict(rec.casts) == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1}
    assert dict(rec.calls) == {"c": 1, "last": 1}


def test_listeners_of_a_fanout_share_one_subscription_and_leave_it_one_by_one(natsd):
    """Three servers of a topic in one process: each fanout crosses the wire once and
    reaches all three; a stopped server gets no more, the others still do."""
    recorders = [Recorder(n) for n in "abc"]
    with rpc_transport(url_of(natsd)) as transport:
        servers = [
            om.get_rpc_server(transport, om.Target(topic="f", server=r.name), [r],
                              executor="threading")
            for r in recorders
        ]
        for server in servers:
            server.start()
        fanout = om.get_rpc_client(transport, om.Target(topic="f", fanout=True), timeout=5)
        fanout.cast({}, "record", value="first")
        assert all(r.wait_casts(1) for r in recorders)
        subjects = connections(natsd)[0]["subscriptions_list"]
        fanout_subject = NatsAddressing("").multicast("openstack", "f")
        assert subjects.count(fanout_subject) == 1
        servers[0].stop()
        servers[0].wait()
        fanout.cast({}, "record", value="second")
        assert all(r.wait_casts(2) for r in recorders[1:])
        for server in servers[1:]:
            server.stop()
            server.wait()
        subjects = connections(natsd)[0]["subscriptions_list"]
        assert fanout_subject not in subjects
    assert dict(recorders[0].casts) == {"first": 1}
    assert [dict(r.casts) for r in recorders[1:]] == [{"first": 1, "second": 1}] * 2
