"""RabbitMQ: render rabbitmq.conf and a definitions file (users, vhosts, permissions).

Pure functions, frozen dataclasses in, text out:

* ``RabbitNodeConfig(name, port, dist_port, host, tls, max_message_size)`` ->
  ``render_rabbitmq_conf(cfg, definitions_file)``: one loopback listener (plain, or TLS
  only), ``loopback_users = none``, an optional ``max_message_size`` and
  ``load_definitions`` so users exist from the first boot.
* ``RabbitUser.with_password(name, password, tags)`` hashes the password at once
  (``hash_password``: rabbit_password_hashing_sha256, base64(salt + sha256(salt +
  password)) with a random 4-byte salt), so no plain password is kept or rendered.
* ``RabbitDefinitions(users, vhosts, permissions, topic_permissions)`` ->
  ``render_definitions(defs)`` (JSON); ``RabbitDefinitions.for_accounts([(user, password,
  vhost), ...])`` for the usual case.

Running a node is :mod:`hybridmsg.backends.rabbitmq_node`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

from hybridmsg.backends.ports import LOOPBACK

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's SHA-256 password hash of ``password`` (random 4-byte salt by default)."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


@dataclass(frozen=True)
class RabbitUser:
    """A user with an already-hashed password."""

    name: str
    password_hash: str
    tags: tuple[str, ...] = ()

    @classmethod
    def with_password(cls, name: str, password: str, tags: tuple[str, ...] = ()) -> RabbitUser:
        return cls(name, hash_password(password), tags)


@dataclass(frozen=True)
class RabbitPermission:
    """``user``'s configure/write/read regular expressions on ``vhost``."""

    user: str
    vhost: str
    configure: str = ".*"
    write: str = ".*"
    read: str = ".*"


@dataclass(frozen=True)
class RabbitTopicPermission:
    """``user``'s routing keys on the topic exchange ``exchange`` of ``vhost``: ``write``
    limits what it may publish with, ``read`` what it may bind a queue with."""

    user: str
    vhost: str
    exchange: str
    write: str = ".*"
    read: str = ".*"


@dataclass(frozen=True)
class RabbitDefinitions:
    """What to create on a node; importing is additive (nothing is deleted)."""

    users: tuple[RabbitUser, ...] = ()
    vhosts: tuple[str, ...] = ()
    permissions: tuple[RabbitPermission, ...] = ()
    topic_permissions: tuple[RabbitTopicPermission, ...] = ()

    @classmethod
    def for_accounts(cls, accounts: Iterable[tuple[str, str, str]]) -> RabbitDefinitions:
        """One user with full rights on its own vhost per ``(user, password, vhost)``."""
        accounts = list(accounts)
        return cls(
            users=tuple(RabbitUser.with_password(user, password) for user, password, _ in accounts),
            vhosts=tuple(dict.fromkeys(vhost for _, _, vhost in accounts)),
            permissions=tuple(RabbitPermission(user, vhost) for user, _, vhost in accounts),
        )


@dataclass(frozen=True)
class RabbitTLS:
    """TLS on the node's listener; ``verify`` requests client certificates."""

    certfile: str
    keyfile: str
    cacertfile: str | None = None
    verify: bool = False
    fail_if_no_peer_cert: bool = False


@dataclass(frozen=True)
class RabbitNodeConfig:
    """One node: its Erlang name, AMQP port and Erlang distribution port.

    With ``tls``, ``port`` is a TLS listener and the node has no plain AMQP listener.
    ``max_message_size`` (bytes): a larger message closes the publisher's channel with
    ``PRECONDITION_FAILED``; None keeps RabbitMQ's own limit.
    """

    name: str = "hybridmsg"
    port: int = 5672
    dist_port: int = 25672
    host: str = LOOPBACK
    tls: RabbitTLS | None = None
    max_message_size: int | None = None

    @property
    def nodename(self) -> str:
        return f"{self.name}@localhost"


def _conf_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if not text or any(char in text for char in "\r\n#"):
        raise ValueError(f"value {text!r} cannot be written to rabbitmq.conf")
    return text


def render_rabbitmq_conf(cfg: RabbitNodeConfig, definitions_file: str | None = None) -> str:
    """rabbitmq.conf (the new-style sysctl format) for ``cfg``."""
    listener = f"{cfg.host}:{cfg.port}"
    settings: dict[str, str | int | bool | None] = {
        "listeners.tcp.default": listener if cfg.tls is None else None,
        "listeners.tcp": None if cfg.tls is None else "none",
        "loopback_users": "none",
        "max_message_size": cfg.max_message_size,
        "load_definitions": definitions_file,
    }
    tls = cfg.tls
    if tls is not None:
        settings |= {
            "listeners.ssl.default": listener,
            "ssl_options.certfile": tls.certfile,
            "ssl_options.keyfile": tls.keyfile,
            "ssl_options.cacertfile": tls.cacertfile,
            "ssl_options.verify": "verify_peer" if tls.verify else "verify_none",
            "ssl_options.fail_if_no_peer_cert": tls.fail_if_no_peer_cert,
        }
    return "".join(
        f"{key} = {_conf_value(value)}\n" for key, value in settings.items() if value is not None
    )


def render_definitions(defs: RabbitDefinitions) -> str:
    """The definitions JSON accepted by ``load_definitions`` and ``import_definitions``."""
    document = {
        "users": [
            {
                "name": user.name,
                "password_hash": user.password_hash,
                "hashing_algorithm": HASHING_ALGORITHM,
                "tags": list(user.tags),
            }
            for user in defs.users
        ],
        "vhosts": [{"name": vhost} for vhost in defs.vhosts],
        "permissions": [
            {
                "user": perm.user,
                "vhost": perm.vhost,
                "configure": perm.configure,
                "write": perm.write,
                "read": perm.read,
            }
            for perm in defs.permissions
        ],
        "topic_permissions": [
            {
                "user": perm.user,
                "vhost": perm.vhost,
                "exchange": perm.exchange,
                "write": perm.write,
                "read": perm.read,
            }
            for perm in defs.topic_permissions
        ],
    }
    return json.dumps(document, indent=2) + "\n"
