"""Fixtures for integration tests that the server fixtures (tests/conftest.py) don't cover."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridmsg.backends.ports import free_port
from hybridmsg.backends.qdrouterd import ENV_BINARY, QdrListener, Qdrouterd, QdrouterdConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@dataclass
class Peer:
    name: str
    process: subprocess.Popen
    answer: dict

    def stop(self, timeout: float = 20) -> str:
        out, _ = self.process.communicate(input="", timeout=timeout)
        return out.strip().splitlines()[-1] if out.strip() else ""


@pytest.fixture
def peer_process():
    """Start ``tests.integration.rpc_peer`` processes; kill any left at the end."""
    started: list[subprocess.Popen] = []

    def start(url: str, topic: str, name: str, executor: str) -> Peer:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.rpc_peer", url, topic, name, executor],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True,
        )
        started.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("ready "), f"peer {name} did not start: {line!r}"
        return Peer(name, proc, json.loads(line.split(" ", 1)[1]))

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


needs_qdrouterd = pytest.mark.skipif(
    not os.environ.get(ENV_BINARY), reason=f"{ENV_BINARY} is not set (no qdrouterd binary)"
)


@pytest.fixture(scope="session")
def qdrouterd_server(tmp_path_factory: pytest.TempPathFactory):
    """A standalone qdrouterd with an anonymous plain listener."""
    if not os.environ.get(ENV_BINARY):
        pytest.skip(f"{ENV_BINARY} is not set (no qdrouterd binary)")
    router = Qdrouterd(
        QdrouterdConfig("test", (QdrListener(free_port()),)), tmp_path_factory.mktemp("qdr")
    )
    router.start()
    yield router
    router.stop()


@pytest.fixture(scope="session")
def amqp_url(qdrouterd_server) -> str:
    return f"amqp://127.0.0.1:{qdrouterd_server.port}/test"
