"""Security against real servers: TLS, per-service namespaces, refusals, secrets, bad input.

One hybrid stack with TLS on (as ``hybridmsg up --reader telemetry`` makes it, services
nova and glance) is shared by the module: RabbitMQ with a TLS-only listener, a vhost per
service and the notification reader telemetry allowed to read notifications only;
nats-server requiring TLS with per-user subject permissions and bcrypt password hashes.
Every refusal is observed (an error from the server, an exception naming the cause, a
logged rejection), never inferred from a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import amqp
import bcrypt
import kombu
import nats
import oslo_messaging as om
import oslo_messaging.opts
import pytest
from amqp.exceptions import AccessRefused, NotAllowed
from oslo_config import cfg

from hybridmsg.backends import MAX_MESSAGE_SIZE
from hybridmsg.backends.nats import password_hashes
from hybridmsg.certs import LocalCA
from hybridmsg.plan import Mode, Plan
from hybridmsg.probe import ProbeFailed, probe
from hybridmsg.readers import reader_config
from hybridmsg.services import service_config
from hybridmsg.stack import Stack
from tests.conftest import private_directory
from tests.integration import oslo_peer
from tests.integration.oslo_peer import (
    NotificationRecorder,
    Recorder,
    rpc_servers,
    rpc_transport,
)

SERVICES = ("nova", "glance")
READER = "telemetry"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_directory("hybridmsg-security-") as directory:
        directory.chmod(0o711)  # the rabbitmq user must reach state/rabbitmq/
        deployed = Stack(directory / "state")
        deployed.up(Mode.HYBRID, SERVICES, progress=lambda *a, **k: None, readers=[(READER, ())])
        try:
            yield deployed
        finally:
            deployed.down(progress=lambda *a, **k: None)


@pytest.fixture(scope="module")
def plan(stack: Stack) -> Plan:
    return stack.plan()


def url(plan: Plan, kind: str, service: str, *, password: str | None = None, vhost=None) -> str:
    """``service``'s URL on ``kind`` (rabbit/nats) with the TLS options in the query."""
    config = service_config(plan, service)
    account = plan.service(service)
    base = account.url(plan.rabbitmq) if kind == "rabbit" else config.rpc_url
    if password is not None:
        base = base.replace(f":{account.password}@", f":{password}@")
    if vhost is not None:
        base = base.rsplit("/", 1)[0] + f"/{vhost}"
    return config.self_contained(base)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return LocalCA.ensure(tmp_path_factory.mktemp("other-ca")).ca_file


# -- TLS -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rabbit", "nats"])
def test_the_url_form_alone_gives_tls(plan, kind):
    assert probe(url(plan, kind, "nova"), timeout=20).endswith("accepted user 'nova' over TLS")


@pytest.mark.parametrize("executor", ["threading", "eventlet"])
def test_nats_over_tls_serves_and_calls_in_either_process_model(plan, peer_process, executor):
    """The I/O loop (uvloop) does its own TLS handshake and polling: also in a process that
    eventlet monkey-patched, whose ``ssl`` and ``select`` are green."""
    peer = peer_process(url(plan, "nats", "nova"), "tls-peer", "a", executor)
    assert peer.answer == {"server": "a", "value": "self"}
    assert peer.stop() == "stopped"


def snippet_conf(stack: Stack, service: str) -> cfg.ConfigOpts:
    """The service's oslo.config as the service reads it: its snippet file, nothing else."""
    snippet = stack.snippet_file(service)
    assert "?" not in snippet.read_text()  # no TLS options in the URLs: the sections give it
    return oslo_peer.snippet_conf(snippet)


RPC_FROM_SNIPPET = """
import sys, oslo_messaging as om
from oslo_config import cfg
from tests.integration.oslo_peer import Recorder, rpc_servers
cfg.CONF(["--config-file", sys.argv[1]])
transport = om.get_rpc_transport(cfg.CONF)
with rpc_servers(transport, [om.Target(topic="tls", server="a")], [Recorder("a")]):
    print(om.get_rpc_client(transport, om.Target(topic="tls"), timeout=20).call(
        {}, "echo", value="tls")["value"])
transport.cleanup()
"""


