"""What the amqp:// driver promises through a real Qpid Dispatch Router, beyond the
shared conformance suite: credit as flow control, a two-router mesh, reconnection, one
connection per transport, and a router config that loads without warnings.
"""

from __future__ import annotations

import logging
import threading
import time

import oslo_messaging as om
import pytest
from oslo_config import cfg
from proton.utils import BlockingConnection

from hybridmsg.backends.ports import free_port
from hybridmsg.backends.qdrouterd import QdrConnector, QdrListener, Qdrouterd, QdrouterdConfig
from hybridmsg.drivers.amqp1 import opts
from hybridmsg.drivers.amqp1.addressing import AmqpAddressing
from tests.integration.conftest import needs_qdrouterd
from tests.integration.oslo_peer import Recorder, rpc_servers, rpc_transport

pytestmark = needs_qdrouterd


@pytest.fixture
def router(tmp_path):
    r = Qdrouterd(QdrouterdConfig("solo", (QdrListener(free_port()),)), tmp_path / "solo")
    r.start()
    yield r
    r.stop()


@pytest.fixture
def send_timeout():
    cfg.CONF.register_opts(opts.OPTS, group=opts.GROUP)
    cfg.CONF.set_override("default_send_timeout", 2, group=opts.GROUP)
    yield 2
    cfg.CONF.clear_override("default_send_timeout", group=opts.GROUP)


@pytest.fixture(params=[True, False], ids=["outcome", "early"])
def casts_wait(request):
    """Both settings of ``casts_wait_for_outcome``: what a cast promises is the same."""
    cfg.CONF.register_opts(opts.OPTS, group=opts.GROUP)
    cfg.CONF.set_override("casts_wait_for_outcome", request.param, group=opts.GROUP)
    yield request.param
    cfg.CONF.clear_override("casts_wait_for_outcome", group=opts.GROUP)


def url_of(router) -> str:
    return f"amqp://127.0.0.1:{router.port}/"


def test_router_config_loads_without_warnings(router):
    with (
        rpc_transport(url_of(router)) as transport,
        rpc_servers(transport, [om.Target(topic="t", server="a")], [Recorder("a")]),
    ):
        om.get_rpc_client(transport, om.Target(topic="t"), timeout=5).call({}, "echo", value=1)
    assert router.warnings() == []


def test_cast_without_a_consumer_fails_at_its_send_timeout(router, send_timeout, casts_wait):
    with rpc_transport(url_of(router)) as transport:
        rpc = om.get_rpc_client(transport, om.Target(topic="nobody"))
        with pytest.raises(
            om.MessageDeliveryFailure, match=f"did not take the message .* within {send_timeout} s"
        ):
            rpc.cast({}, "record", value=1)


def test_cast_waits_for_credit_until_a_server_attaches(router, send_timeout):
    """No consumer, no credit: the cast is held, then delivered once a server attaches."""
    rec = Recorder("late")
    with rpc_transport(url_of(router)) as transport:
        done = []
        caster = threading.Thread(
            target=lambda: done.append(
                om.get_rpc_client(transport, om.Target(topic="late")).cast({}, "record", value=7)
            )
        )
        caster.start()
        with rpc_servers(transport, [om.Target(topic="late", server="s")], [rec]):
            caster.join(10)
            assert rec.wait_casts(1)
    assert done == [None] and dict(rec.casts) == {7: 1}


def test_a_cast_a_consumer_gave_back_is_sent_again(router, casts_wait):
    """A server that goes away holding a cast it never settled (a restart): the router
    releases the cast and the driver sends it again, here to the server's replacement;
    also when the cast returned as soon as it left (``casts_wait_for_outcome = False``)."""
    target = om.Target(topic="handover", server="s")
    leaving = BlockingConnection(url_of(router))
    held = leaving.create_receiver(AmqpAddressing().unicast("openstack", "handover", "s"))
    replacement = Recorder("replacement")
    with rpc_transport(url_of(router)) as transport:
        done = []
        caster = threading.Thread(
            target=lambda: done.append(
                om.get_rpc_client(transport, target).cast({}, "record", value=9)
            )
        )
        caster.start()
        assert held.receive(timeout=10).body is not None  # taken, not settled
        with rpc_servers(transport, [target], [replacement]):
            leaving.close()
            caster.join(20)
            assert replacement.wait_casts(1)
    assert done == [None] and dict(replacement.casts) == {9: 1}


