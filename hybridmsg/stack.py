"""The local stack: a plan's servers run on loopback, kept in one state directory.

The state directory (see :mod:`hybridmsg.state_dir`) holds ``plan.json`` (the plan,
passwords included, 0600), ``backends.json`` (every backend it has run, also in earlier
modes: a mode switch brings each back on its ports, node name and data), ``services/NAME.conf``
(each service's and notification reader's oslo.messaging snippet, 0600) and one directory
per backend (``rabbitmq/``, ``nats/``) with its config, data, log and pid file, so that
``down`` and ``status`` find the servers again from any process.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from hybridmsg.backends.ports import LOOPBACK, free_port
from hybridmsg.backends.process import write_private
from hybridmsg.certs import ensure_certificates, local_tls
from hybridmsg.drivers.spool.store import Stats, read_spools
from hybridmsg.errors import NotDeployed, PlanError, UsageError
from hybridmsg.localservers import LocalCluster, LocalServer, local_server
from hybridmsg.nodeconfigs import certificate_hosts
from hybridmsg.plan import (
    DEFAULT_READER_TOPICS,
    DEFAULT_SERVICES,
    DEFAULT_SPOOL_DIR,
    TLS,
    Backend,
    BackendKind,
    Mode,
    Node,
    Plan,
    Reader,
    Service,
    backend_from_dict,
    plan_from_dict,
)
from hybridmsg.readers import ReaderConfig, parse_reader, reader_config, render_reader
from hybridmsg.services import ServiceConfig, parse, parse_sides, render, service_config
from hybridmsg.state_dir import StateDir

#: the most nodes per backend ``up --nodes`` runs on this machine
MAX_NODES = 8
Progress = Callable[..., None]  # print-like: progress(text, end="")
#: Renders a service's snippet from the plan: (plan, service name) -> text.
Snippet = Callable[[Plan, str], str]
#: Notification readers as asked for: (name, topics); no topics: as before, else the default.
ReaderRequest = tuple[str, tuple[str, ...]]
OWN_STATE_DIR = "give a state directory of your own with --state-dir DIR"


def plain_snippet(plan: Plan, name: str) -> str:
    """The snippet of a service in the plan's mode (what ``up`` writes)."""
    return render(service_config(plan, name))


def local_plan(
    mode: Mode,
    services: Sequence[str] | None = None,
    router: BackendKind = BackendKind.NATS,
    previous: Plan | None = None,
    tls: TLS | None = None,
    readers: Sequence[ReaderRequest] | None = None,
    nodes: int | None = None,
    kept: Sequence[Backend] = (),
    spool: bool | None = None,
    spool_dir: str | None = None,
) -> Plan:
    """The plan of a stack on this machine for ``mode``, with ``tls`` on every server.

    Each backend has one node on loopback, or ``nodes`` nodes on the test hosts
    127.0.0.2, 127.0.0.3, ... (:func:`host_addresses`). What ``previous`` already has is kept
    (service and reader passwords, backends of as many nodes), and so is each backend of
    ``kept`` of as many nodes (the backends this stack ran in earlier modes: ports, node
    names and so their data), so that services and readers stay configured across mode
    switches; what is new gets a free port or a generated password. ``readers`` None keeps
    the previous readers, ``nodes`` None the previous number of nodes, ``spool`` (spool
    notifications: None is the mode's choice) and ``spool_dir`` None the previous ones.
    """
    names = services or (previous.service_names if previous else DEFAULT_SERVICES)
    known = {s.name: s for s in previous.services} if previous else {}
    accounts = tuple(known.get(name) or _new_service(name) for name in names)
    reading = previous.readers if previous else ()
    if spool is None and previous is not None:
        spool = previous.spool_notifications
    spool_dir = spool_dir or (previous.spool_dir if previous else DEFAULT_SPOOL_DIR)
    if readers is not None:
        reading = tuple(_reader(name, topics, previous) for name, topics in readers)
    if nodes is None:
        nodes = len(previous.backends[0].nodes) if previous else 1
    hosts = host_addresses(nodes)
    backends = by_shape((*kept, *(previous.backends if previous else ())))
    rabbitmq = router_backend = None
    if mode.needs_rabbitmq:
        rabbitmq = backends.get((BackendKind.RABBITMQ, nodes)) or _new_rabbitmq(hosts)
    if mode.needs_router:
        router_backend = backends.get((router, nodes)) or _new_router(router, hosts)
    return Plan(
        mode=mode,
        services=accounts,
        rabbitmq=rabbitmq,
        router=router_backend,
        tls=tls,
        readers=reading,
        spool_notifications=spool,
        spool_dir=spool_dir,
    )


