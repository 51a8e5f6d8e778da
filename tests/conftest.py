"""Real servers for the tests, on free loopback ports, each in its own directory.

Session-scoped (started once, stopped at the end):

* ``rabbit_server`` -- a private RabbitMQ node (:class:`RabbitNode`) with the account
  ``test_account`` (user ``test``, generated password, vhost ``test``) on it.
* ``nats_server`` -- a nats-server (:class:`NatsServer`) requiring that account's
  user/password.
* ``rabbit_url`` / ``nats_url`` -- ``rabbit://test:PW@127.0.0.1:PORT/test`` and
  ``nats://test:PW@127.0.0.1:PORT/test``.

Function-scoped:

* ``nats_server_factory(**config)`` -- start a fresh nats-server of its own (for tests
  that kill or ``restart()`` it); ``config`` are :class:`NatsServerConfig` fields, by
  default a free port and the test account as its only user (``users=()``: no auth).
  Every server it started is stopped at the end of the test.
* ``rabbit_dir`` -- a directory a second RabbitMQ node can run from (see below).

RabbitMQ runs as user ``rabbitmq`` when the tests run as root, and that user cannot enter
pytest's 0700 base temp directory, so RabbitMQ directories are made under the system
temp directory instead and removed afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hybridmsg.backends.nats import NatsServer, NatsServerConfig, NatsUser
from hybridmsg.backends.ports import free_port
from hybridmsg.backends.rabbitmq import RabbitDefinitions, RabbitNodeConfig
from hybridmsg.backends.rabbitmq_node import RabbitNode


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    vhost: str


@contextmanager
def private_directory(prefix: str) -> Iterator[Path]:
    """A fresh directory under the system temp directory, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def rabbit_node_config(tag: str) -> RabbitNodeConfig:
    """A node name unique to this test process, on free ports."""
    return RabbitNodeConfig(
        name=f"hybridmsg-test-{tag}-{os.getpid()}", port=free_port(), dist_port=free_port()
    )


@pytest.fixture(scope="session")
def test_account() -> Account:
    return Account("test", secrets.token_urlsafe(18), "test")


@pytest.fixture(scope="session")
def rabbit_server(test_account: Account) -> Iterator[RabbitNode]:
    account = (test_account.user, test_account.password, test_account.vhost)
    with private_directory("hybridmsg-rabbit-") as directory:
        node = RabbitNode(
            rabbit_node_config("session"), directory, RabbitDefinitions.for_accounts([account])
        )
        node.start()
        try:
            yield node
        finally:
            node.stop()


@pytest.fixture(scope="session")
def rabbit_url(rabbit_server: RabbitNode, test_account: Account) -> str:
    return rabbit_server.url(test_account.user, test_account.password, test_account.vhost)


@pytest.fixture
def rabbit_dir() -> Iterator[Path]:
    with private_directory("hybridmsg-rabbit-") as directory:
        yield directory


def _nats_config(account: Account, **config: Any) -> NatsServerConfig:
    config.setdefault("port", free_port())
    config.setdefault("users", (NatsUser(account.user, account.password),))
    return NatsServerConfig(**config)


@pytest.fixture(scope="session")
def nats_server(
    tmp_path_factory: pytest.TempPathFactory, test_account: Account
) -> Iterator[NatsServer]:
    server = NatsServer(
        _nats_config(test_account, monitoring_port=free_port()), tmp_path_factory.mktemp("nats")
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: NatsServer, test_account: Account) -> str:
    return nats_server.url(test_account.user, test_account.password, test_account.vhost)


@pytest.fixture
def nats_server_factory(
    tmp_path: Path, test_account: Account
) -> Iterator[Callable[..., NatsServer]]:
    started: list[NatsServer] = []

    def start(**config: Any) -> NatsServer:
        server = NatsServer(_nats_config(test_account, **config), tmp_path / f"nats{len(started)}")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