def test_the_snippet_sections_alone_give_tls_for_rpc(stack):
    """As a service runs: cfg.CONF from its snippet file, nothing else."""
    snippet_conf(stack, "nova")  # no TLS options in the URLs
    snippet = str(stack.snippet_file("nova"))
    result = subprocess.run(
        [sys.executable, "-c", RPC_FROM_SNIPPET, snippet],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert result.stdout.strip() == "tls", result.stderr[-2000:]


def test_the_snippet_sections_alone_give_tls_for_notifications(stack):
    conf = snippet_conf(stack, "nova")
    transport = om.get_notification_transport(conf)
    conf.set_override("control_exchange", "tls_sections")  # an exchange of this test's own
    # oslo 18.3.1 declares quorum queues non-durable unless amqp_durable_queues is set
    # (refused by RabbitMQ): not what this test is about
    conf.set_override("rabbit_quorum_queue", False, "oslo_messaging_rabbit")
    recorder = NotificationRecorder()
    listener = om.get_notification_listener(
        transport, [om.Target(topic="tls")], [recorder], executor="threading"
    )
    listener.start()
    try:
        om.Notifier(transport, "test", driver="messagingv2", topics=["tls"]).info(
            {}, "tls.event", {"over": "tls"}
        )
        assert recorder.wait_for(1, timeout=20)
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
    assert recorder.events == [("tls.event", {"over": "tls"})]


@pytest.mark.parametrize("kind", ["rabbit", "nats"])
def test_plaintext_is_refused_on_tls_listeners(plan, kind):
    plain = url(plan, kind, "nova").split("?")[0]
    expected = r"a TLS port\? then add ssl=1" if kind == "rabbit" else "requires TLS"
    with pytest.raises(ProbeFailed, match=expected):
        probe(plain, timeout=20)


def test_nats_refuses_a_plaintext_connect_on_the_wire(plan):
    node = plan.router.nodes[0]
    with socket.create_connection((node.host, node.port), timeout=10) as sock:
        info = sock.recv(4096)  # after handshake_first's fallback delay: INFO, TLS required
        assert b'"tls_required":true' in info
        sock.sendall(b'CONNECT {"user":"nova","pass":"x"}\r\nPING\r\n')
        answer = _read_until_closed(sock)
    assert b"TLS Required" in answer or answer == b"", answer
    assert b"PONG" not in answer


def test_rabbitmq_has_no_plain_amqp_listener(plan):
    node = plan.rabbitmq.nodes[0]
    with socket.create_connection((node.host, node.port), timeout=10) as sock:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        answer = _read_until_closed(sock)
    assert not answer.startswith(b"\x01\x00\x00"), "an AMQP connection.start came back"


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


@pytest.mark.parametrize("kind", ["rabbit", "nats"])
def test_a_certificate_from_another_ca_is_refused(plan, kind, other_ca):
    untrusted = url(plan, kind, "nova").split("?")[0] + f"?ssl=1&ssl_ca_file={other_ca}"
    with pytest.raises(ProbeFailed, match="not trusted"):
        probe(untrusted, timeout=20)


@pytest.mark.parametrize("kind", ["rabbit", "nats"])
def test_tls_to_a_plain_port_is_refused(kind, rabbit_url, nats_url, plan):
    plain = rabbit_url if kind == "rabbit" else nats_url
    with pytest.raises(ProbeFailed, match="TLS"):
        probe(f"{plain}?ssl=1&ssl_ca_file={plan.tls.ca_file}", timeout=20)


# -- credentials and namespaces ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rabbit", "nats"])
def test_a_wrong_password_is_refused(plan, kind):
    with pytest.raises(ProbeFailed, match="refused user 'nova': wrong user or password"):
        probe(url(plan, kind, "nova", password="wrong"), timeout=20)


def test_rabbitmq_refuses_another_services_vhost(plan):
    with pytest.raises(ProbeFailed, match="refused user 'nova' the vhost 'glance'"):
        probe(url(plan, "rabbit", "nova", vhost="glance"), timeout=20)
    amqp_url = url(plan, "rabbit", "nova", vhost="glance").split("?")[0]
    tls = {"ca_certs": plan.tls.ca_file, "cert_reqs": ssl.CERT_REQUIRED}
    conn = kombu.Connection(amqp_url.replace("rabbit://", "amqp://", 1), ssl=tls)
    with pytest.raises(NotAllowed, match="access to vhost 'glance' refused for user 'nova'"):
        conn.connect()


@pytest.mark.parametrize("action", ["call", "cast", "listen"])
def test_nats_driver_refuses_another_services_subjects(plan, action):
    """nova's credentials on glance's vhost: the server refuses, the driver says so."""
    with rpc_transport(url(plan, "nats", "nova", vhost="glance")) as transport:
        rpc = om.get_rpc_client(transport, om.Target(topic="t"), timeout=5)
        with pytest.raises(om.MessagingException, match="refused user 'nova' a subscription"):
            if action == "listen":
                with rpc_servers(transport, [om.Target(topic="t", server="a")], [Recorder("a")]):
                    pass
            else:
                getattr(rpc, action)({}, "echo", value=1)


def test_nats_server_refuses_publish_and_subscribe_outside_the_namespace(plan):
    """With raw nats-py and nova's credentials: glance's subjects are out of reach."""
    node, nova = plan.router.nodes[0], plan.service("nova")

    async def scenario() -> list[str]:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            f"tls://{node.address}",
            user=nova.user,
            password=nova.password,
            tls=ssl.create_default_context(cafile=plan.tls.ca_file),
            tls_handshake_first=True,
            error_cb=on_error,
            allow_reconnect=False,
        )
        await nc.subscribe("openstack.glance.>")
        await nc.publish("openstack.glance.any.openstack.t", b"x")
        await nc.flush()
        for _ in range(50):  # the error callbacks run in tasks of their own: bounded wait
            if len(errors) >= 2:
                break
            await asyncio.sleep(0.1)
        await nc.close()
        return errors

    errors = asyncio.run(scenario())
    assert any("subscription" in e.lower() and "openstack.glance.>" in e for e in errors), errors
    assert any("publish" in e.lower() and "openstack.glance.any" in e for e in errors), errors


