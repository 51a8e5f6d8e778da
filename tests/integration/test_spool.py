"""The notification spool of ``rabbit-once://`` with a real RabbitMQ: what a notifier accepted
while RabbitMQ was down arrives once, in order, even when the notifier was killed (-9)
before RabbitMQ came back; in a plain and in an eventlet-patched process."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import oslo_messaging as om
import pytest
from oslo_config import cfg

from hybridmsg.backends.rabbitmq import RabbitDefinitions
from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.drivers.spool.store import read_spools
from tests.conftest import rabbit_node_config
from tests.integration.oslo_peer import NotificationRecorder

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = ("spool", "pw", "spool")
DURABLE = "?amqp_durable_queues=true&rabbit_quorum_queue=true&rabbit_retry_backoff=0"
TOPIC = "spooled"
READY_TIMEOUT = 60


class Notifier:
    """``tests.integration.spool_notifier`` in a process of its own."""

    def __init__(self, config: Path, first: int, count: int, mode: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.spool_notifier",
                str(config),
                TOPIC,
                str(first),
                str(count),
                mode,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def accepted(self) -> str:
        """The ``accepted`` line (every notify() returned), or "" if none came in time."""
        return _line(self.process.stdout, lambda line: True)

    def logged(self, text: str) -> str:
        """The first line of the log with ``text`` in it, or "" if none came in time."""
        return _line(self.process.stderr, lambda line: text in line)

    def stop(self) -> str:
        out, _ = self.process.communicate(input="", timeout=READY_TIMEOUT)
        return out.strip()


def _line(stream, wanted) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    while select.select([stream], [], [], max(0.0, deadline - time.monotonic()))[0]:
        line = stream.readline()
        if not line or wanted(line):
            return line
    return ""


@pytest.fixture
def node(rabbit_dir: Path) -> Iterator[RabbitNode]:
    """A RabbitMQ node of its own, not started."""
    rabbit = RabbitNode(
        rabbit_node_config("spool"), rabbit_dir, RabbitDefinitions.for_accounts([ACCOUNT])
    )
    yield rabbit
    rabbit.stop()


def service_config(path: Path, url: str, spool: Path) -> Path:
    path.write_text(
        "[oslo_messaging_notifications]\n"
        "driver = messagingv2\n"
        f"transport_url = {url}\n"
        "retry = -1\n"
        "\n[hybridmsg_rabbit_once]\n"
        f"spool_directory = {spool}\n"
    )
    return path


@pytest.mark.parametrize("mode", ["threading", "eventlet"])
def test_a_notifier_killed_during_an_outage_sends_its_spool_when_started_again(
    node: RabbitNode, tmp_path: Path, mode: str
) -> None:
    url = node.url(*ACCOUNT).replace("rabbit://", "rabbit-once://", 1) + DURABLE
    spool = tmp_path / "spool"
    config = service_config(tmp_path / "service.conf", url, spool)

    # RabbitMQ is down: each notify() returns at once, the notification on local disk
    first = Notifier(config, 0, 50, mode)
    try:
        accepted = first.accepted()
        assert accepted.startswith("accepted 50 "), accepted
    finally:
        first.process.kill()  # SIGKILL: nothing is flushed, nothing said goodbye
        first.process.wait()
    assert [s.depth for s in read_spools(spool)] == [50]

    # the same program started again, RabbitMQ still down: it takes the spool over, adds
    # to it, and its sender keeps trying
    second = Notifier(config, 50, 10, mode)
    try:
        assert second.accepted().startswith("accepted 10 ")
        assert second.logged("not sent yet, trying again")
        node.start()
        transport = om.get_notification_transport(cfg.CONF, url=url)
        received = NotificationRecorder()
        listener = om.get_notification_listener(
            transport, [om.Target(topic=TOPIC)], [received], executor="threading"
        )
        listener.start(override_pool_size=1)  # handled one at a time: arrival order kept
        try:
            assert received.wait_for(60, timeout=60), len(received.events)
            assert second.stop().endswith("stopped")
            assert not received.wait_for(61, timeout=1)  # no copy behind them
        finally:
            listener.stop()
            listener.wait()
            transport.cleanup()
    finally:
        second.process.kill()
        second.process.wait()
    assert [payload["n"] for _, payload in received.events] == list(range(60))
    assert read_spools(spool) == []  # emptied and removed at the clean stop
