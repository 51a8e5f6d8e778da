"""Qpid Dispatch Router (qdrouterd): render its configuration and run it locally.

Rendering is pure: ``render_qdrouterd_conf(QdrouterdConfig(...)) -> str`` writes the
router's entity format (``router``, ``listener``, ``connector``, ``sslProfile``,
``address``, ``log``). ``oslo_addresses()`` gives the distribution patterns the
``amqp://`` driver's addresses need: multicast for fanout, closest for one server,
balanced for one of a topic's servers and for notifications.

Running: ``Qdrouterd(cfg, directory)`` writes ``directory/qdrouterd.conf`` and runs
``<binary> -c <config>`` with a pid file and a log, ready when its first listener accepts
connections. The binary is ``$HYBRIDMSG_QDROUTERD`` (which may be a wrapper script that
sets the router's PYTHONPATH, as a build tree needs), else ``qdrouterd`` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from hybridmsg.backends.managed import ManagedServer
from hybridmsg.backends.ports import LOOPBACK, tcp_ready
from hybridmsg.backends.process import ServerProcess
from hybridmsg.errors import MissingBinary

NAME = "qdrouterd"
ENV_BINARY = "HYBRIDMSG_QDROUTERD"
Value = str | int | bool | dict[str, "Value | None"]


@dataclass(frozen=True)
class QdrListener:
    """A port the router accepts connections on."""

    port: int
    host: str = LOOPBACK
    role: str = "normal"
    authenticate_peer: bool = False
    sasl_mechanisms: str = "ANONYMOUS"
    ssl_profile: str | None = None
    require_ssl: bool = False


@dataclass(frozen=True)
class QdrConnector:
    """An outgoing connection, e.g. to another router of an interior mesh."""

    host: str
    port: int
    role: str = "inter-router"
    ssl_profile: str | None = None
    sasl_mechanisms: str | None = None


@dataclass(frozen=True)
class QdrSslProfile:
    """Certificates for listeners and connectors that name this profile."""

    name: str
    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    uid_format: str | None = None


@dataclass(frozen=True)
class QdrAddress:
    """A distribution pattern for every address starting with ``prefix``."""

    prefix: str
    distribution: str


def oslo_addresses(
    rpc_prefix: str = "openstack.org/om/rpc", notify_prefix: str = "openstack.org/om/notify"
) -> tuple[QdrAddress, ...]:
    """The patterns the ``amqp://`` driver's routable addresses rely on."""
    patterns = {"multicast": "multicast", "unicast": "closest", "anycast": "balanced"}
    return tuple(
        QdrAddress(f"{prefix}/{segment}", distribution)
        for prefix in (rpc_prefix, notify_prefix)
        for segment, distribution in patterns.items()
    )


@dataclass(frozen=True)
class QdrVhost:
    """A vhost policy: which users may connect with this hostname, to which addresses.

    ``patterns`` are address patterns (``*`` one token, ``#`` any number) the users may both
    receive from and send to; replies need dynamic reply links and the anonymous relay.
    """

    hostname: str
    users: tuple[str, ...]
    patterns: tuple[str, ...]
    max_connections: int = 1000


def vhost_patterns(vhost: str, rpc_prefix: str = "openstack.org/om/rpc",
                   notify_prefix: str = "openstack.org/om/notify") -> tuple[str, ...]:
    """Every address the ``amqp://`` driver uses for ``vhost`` (with ``pseudo_vhost``), and
    the router-assigned reply addresses."""
    return (f"{rpc_prefix}/*/{vhost}/#", f"{notify_prefix}/*/{vhost}/#",
            "amqp:/_topo/0/*/temp.#")


@dataclass(frozen=True)
class QdrouterdConfig:
    """One router; ``mode`` is ``standalone`` or ``interior`` (a member of a mesh)."""

    router_id: str
    listeners: tuple[QdrListener, ...]
    mode: str = "standalone"
    connectors: tuple[QdrConnector, ...] = ()
    ssl_profiles: tuple[QdrSslProfile, ...] = ()
    addresses: tuple[QdrAddress, ...] = field(default_factory=oslo_addresses)
    vhosts: tuple[QdrVhost, ...] = ()
    log_file: str | None = None
    worker_threads: int = 2


def _quote(value: str) -> str:
    if any(ch in value for ch in '"\n\r\\'):
        raise ValueError(f"character not allowed in a qdrouterd config value: {value[:20]!r}")
    return f'"{value}"' if any(ch in value for ch in " #:,{}") else value


def _body(attributes: dict[str, Value | None], indent: int = 1) -> list[str]:
    pad = "    " * indent
    lines = []
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, dict):
            # a nested map (vhost groups) must be JSON, opened on the key's line
            nested = json.dumps(value, indent=4).splitlines()
            lines += [f"{pad}{key}: {{", *(pad + line for line in nested[1:])]
        elif isinstance(value, bool):
            lines.append(f"{pad}{key}: {'yes' if value else 'no'}")
        else:
            lines.append(f"{pad}{key}: {value if isinstance(value, int) else _quote(value)}")
    return lines