# -- a notification reader: notifications of every service, nothing else -----------------------


def reader_conf(stack: Stack) -> cfg.ConfigOpts:
    """The reader's oslo.config as ceilometer reads it: its snippet file, nothing else."""
    conf = cfg.ConfigOpts()
    conf.register_opts(
        [cfg.MultiStrOpt("messaging_urls"), cfg.MultiStrOpt("notification_control_exchanges")],
        group="notification",
    )
    for group, opts in oslo_messaging.opts.list_opts():
        conf.register_opts(opts, group=group)
    conf(args=[], default_config_files=[str(stack.snippet_file(READER))])
    conf.register_opt(cfg.BoolOpt("tracing_enabled", default=False), "oslo_messaging_tracing")
    return conf


def test_the_reader_receives_the_notifications_of_every_service(stack):
    """As ceilometer does it: one unchanged oslo listener per URL of the reader's snippet,
    on every exchange it names; each service notifies from its own snippet."""
    conf = reader_conf(stack)
    urls = conf.notification.messaging_urls
    assert [u.rsplit("/", 1)[1] for u in urls] == list(SERVICES)
    targets = [
        om.Target(topic=topic, exchange=exchange)
        for topic in conf.oslo_messaging_notifications.topics
        for exchange in conf.notification.notification_control_exchanges
    ]
    recorder = NotificationRecorder()
    transports, listeners = [], []
    try:
        for reader_url in urls:
            transports.append(om.get_notification_transport(conf, url=reader_url))
            listeners.append(
                om.get_notification_listener(
                    transports[-1], targets, [recorder], executor="threading"
                )
            )
            listeners[-1].start()
        for service in SERVICES:
            transport = om.get_notification_transport(snippet_conf(stack, service))
            notifier = om.Notifier(transport, f"{service}.host", driver="messagingv2")
            notifier.info({}, f"{service}.event", {"from": service})
            transport.cleanup()
        assert recorder.wait_for(len(SERVICES), timeout=30), recorder.events
    finally:
        for listener in listeners:
            listener.stop()
            listener.wait()
        for transport in transports:
            transport.cleanup()
    assert sorted(recorder.events) == sorted(
        (f"{service}.event", {"from": service}) for service in SERVICES
    )