def test_an_early_cast_lost_in_flight_is_logged_not_silent(router, caplog):
    """``casts_wait_for_outcome = False``: the cast returned once it left; when the
    connection drops before the router settled it, the loss is logged at ERROR."""
    cfg.CONF.register_opts(opts.OPTS, group=opts.GROUP)
    cfg.CONF.set_override("casts_wait_for_outcome", False, group=opts.GROUP)
    target = om.Target(topic="inflight", server="s")
    holder = BlockingConnection(url_of(router))
    held = holder.create_receiver(AmqpAddressing().unicast("openstack", "inflight", "s"))
    try:
        with (
            caplog.at_level(logging.ERROR, logger="hybridmsg.drivers.amqp1.wire"),
            rpc_transport(url_of(router)) as transport,
        ):
            om.get_rpc_client(transport, target).cast({}, "record", value=5)  # returns at once
            assert held.receive(timeout=10).body is not None  # taken, never settled
            router.stop()
            deadline = time.monotonic() + 20
            while not any("A cast to" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the lost cast was not logged"
                time.sleep(0.1)
    finally:
        cfg.CONF.clear_override("casts_wait_for_outcome", group=opts.GROUP)
    lost = [r.getMessage() for r in caplog.records if "A cast to" in r.getMessage()]
    assert lost == [
        "A cast to openstack.org/om/rpc/unicast/openstack/inflight/s was lost: connection to "
        "the router lost before it settled a message to "
        "openstack.org/om/rpc/unicast/openstack/inflight/s; it may or may not have been "
        "delivered"
    ]


def test_one_connection_per_transport(router):
    names = [f"s{i}" for i in range(10)]
    with (
        rpc_transport(url_of(router)) as transport,
        rpc_servers(
            transport, [om.Target(topic="t", server=n) for n in names], [Recorder(n) for n in names]
        ),
    ):
        om.get_rpc_client(transport, om.Target(topic="t"), timeout=5).call({}, "echo", value=1)
    opened = router.log_file.read_text().count("Connection Opened: dir=in")
    assert opened == 1


def test_a_quiet_connection_outlives_the_routers_idle_timeout(router):
    """qdrouterd drops a connection it hears nothing from for 16 s: the engine must send
    heartbeats at the pace the router's open asked for, so a transport quiet for longer
    keeps its one connection and its reply address."""
    with (
        rpc_transport(url_of(router)) as transport,
        rpc_servers(transport, [om.Target(topic="quiet", server="a")], [Recorder("a")]),
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="quiet"), timeout=5)
        assert rpc.call({}, "echo", value=0)["server"] == "a"
        time.sleep(20)
        assert rpc.call({}, "echo", value=1)["server"] == "a"
    opened = router.log_file.read_text().count("Connection Opened: dir=in")
    assert opened == 1


def test_reconnects_and_reattaches_after_a_restart(router):
    with (
        rpc_transport(url_of(router)) as transport,
        rpc_servers(transport, [om.Target(topic="t", server="a")], [Recorder("a")]),
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="t"), timeout=1)
        assert rpc.call({}, "echo", value=0)["server"] == "a"
        router.restart()
        started = time.monotonic()
        while True:
            try:
                assert rpc.call({}, "echo", value=1)["server"] == "a"
                break
            except (om.MessagingTimeout, om.MessageDeliveryFailure):
                assert time.monotonic() - started < 20, "no recovery after the router restart"


def test_two_router_mesh_client_on_one_server_on_the_other(tmp_path):
    mesh_port = free_port()
    a = Qdrouterd(
        QdrouterdConfig(
            "a",
            (QdrListener(free_port()), QdrListener(mesh_port, role="inter-router")),
            mode="interior",
        ),
        tmp_path / "a",
    )
    b = Qdrouterd(
        QdrouterdConfig(
            "b",
            (QdrListener(free_port()),),
            mode="interior",
            connectors=(QdrConnector("127.0.0.1", mesh_port),),
        ),
        tmp_path / "b",
    )
    with a, b:
        recs = [Recorder("b1"), Recorder("b2")]
        with (
            rpc_transport(url_of(b)) as server_side,
            rpc_servers(server_side, [om.Target(topic="t", server=r.name) for r in recs], recs),
            rpc_transport(url_of(a)) as client_side,
        ):
            rpc = om.get_rpc_client(client_side, om.Target(topic="t"), timeout=2)
            deadline = time.monotonic() + 20
            while True:  # the routers learn each other's addresses
                try:
                    rpc.call({}, "echo", value="probe")
                    break
                except om.MessagingTimeout:
                    assert time.monotonic() < deadline, "mesh never routed the call"
            answers = {rpc.call({}, "echo", value=i)["server"] for i in range(20)}
            assert answers <= {"b1", "b2"} and answers
            direct = om.get_rpc_client(client_side, om.Target(topic="t", server="b2"), timeout=5)
            assert direct.call({}, "echo", value="x")["server"] == "b2"
            rpc.prepare(fanout=True).cast({}, "record", value="all")
            for rec in recs:
                assert rec.wait_casts(1)
        assert a.warnings() == [] and b.warnings() == []
