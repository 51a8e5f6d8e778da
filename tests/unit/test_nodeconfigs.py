"""The pure step from a plan to every node's files: clusters of N nodes, from tables."""

import json

import pytest

from hybridmsg.backends.rabbitmq import rabbit_environment
from hybridmsg.errors import PlanError
from hybridmsg.nodeconfigs import (
    certificate_hosts,
    nats_configs,
    node_files,
    qdrouterd_configs,
    rabbit_configs,
)
from hybridmsg.plan import TLS, Backend, BackendKind, Mode, Node, Plan, Service
from hybridmsg.services import on_node, service_config

HOSTS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
TLS_FILES = TLS("/tls/ca.pem", "/tls/server.pem", "/tls/server-key.pem")
MUTUAL = TLS("/tls/ca.pem", "/tls/server.pem", "/tls/server-key.pem", client_dir="/tls/c")
NOVA = Service("nova", "nova", "nova", "s3cret")
GLANCE = Service("glance", "glance", "glance", "pw")


def rabbit(hosts=HOSTS) -> Backend:
    nodes = tuple(Node(h, 5671, f"rabbit@{h}", cluster_port=25672) for h in hosts)
    return Backend(BackendKind.RABBITMQ, nodes, cookie="c00kie" * 4, epmd_port=4369)


def router(kind=BackendKind.NATS, hosts=HOSTS) -> Backend:
    return Backend(kind, tuple(Node(h, 4222, cluster_port=6222, monitor_port=8222) for h in hosts))


def plan(mode=Mode.HYBRID, tls=TLS_FILES, rabbitmq=None, router_backend=None) -> Plan:
    return Plan(
        mode=mode,
        services=(NOVA, GLANCE),
        rabbitmq=rabbitmq if rabbitmq is not None else (rabbit() if mode.needs_rabbitmq else None),
        router=router_backend if router_backend is not None
        else (router() if mode.needs_router else None),
        tls=tls,
    )


def test_each_nats_node_routes_to_the_others_over_verified_tls():
    configs = nats_configs(plan(), router())
    assert [c.host for c in configs] == list(HOSTS)
    for cfg, host in zip(configs, HOSTS, strict=True):
        assert cfg.cluster is not None
        assert (cfg.cluster.host, cfg.cluster.port, cfg.cluster.name) == (host, 6222, "hybridmsg")
        assert cfg.cluster.routes == tuple((h, 6222) for h in HOSTS if h != host)
        assert cfg.cluster.tls is not None and cfg.cluster.tls.verify
        assert cfg.cluster.tls.cert_file == TLS_FILES.cert_file
        assert cfg.monitoring_port == 8222
        assert cfg.server_name == f"{host}:4222"
    # the same users and permissions everywhere
    assert len({cfg.users for cfg in configs}) == 1
    assert {u.name: u.publish for u in configs[0].users} == {
        "nova": ("openstack.nova.>",), "glance": ("openstack.glance.>",)
    }


@pytest.mark.parametrize(
    ("tls", "client_verify", "routes_tls"), [(None, None, False), (TLS_FILES, False, True),
                                             (MUTUAL, True, True)]
)
def test_nats_tls_for_clients_and_routes(tls, client_verify, routes_tls):
    cfg = nats_configs(plan(tls=tls), router())[0]
    assert (cfg.tls.verify if cfg.tls else None) == client_verify
    assert cfg.cluster is not None and (cfg.cluster.tls is not None) == routes_tls


def test_a_single_nats_node_has_no_cluster_block():
    single = Backend(BackendKind.NATS, (Node("127.0.0.1", 4222),))
    (cfg,) = nats_configs(plan(router_backend=single), single)
    assert cfg.cluster is None and cfg.server_name is None and cfg.monitoring_port is None


def test_nats_hashes_are_kept_and_hold_no_password():
    first = nats_configs(plan(), router())
    hashes = {u.name: u.password for u in first[0].users}
    again = nats_configs(plan(), router(), hashes)
    assert {u.name: u.password for u in again[1].users} == hashes
    assert "s3cret" not in json.dumps([u.password for u in first[0].users])


def test_rabbit_nodes_name_every_peer_and_share_the_cookie():
    configs = rabbit_configs(plan(), rabbit())
    peers = tuple(f"rabbit@{h}" for h in HOSTS)
    for cfg, host in zip(configs, HOSTS, strict=True):
        assert (cfg.nodename, cfg.host, cfg.peers, cfg.cookie) == (
            f"rabbit@{host}", host, peers, "c00kie" * 4)
        assert cfg.long_names
        env = rabbit_environment(cfg)
        assert env["RABBITMQ_NODENAME"] == f"rabbit@{host}"
        assert env["RABBITMQ_USE_LONGNAME"] == "true"
        assert env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] == (
            "-kernel inet_dist_use_interface {" + host.replace(".", ",") + "}")
        assert env["ERL_EPMD_PORT"] == "4369"


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (Node("h", 1, "", cluster_port=2), "needs a node name NAME@HOST"),
        (Node("h", 1, "rabbit", cluster_port=2), "needs a node name NAME@HOST"),
        (Node("h", 1, "rabbit@h"), "and a cluster port"),
    ],
)
def test_bad_rabbit_node_is_a_plan_error(node, message):
    backend = Backend(BackendKind.RABBITMQ, (node,))
    with pytest.raises(PlanError, match=message):
        rabbit_configs(plan(rabbitmq=backend), backend)


