"""The one pure step from a plan to its servers' files: plan in, every node's configuration
out, no I/O.

For each backend of a plan, one configuration per node (frozen dataclasses the backends'
renderers turn into text): :func:`nats_configs`, :func:`rabbit_configs` (with
:func:`rabbit_definitions`, the users, vhosts and permissions created once for the
cluster) and :func:`qdrouterd_configs`. Several nodes make a cluster with the engines' own
clustering: NATS routes from every node to the others (TLS both ways when the plan has
TLS), a RabbitMQ cluster that forms itself on first boot (``classic_config`` peer
discovery, ``pause_minority``), a qdrouterd interior mesh with every pair of routers
connected once, over mutual TLS. Every node has the same users and permissions.

:func:`node_files` is the same as text: for every node of every backend the files it needs
(name -> text), the environment its server runs with, and the hosts its server
certificate must name. The local stack (:mod:`hybridmsg.localservers`) runs these
configurations on this machine; a deployment tool writes :func:`node_files` to real hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hybridmsg.backends import MAX_MESSAGE_SIZE
from hybridmsg.backends.nats import (
    NatsCluster,
    NatsServerConfig,
    NatsTLS,
    NatsUser,
    hash_password,
    render_nats_conf,
)
from hybridmsg.backends.ports import LOOPBACK
from hybridmsg.backends.qdrouterd import (
    QdrConnector,
    QdrListener,
    QdrouterdConfig,
    QdrSslProfile,
    QdrVhost,
    render_qdrouterd_conf,
    vhost_patterns,
)
from hybridmsg.backends.rabbitmq import (
    RabbitDefinitions,
    RabbitNodeConfig,
    RabbitTLS,
    RabbitUser,
    rabbit_environment,
    render_definitions,
    render_rabbitmq_conf,
)
from hybridmsg.drivers.nats.addressing import NatsAddressing
from hybridmsg.errors import PlanError
from hybridmsg.plan import Backend, BackendKind, Node, Plan
from hybridmsg.readers import rabbit_reader_permissions

#: the name of every cluster the plan makes (NATS cluster, RabbitMQ cluster_name)
CLUSTER_NAME = "hybridmsg"
#: qdrouterd's ssl profile for every listener and connector
QDR_PROFILE = "tls"
DEFINITIONS = "definitions.json"
COOKIE = ".erlang.cookie"


def _cluster_ports(backend: Backend) -> dict[Node, int]:
    """Each node's cluster port; PlanError when a node of a cluster has none."""
    ports = {}
    for node in backend.nodes:
        if node.cluster_port is None:
            if backend.clustered:
                raise PlanError(
                    f"{backend.kind} node {node.address} has no cluster port; a cluster needs "
                    "one on every node"
                )
            continue
        ports[node] = node.cluster_port
    return ports


def certificate_hosts(plan: Plan) -> tuple[str, ...]:
    """Every host the servers' certificate must name: each node of each backend."""
    return tuple(dict.fromkeys(node.host for b in plan.backends for node in b.nodes))


def nats_configs(
    plan: Plan, backend: Backend, hashes: Mapping[str, str] | None = None
) -> tuple[NatsServerConfig, ...]:
    """One nats-server config per node: each service's user may use only its own vhost's
    subjects. Passwords are bcrypt hashes; ``hashes`` (user -> hash, e.g. read back from
    a running node's config) are kept while the password is the same."""
    hashes = hashes or {}
    users = tuple(
        NatsUser(
            s.user,
            hash_password(s.password, hashes.get(s.user)),
            publish=(space,),
            subscribe=(space,),
        )
        for s in plan.services
        for space in (NatsAddressing(vhost=s.vhost).namespace(),)
    )
    cluster_ports = _cluster_ports(backend)
    tls = routes_tls = None
    if plan.tls is not None:
        files = (plan.tls.cert_file, plan.tls.key_file, plan.tls.ca_file)
        tls = NatsTLS(*files, verify=plan.tls.mutual)
        routes_tls = NatsTLS(*files, verify=True)
    return tuple(
        NatsServerConfig(
            port=node.port,
            host=node.host,
            monitoring_port=node.monitor_port,
            server_name=node.address if backend.clustered else None,
            users=users,
            tls=tls,
            max_payload=MAX_MESSAGE_SIZE,
            cluster=_nats_cluster(cluster_ports, node, routes_tls) if backend.clustered else None,
        )
        for node in backend.nodes
    )


def _nats_cluster(ports: dict[Node, int], node: Node, tls: NatsTLS | None) -> NatsCluster:
    routes = tuple((other.host, port) for other, port in ports.items() if other != node)
    return NatsCluster(CLUSTER_NAME, ports[node], node.host, routes, tls)


def rabbit_configs(plan: Plan, backend: Backend) -> tuple[RabbitNodeConfig, ...]:
    """One RabbitMQ node config per node; in a cluster each names its peers."""
    peers = tuple(node.name for node in backend.nodes) if backend.clustered else ()
    if peers and not backend.cookie:
        raise PlanError("a RabbitMQ cluster needs an Erlang cookie shared by its nodes; set one")
    tls = plan.tls
    rabbit_tls = None
    if tls is not None:
        rabbit_tls = RabbitTLS(tls.cert_file, tls.key_file, tls.ca_file, tls.mutual, tls.mutual)
    configs = []
    for node in backend.nodes:
        name, _, node_host = node.name.partition("@")
        if not name or not node_host or node.cluster_port is None:
            raise PlanError(
                f"RabbitMQ node {node.address} needs a node name NAME@HOST and a cluster "
                f"port, not {node.name!r} / {node.cluster_port}; fix the plan"
            )
        configs.append(
            RabbitNodeConfig(
                name=name,
                port=node.port,
                dist_port=node.cluster_port,
                host=node.host,
                tls=rabbit_tls,
                max_message_size=MAX_MESSAGE_SIZE,
                node_host=node_host,
                peers=peers,
                epmd_port=backend.epmd_port,
                cookie=backend.cookie,
            )
        )
    return tuple(configs)