def by_shape(backends: Sequence[Backend]) -> dict[tuple[BackendKind, int], Backend]:
    """``backends`` by (kind, number of nodes); a later one of the same shape wins."""
    return {(b.kind, len(b.nodes)): b for b in backends}


def _new_service(name: str) -> Service:
    return Service(name=name, user=name, vhost=name, password=secrets.token_urlsafe(24))


def _reader(name: str, topics: tuple[str, ...], previous: Plan | None) -> Reader:
    """Reader ``name`` as before (password, and topics unless ``topics`` are given)."""
    before = {r.name: r for r in previous.readers}.get(name) if previous else None
    if before is None:
        before = Reader(name, name, secrets.token_urlsafe(24), DEFAULT_READER_TOPICS)
    return Reader(before.name, before.user, before.password, topics or before.topics)


def host_addresses(nodes: int) -> tuple[str, ...]:
    """The host addresses of ``nodes`` nodes on this machine: loopback for one, else
    127.0.0.2, 127.0.0.3, ... (Linux routes all of 127.0.0.0/8 to the loopback device)."""
    if not 1 <= nodes <= MAX_NODES:
        raise PlanError(f"{nodes} nodes: give 1 to {MAX_NODES}")
    if nodes == 1:
        return (LOOPBACK,)
    return tuple(f"127.0.0.{number}" for number in range(2, nodes + 2))


def _new_rabbitmq(hosts: tuple[str, ...]) -> Backend:
    if len(hosts) == 1:
        port = free_port()
        node = Node(LOOPBACK, port, f"hybridmsg-{port}@localhost", cluster_port=free_port())
        return Backend(BackendKind.RABBITMQ, (node,))
    nodes = []
    for host in hosts:
        port = free_port(host)
        nodes.append(Node(host, port, f"hybridmsg-{port}@{host}", cluster_port=free_port(host)))
    return Backend(BackendKind.RABBITMQ, tuple(nodes), cookie=secrets.token_hex(20),
                   epmd_port=free_port())


def _new_router(kind: BackendKind, hosts: tuple[str, ...]) -> Backend:
    if kind.needs_client_certificates:
        # a client verifying a certificate by name needs a name (proton does not match IP
        # SANs): the routers share "localhost", each on ports of its own
        hosts = ("localhost",) * len(hosts)
    if len(hosts) == 1:
        return Backend(kind, (Node(hosts[0], free_port()),))
    monitor = kind is BackendKind.NATS
    return Backend(kind, tuple(
        Node(host, free_port(_bind(host)), cluster_port=free_port(_bind(host)),
             monitor_port=free_port(_bind(host)) if monitor else None)
        for host in hosts
    ))


def _bind(host: str) -> str:
    return LOOPBACK if host == "localhost" else host


@dataclass(frozen=True)
class TLSChoice:
    """TLS as asked of ``up``: off, the local CA (optionally mutual), or the deployer's
    own files (``own``)."""

    enabled: bool = True
    mutual: bool = False
    own: TLS | None = None


@dataclass(frozen=True)
class ServerStatus:
    """One server of the stack as ``status`` shows it."""

    title: str
    address: str
    carries: str
    pid: int | None
    running: bool