def reader_url(plan: Plan, service: str = "nova") -> str:
    """The reader's URL on ``service``'s vhost, its driver options in the query."""
    config = reader_config(plan, READER)
    return config.self_contained(dict(config.urls)[service])


REFUSED_EXCHANGE = "ACCESS_REFUSED - access to exchange 'openstack' in vhost 'nova' refused "
REFUSED_EXCHANGE += f"for user '{READER}'"


def test_the_reader_cannot_cast_or_notify(plan, caplog):
    with rpc_transport(reader_url(plan)) as transport:
        rpc = om.get_rpc_client(transport, om.Target(topic="compute"), timeout=20)
        with pytest.raises(om.MessageDeliveryFailure, match=REFUSED_EXCHANGE):
            rpc.cast({}, "record", value="injected")
    # oslo's Notifier never raises: it logs what the server answered and drops the message
    transport = om.get_notification_transport(cfg.CONF, url=reader_url(plan))
    try:
        with caplog.at_level(logging.ERROR):
            om.Notifier(transport, "fake.host", driver="messagingv2", retry=0).info(
                {}, "fake.event", {}
            )
    finally:
        transport.cleanup()
    assert any(REFUSED_EXCHANGE in record.getMessage() for record in caplog.records)


@pytest.fixture
def nova_rpc_on_rabbit(plan) -> Iterator[str]:
    """An RPC server of nova on RabbitMQ (topic ``readers_rpc``, as in rabbit mode)."""
    with (
        rpc_transport(url(plan, "rabbit", "nova")) as transport,
        rpc_servers(transport, [om.Target(topic="readers_rpc", server="a")], [Recorder("a")]),
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="readers_rpc"), timeout=20)
        assert rpc.call({}, "echo", value=1)["value"] == 1  # its queue exists
        yield "readers_rpc"


def test_the_reader_cannot_serve_or_consume_rpc(plan, nova_rpc_on_rabbit):
    topic = nova_rpc_on_rabbit
    with rpc_transport(reader_url(plan)) as transport:
        server = om.get_rpc_server(
            transport, om.Target(topic=topic, server="b"), [Recorder("b")], executor="threading"
        )
        with pytest.raises(
            om.MessageDeliveryFailure,
            match=f"ACCESS_REFUSED - access to queue '{topic}' in vhost 'nova' refused",
        ):
            server.start()


def test_the_reader_cannot_reach_rpc_by_amqp_tricks(plan, nova_rpc_on_rabbit):
    """The same user with a raw AMQP client: each way around its permissions is refused."""
    topic = nova_rpc_on_rabbit
    attempts: dict[str, tuple[Callable, str]] = {
        "consume an RPC queue": (
            lambda ch: ch.basic_consume(topic, callback=print),
            f"access to queue '{topic}' in vhost 'nova' refused",
        ),
        "bind its queue to the exchange with an RPC routing key": (
            lambda ch: ch.queue_bind("notifications.audit", "openstack", topic),
            f"access to topic '{topic}' in exchange 'openstack' in vhost 'nova' refused",
        ),
        "publish through the default exchange": (
            lambda ch: ch.basic_publish_confirm(amqp.Message(b"x"), "", topic),
            "access to exchange 'amq.default' in vhost 'nova' refused",
        ),
        "declare an exchange whose alternate exchange is the RPC exchange": (
            lambda ch: ch.exchange_declare(
                "notifications.debug", "fanout", arguments={"alternate-exchange": "openstack"}
            ),
            "access to exchange 'openstack' in vhost 'nova' refused",
        ),
        "declare a queue that dead-letters into the RPC exchange": (
            lambda ch: ch.queue_declare(
                "notifications.critical", arguments={"x-dead-letter-exchange": "openstack"}
            ),
            "access to exchange 'openstack' in vhost 'nova' refused",
        ),
    }
    tls = {"ca_certs": plan.tls.ca_file, "cert_reqs": ssl.CERT_REQUIRED}
    amqp_url = "amqp://" + reader_url(plan).split("?")[0].partition("://")[2]
    refusals = {}
    with kombu.Connection(amqp_url, ssl=tls) as conn:
        for what, (attempt, _) in attempts.items():
            channel = conn.channel()  # a refusal closes the channel: one each
            try:
                attempt(channel)
            except AccessRefused as refused:
                refusals[what] = str(refused)
            else:
                refusals[what] = "not refused"
    for what, (_, expected) in attempts.items():
        assert expected in refusals[what], (what, refusals[what])


