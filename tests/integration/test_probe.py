"""``hybridmsg probe`` against real servers and silent ports: one line, named causes, and
an end within the timeout asked for.

Each probe runs as a user runs it, in a process of its own; the bound given to that
process is not a timing assertion but what turns a hang into a failure.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hybridmsg.backends.nats import NatsServer, NatsUser
from hybridmsg.backends.ports import LOOPBACK
from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.drivers.nats.addressing import NatsAddressing
from tests.integration.conftest import needs_qdrouterd

#: a probe that has not ended by then hangs (each probe here asks for 20 s at most)
HANG = 30


def probe(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hybridmsg", "probe", url, *options],
        capture_output=True,
        text=True,
        timeout=HANG,
    )


def refused(url: str, *options: str) -> str:
    """The one line of a probe that failed (exit 4, nothing on stdout)."""
    result = probe(url, *options)
    assert (result.returncode, result.stdout) == (4, ""), result
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never says a word (a hung server, a tarpit)."""
    with socket.create_server((LOOPBACK, 0)) as server:
        yield server.getsockname()[1]


def test_a_nats_url_aimed_at_rabbitmq_names_the_mismatch(rabbit_server: RabbitNode):
    line = refused(f"nats://test:pw@{LOOPBACK}:{rabbit_server.port}/test", "--timeout", "5")
    assert line == (
        f"hybridmsg probe: nats://{LOOPBACK}:{rabbit_server.port}: an AMQP 0-9-1 broker "
        f"(RabbitMQ) answers at {LOOPBACK}:{rabbit_server.port}, not a NATS server: use the "
        "port of the nats:// server, or rabbit:// for this one\n"
    )


@pytest.mark.parametrize("scheme", ["rabbit", "amqp"])
def test_an_amqp_url_aimed_at_nats_names_the_mismatch(scheme, nats_server: NatsServer):
    line = refused(f"{scheme}://test:pw@{LOOPBACK}:{nats_server.port}/test", "--timeout", "5")
    assert f"a NATS server answers at {LOOPBACK}:{nats_server.port}, not an AMQP" in line
    assert "or nats:// for this one" in line


@needs_qdrouterd
def test_amqp_probes_a_router_and_other_schemes_are_told_it_is_one(amqp_url: str):
    ok = probe(amqp_url, "--timeout", "10")
    assert ok.returncode == 0 and ok.stdout.startswith("ok: amqp://"), ok
    port = amqp_url.rsplit(":", 1)[1].split("/")[0]
    for scheme in ("rabbit", "nats"):
        line = refused(f"{scheme}://test:pw@{LOOPBACK}:{port}/test", "--timeout", "5")
        assert f"an AMQP 1.0 router answers at {LOOPBACK}:{port}" in line, line
        assert "or amqp:// for this one" in line, line


def test_nothing_listening_is_said_before_the_timeout(unused_port: int):
    line = refused(f"nats://test:pw@{LOOPBACK}:{unused_port}/test", "--timeout", "5")
    assert line.endswith(
        f"nothing listens at {LOOPBACK}:{unused_port}: start the server or fix host and port\n"
    )


@pytest.mark.parametrize("scheme", ["nats", "rabbit", "amqp"])
def test_a_silent_server_ends_the_probe_at_its_timeout(scheme, silent_port: int):
    line = refused(f"{scheme}://test:pw@{LOOPBACK}:{silent_port}/test", "--timeout", "2")
    where = f"{scheme}://{LOOPBACK}:{silent_port}"
    assert line == f"hybridmsg probe: {where}: no connection within 2 s\n"


def test_a_silent_server_past_kombus_own_timeout_is_named(silent_port: int):
    """oslo's rabbit driver gives up before a long --timeout (kombu's connect timeout)."""
    line = refused(f"rabbit://test:pw@{LOOPBACK}:{silent_port}/test", "--timeout", "20")
    assert line.endswith("the server took the connection but did not answer in time: a hung "
                         "server, or another program on that port?\n"), line


def test_without_v_an_error_is_hybridmsgs_line_only(nats_server_factory, test_account):
    """The driver's own log (ERROR hybridmsg.drivers.nats.wire: NATS server refused ...)
    stays silent without -v; with -v it is there."""
    space = NatsAddressing(vhost="test").namespace()
    user = NatsUser(test_account.user, test_account.password, (space,), (space,))
    server = nats_server_factory(users=(user,))
    url = server.url(test_account.user, test_account.password, "other")  # outside its space
    line = refused(url, "--timeout", "5")
    assert "refused user 'test' a subscription to openstack.other.reply." in line, line
    verbose = probe(url, "--timeout", "3", "-v")
    assert verbose.returncode == 4
    assert "ERROR hybridmsg.drivers.nats.wire: NATS server refused" in verbose.stderr


def test_a_wrong_password_is_one_line(rabbit_url: str, nats_url: str):
    for url in (rabbit_url, nats_url):
        line = refused(url.replace("test:", "test:x", 1), "--timeout", "5")
        assert "refused user 'test': wrong user or password" in line, line