class Stack:
    """The local stack of one state directory."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.where = StateDir.of(state_dir)
        self.state_dir = self.where.path
        self.plan_file = self.state_dir / "plan.json"
        #: every backend this directory has run, by kind, so that a mode switch brings each
        #: back on its ports, node name and data
        self.backends_file = self.state_dir / "backends.json"
        self.services_dir = self.state_dir / "services"
        self.tls_dir = self.state_dir.absolute() / "tls"
        #: where the services of the local stack spool notifications
        self.spool_dir = f"{self.state_dir.absolute()}/spool/{{service}}"

    def load(self) -> Plan | None:
        """The stored plan, or None when nothing was deployed here."""
        data = self._read_json(self.plan_file)
        return None if data is None else plan_from_dict(data)

    def kept_backends(self) -> tuple[Backend, ...]:
        """Every backend this directory has run (the current plan's and earlier modes')."""
        data = self._read_json(self.backends_file) or []
        try:
            kept = tuple(filter(None, (backend_from_dict(backend) for backend in data)))
        except (KeyError, TypeError) as exc:
            raise PlanError(
                f"{self.backends_file} is malformed ({exc!r}); fix or remove it"
            ) from exc
        plan = self.load()
        return kept + (plan.backends if plan else ())

    def _read_json(self, path: Path):
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UsageError(f"cannot read {path} ({exc.strerror}); {OWN_STATE_DIR}") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"{path} is not JSON ({exc}); fix or remove it") from exc

    def plan(self) -> Plan:
        """The stored plan; NotDeployed when there is none."""
        plan = self.load()
        if plan is None:
            raise NotDeployed(
                f"nothing deployed in {self.state_dir}; run: {self.where.command('up')}"
            )
        return plan

    def up(
        self,
        mode: Mode | None = None,
        services: Sequence[str] | None = None,
        router: BackendKind = BackendKind.NATS,
        progress: Progress = print,
        snippet: Snippet = plain_snippet,
        tls: TLSChoice | None = None,
        readers: Sequence[ReaderRequest] | None = None,
        nodes: int | None = None,
        spool: bool | None = None,
    ) -> Plan:
        """Bring the stack to ``mode`` (default: the current one, else hybrid), with
        ``nodes`` nodes per backend (default: as before, else one).

        Servers the new plan no longer needs are stopped first, then the plan and the
        service snippets (rendered by ``snippet``) are written, then every server of the
        plan is started or, when it already runs, brought up to date. ``readers`` None
        keeps the notification readers of the current plan, ``spool`` None its choice of
        spooling notifications (services spool in the state directory's ``spool/``).
        """
        previous = self.load()
        mode = mode or (previous.mode if previous else Mode.HYBRID)
        tls_files = self._tls(tls, previous, router)
        kept = self.kept_backends()
        plan = local_plan(
            mode, services, router, previous, tls_files, readers, nodes, kept,
            spool=spool, spool_dir=self.spool_dir,
        )
        if previous:
            for old in self._servers(previous):
                if old.backend not in plan.backends and old.is_running:
                    old.stop()
                    progress(f"stopped {old.title} (not used in {mode} mode)")
        self.write(plan, snippet)
        if plan.tls is not None:
            clients = plan.service_names if plan.tls.mutual else ()
            ensure_certificates(plan.tls, self.tls_dir, certificate_hosts(plan), clients)
        for server in self._servers(plan):
            if server.is_running:
                server.refresh()
                progress(f"{server.title} on {server.address} already running (pid {server.pid})")
                continue
            progress(f"starting {server.title} on {server.address} ... ", end="", flush=True)
            started = time.monotonic()
            try:
                server.start()
            except BaseException:
                progress("failed")
                raise
            progress(f"ready in {time.monotonic() - started:.1f} s")
        return plan

    def _tls(
        self, choice: TLSChoice | None, previous: Plan | None, router: BackendKind
    ) -> TLS | None:
        """The TLS of the next plan: as chosen, else as before (a plain stack stays plain:
        turning TLS on would cut off every running service), else the local CA; mutual
        whenever the router authenticates services by certificate."""
        if choice is None:
            if previous is not None and previous.tls is None:
                return None
            if previous is not None and previous.tls is not None:
                if previous.tls.mutual or not router.needs_client_certificates:
                    return previous.tls
            choice = TLSChoice()
        if not choice.enabled:
            return None
        mutual = choice.mutual or router.needs_client_certificates
        return choice.own or local_tls(self.tls_dir, mutual)

    def down(self, progress: Progress = print) -> None:
        """Stop every server of the stored plan (found by its pid file)."""
        plan = self.load()
        if plan is None:
            progress(f"nothing deployed in {self.state_dir}")
            return
        for server in self._servers(plan):
            if server.is_running:
                pid = server.pid
                server.stop()
                progress(f"stopped {server.title} (pid {pid})")
            else:
                progress(f"{server.title} was not running")

    def status(self) -> list[ServerStatus]:
        """What each server of the stored plan (each node of a cluster) carries, where,
        and whether it runs."""
        plan = self.plan()
        traffic = (("RPC", plan.rpc_backend), ("notifications", plan.notification_backend))
        return [
            ServerStatus(
                title=node.title,
                address=node.address,
                carries=" + ".join(what for what, backend in traffic if backend == s.backend),
                pid=node.pid,
                running=node.is_running,
            )
            for s in self._servers(plan)
            for node in (s.members if isinstance(s, LocalCluster) else (s,))
        ]

    def spools(self) -> list[tuple[str, Stats]]:
        """Each service's notification spool files on this machine, with their stats."""
        plan = self.plan()
        return [
            (name, stats)
            for name in plan.service_names
            if (directory := plan.spool_directory(name))
            for stats in read_spools(Path(directory))
        ]

    def snippet_file(self, service: str) -> Path:
        return self.services_dir / f"{service}.conf"

    def read_config(self, service: str) -> ServiceConfig:
        """A service's config as written to its snippet file (what the service reads)."""
        self.plan().service(service)  # unknown service: the error lists the known ones
        return parse(service, self._snippet_text(service))

    def read_sides(self, service: str) -> list[ServiceConfig]:
        """A service's config once per RPC transport its snippet uses (two mid-migration)."""
        self.plan().service(service)
        return parse_sides(service, self._snippet_text(service))

    def read_reader_config(self, reader: str) -> ReaderConfig:
        """A notification reader's config as written to its snippet file."""
        plan = self.plan()
        plan.reader(reader)  # unknown reader: the error lists the known ones
        return parse_reader(plan, reader, self._snippet_text(reader))

    def _snippet_text(self, name: str) -> str:
        try:
            return self.snippet_file(name).read_text()
        except FileNotFoundError:
            raise NotDeployed(
                f"{self.snippet_file(name)} is missing; run: {self.where.command('up')}"
            ) from None

    def server(self, plan: Plan, backend: Backend) -> LocalServer:
        """The local server of one backend of ``plan``."""
        return local_server(plan, backend, self.state_dir / backend.kind.value)

    def _servers(self, plan: Plan) -> list[LocalServer]:
        return [self.server(plan, b) for b in plan.backends]

    def write(self, plan: Plan, snippet: Snippet = plain_snippet) -> None:
        """Store ``plan``, its backends among the kept ones, and every service and reader
        snippet (0600); drop snippets of removed services and readers."""
        kept = by_shape((*self.kept_backends(), *plan.backends))
        try:
            self.state_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
            self.services_dir.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot make the state directory {self.state_dir} ({exc.strerror}); "
                + OWN_STATE_DIR
            ) from None
        write_private(self.plan_file, json.dumps(plan.to_dict(), indent=2) + "\n")
        write_private(
            self.backends_file, json.dumps([asdict(b) for b in kept.values()], indent=2) + "\n"
        )
        for name in plan.service_names:
            write_private(self.snippet_file(name), snippet(plan, name))
        for name in plan.reader_names:
            write_private(self.snippet_file(name), render_reader(reader_config(plan, name)))
        for stale in self.services_dir.glob("*.conf"):
            if stale.stem not in (*plan.service_names, *plan.reader_names):
                stale.unlink()