@pytest.mark.parametrize(
    ("kind", "nodes", "message"),
    [
        (BackendKind.NATS, (Node("a", 1), Node("b", 1)), "nats node a:1 has no cluster port"),
        (
            BackendKind.QDROUTERD,
            (Node("a", 1, cluster_port=2), Node("b", 1)),
            "qdrouterd node b:1 has no cluster port",
        ),
        (
            BackendKind.RABBITMQ,
            (Node("a", 1, "r@a", 2), Node("b", 1, "r@b", 2)),
            "a RabbitMQ cluster needs an Erlang cookie",
        ),
    ],
)
def test_a_cluster_without_what_it_needs_is_refused(kind, nodes, message):
    backend = Backend(kind, nodes)
    if kind is BackendKind.RABBITMQ:
        broken = plan(Mode.RABBIT, MUTUAL, rabbitmq=backend)
    else:
        broken = plan(Mode.ROUTER, MUTUAL, router_backend=backend)
    with pytest.raises(PlanError, match=message):
        node_files(broken)


def test_rabbit_cluster_files():
    files = [f for f in node_files(plan(), "/etc/hm") if f.kind is BackendKind.RABBITMQ]
    assert [f.node.host for f in files] == list(HOSTS)
    first, second = files[0], files[1]
    conf = first.files["rabbitmq.conf"].splitlines()
    for line in (
        "cluster_partition_handling = pause_minority",
        "cluster_formation.peer_discovery_backend = classic_config",
        "cluster_formation.classic_config.nodes.1 = rabbit@10.0.0.1",
        "cluster_formation.classic_config.nodes.3 = rabbit@10.0.0.3",
        "cluster_name = hybridmsg",
        "listeners.ssl.default = 10.0.0.1:5671",
        "load_definitions = /etc/hm/rabbitmq/definitions.json",
    ):
        assert line in conf
    # users, vhosts and permissions are created once, for the cluster
    definitions = json.loads(first.files["definitions.json"])
    assert sorted(v["name"] for v in definitions["vhosts"]) == ["glance", "nova"]
    assert "definitions.json" not in second.files
    assert "load_definitions" not in second.files["rabbitmq.conf"]
    assert "listeners.ssl.default = 10.0.0.2:5671" in second.files["rabbitmq.conf"]
    assert {f.files[".erlang.cookie"] for f in files} == {"c00kie" * 4}
    assert "s3cret" not in json.dumps([f.files for f in files])  # hashes only
    assert second.environment["RABBITMQ_NODENAME"] == "rabbit@10.0.0.2"


def test_single_rabbit_node_is_no_cluster():
    single = Backend(BackendKind.RABBITMQ, (Node("127.0.0.1", 5671, "r@localhost", 25672),))
    (files,) = node_files(plan(Mode.RABBIT, rabbitmq=single))
    assert "cluster" not in files.files["rabbitmq.conf"]
    assert "RABBITMQ_USE_LONGNAME" not in files.environment
    assert ".erlang.cookie" not in files.files


def test_nats_files_and_certificate_hosts():
    files = [f for f in node_files(plan()) if f.kind is BackendKind.NATS]
    assert len(files) == 3
    text = files[1].files["nats-server.conf"]
    assert '"nats-route://10.0.0.1:6222", "nats-route://10.0.0.3:6222"' in text
    assert 'http: "10.0.0.2:8222"' in text
    assert files[1].certificate_hosts == ("10.0.0.2",)
    assert certificate_hosts(plan()) == HOSTS


def test_qdrouterd_mesh_connects_every_pair_once_over_mutual_tls():
    backend = router(BackendKind.QDROUTERD)
    configs = qdrouterd_configs(plan(tls=MUTUAL, router_backend=backend), backend)
    assert [c.router_id for c in configs] == ["hybridmsg-1", "hybridmsg-2", "hybridmsg-3"]
    assert {c.mode for c in configs} == {"interior"}
    pairs = {
        frozenset((cfg.router_id, f"hybridmsg-{HOSTS.index(con.host) + 1}"))
        for cfg in configs for con in cfg.connectors
    }
    assert len(pairs) == 3 == sum(len(c.connectors) for c in configs)
    for cfg in configs:
        mesh = [lst for lst in cfg.listeners if lst.role == "inter-router"]
        assert len(mesh) == 1 and mesh[0].port == 6222 and mesh[0].require_ssl
        assert all(con.ssl_profile == "tls" and con.sasl_mechanisms == "EXTERNAL"
                   for con in cfg.connectors)
        assert [v.hostname for v in cfg.vhosts] == ["nova", "glance"]


def test_single_qdrouterd_is_standalone_on_loopback():
    backend = Backend(BackendKind.QDROUTERD, (Node("localhost", 5671),))
    (cfg,) = qdrouterd_configs(plan(tls=MUTUAL, router_backend=backend), backend)
    assert cfg.mode == "standalone" and cfg.connectors == ()
    assert [(lst.host, lst.port) for lst in cfg.listeners] == [("127.0.0.1", 5671)]


def test_service_urls_list_every_node_and_on_node_narrows_them():
    config = service_config(plan(), "nova")
    assert config.rpc_url == (
        "nats://nova:s3cret@10.0.0.1:4222,nova:s3cret@10.0.0.2:4222,nova:s3cret@10.0.0.3:4222/nova"
    )
    assert ("oslo_messaging_rabbit", "rabbit_quorum_queue", "true") in config.options
    second = on_node(config, 1)
    assert second.service == "nova @10.0.0.2:4222"
    assert second.rpc_url == "nats://nova:s3cret@10.0.0.2:4222/nova"
    assert second.notification_url == "rabbit-once://nova:s3cret@10.0.0.2:5671/nova"
