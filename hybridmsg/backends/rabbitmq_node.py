"""A private RabbitMQ node beside any system one, run from its own directory.

``RabbitNode(cfg, directory, definitions)`` keeps everything in ``directory``: the
rendered ``rabbitmq.conf``, an empty plugins file and env file (so nothing in
/etc/rabbitmq applies), ``definitions.json`` (loaded at boot), ``mnesia/``, ``log/``,
its own Erlang cookie (``HOME`` is the directory) and two pid files:
``rabbitmq-server.pid`` (the process group we started) and ``rabbit.pid``
(``RABBITMQ_PID_FILE``, the Erlang VM). All ports come from the config, so nodes never
clash with a system RabbitMQ on 5672/25672. Run as root, the node and rabbitmqctl run
as user ``rabbitmq`` and the directory is chowned to it (every parent must be
searchable by that user; pytest's 0700 basetemp is not).

* ``start(timeout)`` / ``stop(timeout)`` (SIGTERM = graceful shutdown, then SIGKILL) /
  ``is_running`` / ``pid`` -- ``stop()`` also works for a node started by another process.
* ``apply_definitions(defs)`` -- one ``rabbitmqctl import_definitions`` (additive).
* ``list_queues(vhost)`` -> ``[QueueStats(name, messages, consumers)]``.
* ``url(user, password, vhost)`` -> ``rabbit://...`` transport URL.

With TLS in the config the node reads its own 0600 copies of the certificate, key and CA
(``tls-*.pem`` in the directory, owned by the node's user), and ``conf_changed`` tells
whether a running node must restart to pick up a new listener.

Passwords never reach a command line, a log or the definitions file (hashes only).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from hybridmsg.backends.ports import tcp_ready
from hybridmsg.backends.process import PidFile, RunAs, ServerProcess, write_private
from hybridmsg.backends.rabbitmq import (
    RabbitDefinitions,
    RabbitNodeConfig,
    rabbit_environment,
    render_definitions,
    render_rabbitmq_conf,
)
from hybridmsg.backends.urls import transport_url
from hybridmsg.errors import MissingBinary, ServerCommandError, ServerStartError

NAME = "rabbitmq-server"
PACKAGED_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
DEFINITIONS = "definitions.json"


@dataclass(frozen=True)
class QueueStats:
    name: str
    messages: int
    consumers: int


def find_rabbitmq_scripts() -> Path:
    """The directory holding the real rabbitmq-server and rabbitmqctl scripts."""
    if (PACKAGED_SCRIPTS / NAME).is_file():
        return PACKAGED_SCRIPTS  # Debian/RPM: /usr/sbin only has su wrappers
    found = shutil.which(NAME)
    if found is None:
        raise MissingBinary(
            f"{NAME} not found: apt-get install rabbitmq-server "
            "(or put RabbitMQ's sbin directory on PATH)"
        )
    return Path(found).parent


def _run_as_rabbitmq() -> RunAs | None:
    """Root hands the node to user ``rabbitmq``, as the packaged scripts do."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam("rabbitmq")
    except KeyError:
        return None
    return RunAs(user.pw_uid, user.pw_gid, tuple(os.getgrouplist(user.pw_name, user.pw_gid)))


def _unsearchable_parent(directory: Path, run_as: RunAs) -> Path | None:
    """The first parent of ``directory`` that ``run_as`` may not enter, if any."""
    for parent in directory.resolve().parents:
        info = parent.stat()
        if info.st_uid == run_as.uid:
            bit = stat.S_IXUSR
        elif info.st_gid in (run_as.gid, *run_as.groups):
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return parent
    return None