def test_the_reader_has_no_account_on_nats(plan):
    config = service_config(plan, "nova")
    reader = plan.reader(READER)
    nats_url = plan.router.url(reader.user, reader.password, "nova")
    with pytest.raises(ProbeFailed, match=f"refused user '{READER}': wrong user or password"):
        probe(config.self_contained(nats_url), timeout=20)


# -- secrets ---------------------------------------------------------------------------------


def test_nats_server_config_holds_bcrypt_hashes_not_passwords(stack, plan):
    conf = (stack.state_dir / "nats" / "nats-server.conf").read_text()
    hashes = password_hashes(conf)
    assert sorted(hashes) == sorted(SERVICES)
    for service in plan.services:
        assert service.password not in conf
        assert bcrypt.checkpw(service.password.encode(), hashes[service.user].encode())
    assert probe(url(plan, "nats", "glance"), timeout=20).endswith(
        "accepted user 'glance' over TLS"
    )
    with pytest.raises(ProbeFailed, match="refused user 'glance': wrong user or password"):
        probe(url(plan, "nats", "glance", password=plan.service("nova").password), timeout=20)


def test_up_again_leaves_nats_server_running_on_the_same_config(stack):
    conf_file = stack.state_dir / "nats" / "nats-server.conf"
    before = stack.status()
    conf = conf_file.read_text()
    stack.up(progress=lambda *a, **k: None)
    assert conf_file.read_text() == conf
    assert [(s.title, s.pid) for s in stack.status()] == [(s.title, s.pid) for s in before]


def hybridmsg(state: Path, *args: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hybridmsg", *["-v"][:verbose], *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_no_password_in_any_output_or_log(stack, plan):
    state = stack.state_dir
    outputs = [
        hybridmsg(state, "up", verbose=True),
        hybridmsg(state, "status", verbose=True),
        hybridmsg(state, "check", "--timeout", "20", verbose=True),
        hybridmsg(state, "probe", url(plan, "nats", "nova", password="wrong-pw"), verbose=True),
        hybridmsg(state, "probe", url(plan, "rabbit", "nova", password="wrong-pw"), verbose=True),
    ]
    assert [r.returncode for r in outputs] == [0, 0, 0, 4, 4], [r.stderr for r in outputs]
    assert any(line.startswith(f"{READER} (reader)") for line in outputs[2].stdout.splitlines())
    assert f"{READER}:***@" in outputs[0].stdout
    assert f"notification readers: {READER}" in outputs[1].stdout
    secrets = [s.password for s in plan.services] + [plan.reader(READER).password, "wrong-pw"]
    logs = [p for p in stack.state_dir.rglob("*.log") if p.is_file()]
    logs += [p for p in (stack.state_dir / "rabbitmq" / "log").rglob("*") if p.is_file()]
    assert logs
    texts = [r.stdout + r.stderr for r in outputs] + [p.read_text(errors="replace") for p in logs]
    for secret in secrets:
        assert not any(secret in text for text in texts), "a password leaked"


# -- bad input through the command line -------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_url", "message"),
    [
        ("rabbit:///nova", "Invalid rabbit:// transport URL: no host"),
        ("nats://u:p@127.0.0.1:99999/v", "port 99999 is out of range 1-65535"),
        ("rabbit://u:p@127.0.0.1:http/v", "port 'http' of host '127.0.0.1' is not a number"),
        ("nats://u:p@127.0.0.1:4222/v?colour=blue", "unknown option 'colour'"),
        ("rabbit://u:p@127.0.0.1:5672/v?colour=blue", "unknown option 'colour'"),
        ("nats://u:p@127.0.0.1:4222/v?ssl=maybe", "ssl='maybe' must be 1/0"),
        ("kafka://u:p@127.0.0.1:9092/v", "unsupported scheme 'kafka://'"),
    ],
)
def test_a_malformed_url_is_one_line_and_exit_2(bad_url, message, tmp_path):
    result = hybridmsg(tmp_path, "probe", bad_url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert ":p@" not in result.stderr


def test_nats_driver_refuses_malformed_urls_through_oslo():
    for bad in ("nats:///v", "nats://u:p@h:70000/v", "nats://u:p@h:4222/v?colour=blue"):
        with pytest.raises(om.InvalidTransportURL, match=r"^Invalid nats:// transport URL: "):
            om.get_rpc_transport(cfg.CONF, url=bad)


# -- messages over the size limit -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "refusal"),
    [
        (
            "rabbit",
            r"PRECONDITION_FAILED - message size \d+ is larger than configured max size "
            f"{MAX_MESSAGE_SIZE}",
        ),
        ("nats", "larger than the NATS server's max_payload"),
    ],
)
def test_an_oversized_message_fails_on_the_sender_and_the_rpc_server_lives_on(plan, kind, refusal):
    """Both backends have the same limit: just under it passes, over it fails at once on
    the sender; what was accepted before and after arrives, the RPC server answers on."""
    rec = Recorder("a")
    with (
        rpc_transport(url(plan, kind, "nova")) as transport,
        rpc_servers(transport, [om.Target(topic="big", server="a")], [rec]),
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="big"), timeout=60)
        rpc.cast({}, "record", value="before")
        too_big = "x" * (MAX_MESSAGE_SIZE + 1024)
        with pytest.raises(om.MessageDeliveryFailure, match=refusal):
            rpc.call({}, "echo", value=too_big)
        with pytest.raises(om.MessageDeliveryFailure, match=refusal):
            rpc.cast({}, "record", value=too_big)
        near = "y" * (MAX_MESSAGE_SIZE - 64 * 1024)
        assert rpc.call({}, "echo", value=near)["value"] == near
        rpc.cast({}, "record", value="after")
        assert rec.wait_casts(2, timeout=30)
        assert rpc.call({}, "echo", value="last")["value"] == "last"
    assert rec.casts == Counter({"before": 1, "after": 1})