def _entity(name: str, attributes: dict[str, Value | None]) -> str:
    return "\n".join([f"{name} {{", *_body(attributes), "}"]) + "\n"


def _vhost(vhost: QdrVhost) -> str:
    patterns = ", ".join(vhost.patterns)
    group = {
        "users": ", ".join(vhost.users), "remoteHosts": "*",
        "allowDynamicSource": True, "allowAnonymousSender": True,
        "sourcePattern": patterns, "targetPattern": patterns,
    }
    return _entity("vhost", {
        "hostname": vhost.hostname, "maxConnections": vhost.max_connections,
        "allowUnknownUser": False, "groups": {"services": group},
    })


def render_qdrouterd_conf(cfg: QdrouterdConfig) -> str:
    """The qdrouterd configuration file for ``cfg``."""
    parts = [_entity("router", {"mode": cfg.mode, "id": cfg.router_id,
                                "workerThreads": cfg.worker_threads})]
    for p in cfg.ssl_profiles:
        parts.append(_entity("sslProfile", {
            "name": p.name, "caCertFile": p.ca_file, "certFile": p.cert_file,
            "privateKeyFile": p.key_file, "uidFormat": p.uid_format,
        }))
    for lst in cfg.listeners:
        parts.append(_entity("listener", {
            "host": lst.host, "port": lst.port, "role": lst.role,
            "authenticatePeer": lst.authenticate_peer, "saslMechanisms": lst.sasl_mechanisms,
            "sslProfile": lst.ssl_profile, "requireSsl": lst.require_ssl or None,
        }))
    for con in cfg.connectors:
        parts.append(_entity("connector", {
            "host": con.host, "port": con.port, "role": con.role,
            "sslProfile": con.ssl_profile, "saslMechanisms": con.sasl_mechanisms,
        }))
    if cfg.vhosts:
        # Connections whose hostname names no vhost here are refused (no $default vhost).
        parts.append(_entity("policy", {"enableVhostPolicy": True,
                                        "enableVhostNamePatterns": False}))
        parts.extend(_vhost(v) for v in cfg.vhosts)
    for address in cfg.addresses:
        parts.append(_entity("address", {"prefix": address.prefix,
                                         "distribution": address.distribution}))
    parts.append(_entity("log", {"module": "DEFAULT", "enable": "info+",
                                 "outputFile": cfg.log_file}))
    return "\n".join(parts)


def find_qdrouterd() -> str:
    """The router binary: ``$HYBRIDMSG_QDROUTERD``, else ``qdrouterd`` on PATH."""
    configured = os.environ.get(ENV_BINARY)
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise MissingBinary(f"{ENV_BINARY}={configured} is not an executable file; "
                                "point it at qdrouterd or a wrapper script")
        return configured
    found = shutil.which(NAME)
    if found is None:
        raise MissingBinary(
            "Qpid Dispatch Router (qdrouterd) not found: install it, or set "
            f"{ENV_BINARY} to the qdrouterd binary (or a wrapper script that runs it)"
        )
    return found


def qdrouterd_version() -> str:
    """What ``qdrouterd --version`` prints, e.g. ``1.19.0``."""
    done = subprocess.run([find_qdrouterd(), "--version"], capture_output=True, text=True,
                          timeout=30, check=False)
    return done.stdout.strip() or done.stderr.strip() or "unknown"


class Qdrouterd(ManagedServer):
    """A qdrouterd run from ``directory`` with the rendered ``cfg``."""

    name = NAME
    start_timeout = 15.0

    def __init__(self, cfg: QdrouterdConfig, directory: Path) -> None:
        super().__init__(directory)
        self.log_file = self.directory / f"{NAME}-router.log"
        self.config = replace(cfg, log_file=str(self.log_file))
        self.conf_file = self.directory / f"{NAME}.conf"

    @property
    def port(self) -> int:
        return self.config.listeners[0].port

    def warnings(self) -> list[str]:
        """Warning and error lines the router logged (configuration problems among them)."""
        if not self.log_file.exists():
            return []
        return [line for line in self.log_file.read_text(errors="replace").splitlines()
                if " (warning) " in line or " (error) " in line or " (critical) " in line]

    def _new_process(self) -> ServerProcess:
        first = self.config.listeners[0]
        return ServerProcess(
            NAME,
            [find_qdrouterd(), "-c", str(self.conf_file)],
            self.directory,
            ready=tcp_ready(first.host, first.port),
            ports={lst.port: f"qdrouterd {lst.role} listener" for lst in self.config.listeners},
            host=first.host,
            files={self.conf_file.name: render_qdrouterd_conf(self.config)},
        )
