"""Security against real servers: TLS, per-service namespaces, refusals, secrets, bad input.

One hybrid stack with TLS on (as ``hybridmsg up`` makes it, services nova and glance) is
shared by the module: RabbitMQ with a TLS-only listener and a vhost per service,
nats-server requiring TLS with per-user subject permissions. Every refusal is observed
(an error from the server, an exception naming the cause), never inferred from a timeout.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kombu
import nats
import oslo_messaging as om
import pytest
from amqp.exceptions import NotAllowed
from oslo_config import cfg

from hybridmsg.certs import LocalCA
from hybridmsg.plan import Mode, Plan
from hybridmsg.probe import ProbeFailed, probe
from hybridmsg.services import service_config
from hybridmsg.stack import Stack
from tests.conftest import private_directory
from tests.integration.oslo_peer import (
    NotificationRecorder,
    Recorder,
    rpc_servers,
    rpc_transport,
)

SERVICES = ("nova", "glance")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_directory("hybridmsg-security-") as directory:
        directory.chmod(0o711)  # the rabbitmq user must reach state/rabbitmq/
        deployed = Stack(directory / "state")
        deployed.up(Mode.HYBRID, SERVICES, progress=lambda *a, **k: None)
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
    base = config.notification_url if kind == "rabbit" else config.rpc_url
    assert base is not None
    account = plan.service(service)
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


def snippet_conf(stack: Stack, service: str) -> cfg.ConfigOpts:
    """The service's oslo.config as the service reads it: its snippet file, nothing else."""
    snippet = stack.snippet_file(service)
    assert "?" not in snippet.read_text()  # no TLS options in the URLs: the sections give it
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[str(snippet)])
    # oslo.messaging 18.3.1 registers its tracing options on cfg.CONF only
    conf.register_opt(cfg.BoolOpt("tracing_enabled", default=False), "oslo_messaging_tracing")
    return conf


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


# -- secrets ---------------------------------------------------------------------------------


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
    secrets = [s.password for s in plan.services] + ["wrong-pw"]
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
        ("rabbit://u:p@127.0.0.1:http/v", "invalid rabbit:// transport URL: bad port"),
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