def test_an_oversized_notification_is_logged_and_the_others_arrive(plan, caplog):
    """oslo's Notifier never raises: RabbitMQ's refusal is logged, the rest arrives."""
    transport = om.get_notification_transport(cfg.CONF, url=url(plan, "rabbit", "nova"))
    recorder = NotificationRecorder()
    listener = om.get_notification_listener(
        transport, [om.Target(topic="big")], [recorder], executor="threading"
    )
    listener.start()
    try:
        notifier = om.Notifier(transport, "nova.host", driver="messagingv2", topics=["big"])
        notifier.info({}, "before", {"n": 1})
        with caplog.at_level(logging.ERROR):
            notifier.info({}, "too.big", {"blob": "x" * (MAX_MESSAGE_SIZE + 1024)})
        notifier.info({}, "after", {"n": 2})
        assert recorder.wait_for(2, timeout=30)
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
    assert [event for event, _ in recorder.events] == ["before", "after"]
    refusal = f"is larger than configured max size {MAX_MESSAGE_SIZE}"
    assert any(refusal in record.getMessage()[:500] for record in caplog.records)


# -- garbage on RabbitMQ ---------------------------------------------------------------------


def test_garbage_on_a_rabbit_rpc_queue_never_kills_the_server(rabbit_url):
    rec = Recorder("a")
    with (
        rpc_transport(rabbit_url) as transport,
        rpc_servers(transport, [om.Target(topic="garbage", server="a")], [rec]),
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="garbage"), timeout=20)
        assert rpc.call({}, "echo", value="before")["value"] == "before"
        with kombu.Connection(rabbit_url.replace("rabbit://", "amqp://", 1)) as conn:
            producer = conn.Producer()
            for body, kind in ((b"\x00\xff garbage", "application/data"), (b"{}", None)):
                producer.publish(
                    body, exchange="openstack", routing_key="garbage", content_type=kind
                )
            producer.publish(b'{"oslo.message": 5}', routing_key="garbage")
        assert rpc.call({}, "echo", value="after")["value"] == "after"
    assert set(rec.calls) == {"before", "after"}