def rabbit_definitions(plan: Plan) -> RabbitDefinitions:
    """The plan's users, vhosts and permissions on RabbitMQ: services, then readers."""
    services = RabbitDefinitions.for_accounts((s.user, s.password, s.vhost) for s in plan.services)
    permissions, topic_permissions = [], []
    for reader in plan.readers:
        allowed, topics = rabbit_reader_permissions(plan, reader)
        permissions += allowed
        topic_permissions += topics
    readers = tuple(RabbitUser.with_password(r.user, r.password) for r in plan.readers)
    return RabbitDefinitions(
        users=services.users + readers,
        vhosts=services.vhosts,
        permissions=services.permissions + tuple(permissions),
        topic_permissions=tuple(topic_permissions),
    )


def qdrouterd_configs(plan: Plan, backend: Backend) -> tuple[QdrouterdConfig, ...]:
    """One qdrouterd config per node of ``backend``: services authenticate by client
    certificate (SASL EXTERNAL) and a vhost policy keeps each to its own addresses. Several
    nodes make an interior mesh: every router listens for the others on its cluster port
    and connects to each router before it, so every pair is connected once."""
    tls = plan.tls
    assert tls is not None and tls.mutual  # Plan validation guarantees it
    secured = {"authenticate_peer": True, "sasl_mechanisms": "EXTERNAL",
               "ssl_profile": QDR_PROFILE, "require_ssl": True}
    profile = QdrSslProfile(QDR_PROFILE, tls.ca_file, tls.cert_file, tls.key_file, uid_format="n")
    vhosts = tuple(QdrVhost(s.vhost, (s.name,), vhost_patterns(s.vhost)) for s in plan.services)
    if not backend.clustered:
        node = backend.nodes[0]
        listener = QdrListener(node.port, host=_listen_host(node), **secured)
        return (QdrouterdConfig("hybridmsg", (listener,), ssl_profiles=(profile,), vhosts=vhosts),)
    ports = _cluster_ports(backend)
    configs = []
    for number, node in enumerate(backend.nodes):
        host = _listen_host(node)
        listeners = (
            QdrListener(node.port, host=host, **secured),
            QdrListener(ports[node], host=host, role="inter-router", **secured),
        )
        connectors = tuple(
            QdrConnector(other.host, ports[other], ssl_profile=QDR_PROFILE,
                         sasl_mechanisms="EXTERNAL")
            for other in backend.nodes[:number]
        )
        configs.append(QdrouterdConfig(
            f"hybridmsg-{number + 1}", listeners, mode="interior", connectors=connectors,
            ssl_profiles=(profile,), vhosts=vhosts,
        ))
    return tuple(configs)


def _listen_host(node: Node) -> str:
    # "localhost" names the loopback router for the certificate check (proton matches no
    # IP addresses); it listens on IPv4 loopback only
    return LOOPBACK if node.host == "localhost" else node.host


@dataclass(frozen=True)
class NodeFiles:
    """What one node of a backend needs on its host: ``files`` (file name -> text, in the
    backend's config directory; secrets among them, so write them 0600), the
    ``environment`` its server (and its admin tool) runs with, and the hosts its server
    certificate must name."""

    kind: BackendKind
    node: Node
    files: Mapping[str, str] = field(repr=False)
    environment: Mapping[str, str] = field(default_factory=dict)
    certificate_hosts: tuple[str, ...] = ()


def node_files(
    plan: Plan, config_dir: str = "/etc/hybridmsg", hashes: Mapping[str, str] | None = None
) -> tuple[NodeFiles, ...]:
    """Every node's files, each backend's in ``config_dir/KIND`` on its node's host;
    ``hashes`` as for :func:`nats_configs`."""
    result: list[NodeFiles] = []
    for backend in plan.backends:
        directory = f"{config_dir}/{backend.kind.value}"
        if backend.kind is BackendKind.RABBITMQ:
            definitions = render_definitions(rabbit_definitions(plan))
            for number, cfg in enumerate(rabbit_configs(plan, backend)):
                first = number == 0  # users and vhosts are created once, for the cluster
                files = {"rabbitmq.conf": render_rabbitmq_conf(
                    cfg, f"{directory}/{DEFINITIONS}" if first else None)}
                if first:
                    files[DEFINITIONS] = definitions
                if cfg.cookie:
                    files[COOKIE] = cfg.cookie
                result.append(_files(backend, number, files, rabbit_environment(cfg)))
        elif backend.kind is BackendKind.NATS:
            for number, nats in enumerate(nats_configs(plan, backend, hashes)):
                result.append(_files(backend, number, {"nats-server.conf": render_nats_conf(nats)}))
        else:
            for number, router in enumerate(qdrouterd_configs(plan, backend)):
                text = render_qdrouterd_conf(router)
                result.append(_files(backend, number, {"qdrouterd.conf": text}))
    return tuple(result)


def _files(
    backend: Backend, number: int, files: dict[str, str], env: Mapping[str, str] | None = None
) -> NodeFiles:
    node = backend.nodes[number]
    return NodeFiles(backend.kind, node, files, dict(env or {}), (node.host,))