class RabbitNode:
    """A private RabbitMQ node run from ``directory``."""

    def __init__(
        self,
        cfg: RabbitNodeConfig,
        directory: Path,
        definitions: RabbitDefinitions | None = None,
    ) -> None:
        self.config = cfg
        self.directory = Path(directory).absolute()
        self.definitions = definitions or RabbitDefinitions()
        self.pid_file = PidFile(self.directory / f"{NAME}.pid")
        self.vm_pid_file = PidFile(self.directory / "rabbit.pid")
        self.log_file = self.directory / f"{NAME}.log"
        self._run_as = _run_as_rabbitmq()
        self._process: ServerProcess | None = None

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def nodename(self) -> str:
        return self.config.nodename

    @property
    def pid(self) -> int | None:
        """The Erlang VM's pid, from RABBITMQ_PID_FILE."""
        return self.vm_pid_file.pid

    @property
    def is_running(self) -> bool:
        return self._process.is_running if self._process else self.pid_file.alive()

    def url(self, user: str, password: str, vhost: str = "") -> str:
        """The ``rabbit://`` transport URL for ``user`` (contains the password)."""
        return transport_url("rabbit", self.host, self.port, user, password, vhost)

    def _env(self) -> dict[str, str]:
        d, cfg = self.directory, self.config
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        return env | rabbit_environment(cfg) | {
            "HOME": str(d),  # the node's own .erlang.cookie
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(self.vm_pid_file.path),
        }

    def _prepare_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._run_as is None:
            return
        blocked = _unsearchable_parent(self.directory, self._run_as)
        if blocked is not None:
            raise ServerStartError(
                f"user rabbitmq cannot enter {blocked}; run the RabbitMQ node from a "
                "directory every parent of which is searchable (e.g. under /tmp or /var/lib)"
            )
        for path in (self.directory, *self.directory.rglob("*")):
            os.chown(path, self._run_as.uid, self._run_as.gid)

    def _node_tls(self) -> tuple[RabbitNodeConfig, dict[str, str]]:
        """The config as the node reads it, and the TLS files to copy into its directory.

        The node reads copies owned by its own user (0600), whatever the originals'
        owner and mode.
        """
        tls = self.config.tls
        if tls is None:
            return self.config, {}
        copies = {"tls-cert.pem": tls.certfile, "tls-key.pem": tls.keyfile}
        if tls.cacertfile:
            copies["tls-ca.pem"] = tls.cacertfile
        try:
            files = {name: Path(source).read_text() for name, source in copies.items()}
        except OSError as exc:
            raise ServerStartError(
                f"cannot read the RabbitMQ TLS file {exc.filename} ({exc.strerror}); "
                "fix the path in the plan"
            ) from None
        node_tls = replace(
            tls,
            certfile=str(self.directory / "tls-cert.pem"),
            keyfile=str(self.directory / "tls-key.pem"),
            cacertfile=str(self.directory / "tls-ca.pem") if tls.cacertfile else None,
        )
        return replace(self.config, tls=node_tls), files

    def rendered_conf(self) -> str:
        """rabbitmq.conf as :meth:`start` writes it."""
        return render_rabbitmq_conf(self._node_tls()[0], str(self.directory / DEFINITIONS))

    @property
    def conf_changed(self) -> bool:
        """Whether the node's rabbitmq.conf differs from what its config renders now."""
        try:
            return (self.directory / "rabbitmq.conf").read_text() != self.rendered_conf()
        except OSError:
            return True

    def start(self, timeout: float = 60.0) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        cfg = self.config
        _, tls_files = self._node_tls()
        process = ServerProcess(
            NAME,
            [str(find_rabbitmq_scripts() / NAME)],
            self.directory,
            ready=tcp_ready(cfg.host, cfg.port),
            ports={
                cfg.port: "RabbitMQ AMQPS" if cfg.tls else "RabbitMQ AMQP",
                cfg.dist_port: "RabbitMQ distribution",
            },
            host=cfg.host,
            env=self._env(),
            run_as=self._run_as,
            files={
                "rabbitmq.conf": self.rendered_conf(),
                DEFINITIONS: render_definitions(self.definitions),
                "enabled_plugins": "[].\n",
                "rabbitmq-env.conf": "",
                ".erlang.cookie": cfg.cookie or secrets.token_hex(20),
                **tls_files,
            },
        )
        self._prepare_directory()
        process.start(timeout)
        self._process = process

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node started from this directory, by whichever process; idempotent."""
        if self._process is not None:
            self._process.stop(timeout)
            self._process = None
        else:
            self.pid_file.stop(timeout)

    def ctl(self, *args: str, timeout: float = 60.0, stdin: str | None = None) -> str:
        """Run ``rabbitmqctl -n NODE ARGS`` as the node's user (``stdin`` its input); its
        stdout."""
        argv = [str(find_rabbitmq_scripts() / "rabbitmqctl"), "-n", self.nodename, *args]
        run_as = self._run_as
        result = subprocess.run(
            argv,
            cwd=self.directory,
            env=self._env(),
            capture_output=True,
            text=True,
            input=stdin,
            timeout=timeout,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=list(run_as.groups) if run_as else None,
        )
        if result.returncode != 0:
            lines = (result.stderr + result.stdout).strip().splitlines() or ["no output"]
            raise ServerCommandError(
                f"rabbitmqctl {args[0]} on {self.nodename} failed: {lines[-1].strip()}; "
                f"log: {self.directory / 'log'}"
            )
        return result.stdout

    def apply_definitions(self, definitions: RabbitDefinitions) -> None:
        """Add users, vhosts and permissions to the running node (one rabbitmqctl call)."""
        path = self.directory / DEFINITIONS
        write_private(path, render_definitions(definitions), self._run_as)
        self.ctl("import_definitions", str(path))
        self.definitions = definitions

    def list_queues(self, vhost: str) -> list[QueueStats]:
        """Every queue of ``vhost`` with its ready+unacked message count and consumers."""
        out = self.ctl(
            "list_queues", "-q", "-p", vhost, "name", "messages", "consumers", "--formatter", "json"
        )
        return [
            QueueStats(q["name"], int(q["messages"]), int(q["consumers"]))
            for q in json.loads(out or "[]")
        ]

    def __enter__(self) -> RabbitNode:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
