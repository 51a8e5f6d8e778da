"""RabbitMQ: render rabbitmq.conf and a definitions file (users, vhosts, permissions).

Pure functions, frozen dataclasses in, text out:

* ``RabbitNodeConfig(name, port, dist_port, host, tls, max_message_size, node_host,
  peers, epmd_port)`` -> ``render_rabbitmq_conf(cfg, definitions_file)``: one listener on
  ``host`` (plain, or TLS only), ``loopback_users = none``, an optional
  ``max_message_size`` and ``load_definitions`` so users exist from the first boot. A node
  with ``peers`` (the node names of a cluster) joins them on its first boot (RabbitMQ's
  ``classic_config`` peer discovery) and pauses when it is in a minority
  (``pause_minority``). ``rabbit_environment(cfg)`` is what its server and rabbitmqctl
  need in their environment: node name (long names for a host with dots), distribution
  port and interface, epmd port.
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
import ipaddress
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    #: the host part of the Erlang node name
    node_host: str = "localhost"
    #: the node names of every node of its cluster (itself included); () = a single node
    peers: tuple[str, ...] = ()
    #: where epmd listens on every host of the cluster; None = epmd's default (4369)
    epmd_port: int | None = None
    #: the Erlang cookie its cluster shares; "" = a random one of its own
    cookie: str = field(default="", repr=False)
    cluster_name: str = "hybridmsg"

    @property
    def nodename(self) -> str:
        return f"{self.name}@{self.node_host}"

    @property
    def long_names(self) -> bool:
        """Erlang long node names: needed for a host part with dots (an FQDN or address)."""
        return "." in self.node_host or ":" in self.node_host


def _erlang_address(host: str) -> str | None:
    """``10.0.0.2`` as Erlang's ``{10,0,0,2}``; None for a name or an IPv6 address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.version != 4:
        return None
    return "{" + ",".join(str(part) for part in address.packed) + "}"


def rabbit_environment(cfg: RabbitNodeConfig) -> dict[str, str]:
    """The environment the node's server and its rabbitmqctl run with: its name, its
    distribution port on its own address only, and the epmd it registers with."""
    env = {"RABBITMQ_NODENAME": cfg.nodename, "RABBITMQ_DIST_PORT": str(cfg.dist_port)}
    if cfg.long_names:
        env["RABBITMQ_USE_LONGNAME"] = "true"
    interface = _erlang_address(cfg.host)
    if interface is not None:
        env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = f"-kernel inet_dist_use_interface {interface}"
        env["ERL_EPMD_ADDRESS"] = cfg.host  # if this node is the one starting epmd
    if cfg.epmd_port is not None:
        env["ERL_EPMD_PORT"] = str(cfg.epmd_port)
    return env


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
    if cfg.peers:
        settings |= {
            "cluster_name": cfg.cluster_name,
            "cluster_partition_handling": "pause_minority",
            "cluster_formation.peer_discovery_backend": "classic_config",
        }
        settings |= {
            f"cluster_formation.classic_config.nodes.{number}": peer
            for number, peer in enumerate(cfg.peers, 1)
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
