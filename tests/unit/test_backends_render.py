"""Server configuration rendering: tables of inputs and the lines they must produce."""

from __future__ import annotations

import base64
import hashlib
import json
import socket

import bcrypt
import pytest

from hybridmsg.backends.nats import (
    BCRYPT_COST,
    NatsCluster,
    NatsServerConfig,
    NatsTLS,
    NatsUser,
    hash_password,
    password_hashes,
    quote,
    render_nats_conf,
)
from hybridmsg.backends.ports import ensure_port_free
from hybridmsg.backends.rabbitmq import (
    HASHING_ALGORITHM,
    RabbitDefinitions,
    RabbitNodeConfig,
    RabbitPermission,
    RabbitTLS,
    RabbitTopicPermission,
    RabbitUser,
    render_definitions,
    render_rabbitmq_conf,
)
from hybridmsg.backends.rabbitmq import hash_password as rabbit_hash
from hybridmsg.backends.urls import transport_url
from hybridmsg.errors import PortInUse


def test_minimal_nats_conf_is_exactly_the_listener():
    assert render_nats_conf(NatsServerConfig(port=4222)) == 'host: "127.0.0.1"\nport: 4222\n'


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"monitoring_port": 8222}, ['http: "127.0.0.1:8222"']),
        ({"max_payload": 65536}, ["max_payload: 65536"]),
        ({"pid_file": "/run/n.pid"}, ['pid_file: "/run/n.pid"']),
        ({"server_name": "n1"}, ['server_name: "n1"']),
        ({"host": "127.0.0.2"}, ['host: "127.0.0.2"']),
        (
            {"users": (NatsUser("nova", 'p"w\\x$y'),)},
            [
                "authorization: {",
                "  users: [",
                '      user: "nova"',
                '      password: "p\\"w\\\\x$y"',
            ],
        ),
        (
            {
                "users": (
                    NatsUser(
                        "nova",
                        "pw",
                        publish=("openstack.nova.>",),
                        subscribe=(),
                        allow_responses=True,
                    ),
                )
            },
            [
                "      permissions: {",
                "        publish: {",
                '          allow: ["openstack.nova.>"]',
                "        subscribe: {",
                '          deny: [">"]',
                "        allow_responses: true",
            ],
        ),
        (
            {"tls": NatsTLS("/c.pem", "/k.pem", ca_file="/ca.pem", verify=True)},
            [
                "tls: {",
                '  cert_file: "/c.pem"',
                '  key_file: "/k.pem"',
                '  ca_file: "/ca.pem"',
                "  verify: true",
                '  handshake_first: "1s"',
            ],
        ),
        ({"tls": NatsTLS("/c.pem", "/k.pem", handshake_first=None)}, ["  verify: false"]),
        (
            {"cluster": NatsCluster("hm", 6222, routes=(("10.0.0.2", 6222), ("10.0.0.3", 6222)))},
            [
                "cluster: {",
                '  name: "hm"',
                '  host: "127.0.0.1"',
                "  port: 6222",
                '  routes: ["nats-route://10.0.0.2:6222", "nats-route://10.0.0.3:6222"]',
            ],
        ),
        (
            {"cluster": NatsCluster("hm", 6222, "::1", (("::2", 6222),),
                                    NatsTLS("/c.pem", "/k.pem", "/ca.pem", verify=True))},
            [
                '  routes: ["nats-route://[::2]:6222"]',
                "  tls: {",
                '    cert_file: "/c.pem"',
                "    verify: true",
                "  }",
            ],
        ),
    ],
)
def test_nats_conf_lines(config, expected):
    lines = render_nats_conf(NatsServerConfig(port=4222, **config)).splitlines()
    for line in expected:
        assert line in lines


def test_nats_password_hash_is_bcrypt_and_kept_while_the_password_is_the_same():
    hashed = hash_password("s3cret")
    assert hashed.startswith(f"$2a${BCRYPT_COST:02d}$")
    assert bcrypt.checkpw(b"s3cret", hashed.encode())
    assert hash_password("s3cret", hashed) == hashed
    assert hash_password("other", hashed) != hashed
    assert hash_password("s3cret", "s3cret") != "s3cret"  # a plain previous is not kept


def test_nats_conf_with_hashes_holds_no_password_and_reads_back():
    users = (NatsUser("nova", hash_password("s3cret")), NatsUser('gl"ance', hash_password("pw")))
    conf = render_nats_conf(NatsServerConfig(port=1, users=users))
    assert "s3cret" not in conf
    assert password_hashes(conf) == {"nova": users[0].password, 'gl"ance': users[1].password}
    plain = render_nats_conf(NatsServerConfig(port=1, users=(NatsUser("nova", "s3cret"),)))
    assert password_hashes(plain) == {}


def test_unrestricted_nats_user_has_no_permissions_block():
    conf = render_nats_conf(NatsServerConfig(port=1, users=(NatsUser("a", "b"),)))
    assert "permissions" not in conf


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "tab\there", "\x00"])
def test_nats_quote_refuses_control_characters(bad):
    with pytest.raises(ValueError, match="control character"):
        quote(bad)


def test_minimal_rabbitmq_conf():
    conf = render_rabbitmq_conf(RabbitNodeConfig(port=5700), "/d/definitions.json")
    assert conf == (
        "listeners.tcp.default = 127.0.0.1:5700\n"
        "loopback_users = none\n"
        "load_definitions = /d/definitions.json\n"
    )


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        (
            RabbitTLS("/c.pem", "/k.pem", "/ca.pem", verify=True, fail_if_no_peer_cert=True),
            [
                "listeners.tcp = none",
                "listeners.ssl.default = 127.0.0.1:5671",
                "ssl_options.certfile = /c.pem",
                "ssl_options.keyfile = /k.pem",
                "ssl_options.cacertfile = /ca.pem",
                "ssl_options.verify = verify_peer",
                "ssl_options.fail_if_no_peer_cert = true",
            ],
        ),
        (
            RabbitTLS("/c.pem", "/k.pem"),
            ["ssl_options.verify = verify_none", "ssl_options.fail_if_no_peer_cert = false"],
        ),
    ],
)
def test_rabbitmq_tls_lines(tls, expected):
    lines = render_rabbitmq_conf(RabbitNodeConfig(port=5671, tls=tls)).splitlines()
    for line in expected:
        assert line in lines
    assert not any(line.startswith("listeners.tcp.default") for line in lines)
    assert not any(line.startswith("load_definitions") for line in lines)


def test_rabbitmq_conf_message_size_limit():
    conf = render_rabbitmq_conf(RabbitNodeConfig(port=5700, max_message_size=8388608))
    assert "max_message_size = 8388608\n" in conf


def test_rabbitmq_conf_refuses_a_value_that_would_break_the_file():
    with pytest.raises(ValueError, match="rabbitmq.conf"):
        render_rabbitmq_conf(RabbitNodeConfig(), "/d/x\nloopback_users = guest")


def test_rabbitmq_nodename_is_local():
    assert RabbitNodeConfig(name="hybridmsg-a").nodename == "hybridmsg-a@localhost"


def test_password_hash_matches_rabbitmq_documentation_example():
    salt = bytes.fromhex("908DC60A")
    assert rabbit_hash("test12", salt) == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"


@pytest.mark.parametrize("password", ["s3cret", "", "pässwörd", "x" * 200])
def test_password_hash_recomputes_from_its_salt(password):
    raw = base64.b64decode(rabbit_hash(password))
    salt, digest = raw[:4], raw[4:]
    assert digest == hashlib.sha256(salt + password.encode()).digest()
    assert rabbit_hash(password) != rabbit_hash(password)  # fresh salt each time


def test_definitions_for_accounts():
    defs = RabbitDefinitions.for_accounts([("nova", "pw1", "nova"), ("nova-api", "pw2", "nova")])
    document = json.loads(render_definitions(defs))
    assert [u["name"] for u in document["users"]] == ["nova", "nova-api"]
    assert {u["hashing_algorithm"] for u in document["users"]} == {HASHING_ALGORITHM}
    assert document["vhosts"] == [{"name": "nova"}]
    assert document["permissions"][1] == {
        "user": "nova-api",
        "vhost": "nova",
        "configure": ".*",
        "write": ".*",
        "read": ".*",
    }
    assert "pw1" not in render_definitions(defs)


def test_definitions_render_topic_permissions():
    defs = RabbitDefinitions(
        topic_permissions=(RabbitTopicPermission("t", "nova", "openstack", "^$", "^n\\.info$"),)
    )
    document = json.loads(render_definitions(defs))
    assert document["topic_permissions"] == [
        {"user": "t", "vhost": "nova", "exchange": "openstack", "write": "^$", "read": "^n\\.info$"}
    ]
    assert json.loads(render_definitions(RabbitDefinitions()))["topic_permissions"] == []


def test_definitions_render_tags_and_restricted_permissions():
    defs = RabbitDefinitions(
        users=(RabbitUser("admin", "HASH", ("administrator", "monitoring")),),
        permissions=(RabbitPermission("admin", "/", configure="", write="^amq\\.", read=".*"),),
    )
    document = json.loads(render_definitions(defs))
    assert document["users"][0]["tags"] == ["administrator", "monitoring"]
    assert document["users"][0]["password_hash"] == "HASH"
    assert document["permissions"][0]["write"] == "^amq\\."


@pytest.mark.parametrize(
    ("args", "url"),
    [
        (
            ("rabbit", "127.0.0.1", 5672, "nova", "pw", "nova"),
            "rabbit://nova:pw@127.0.0.1:5672/nova",
        ),
        (("nats", "127.0.0.1", 4222, "u", "p@ss:/w", ""), "nats://u:p%40ss%3A%2Fw@127.0.0.1:4222/"),
        (("rabbit", "h", 1, "u", "p", "/"), "rabbit://u:p@h:1/%2F"),
    ],
)
def test_transport_url_quotes_every_part(args, url):
    assert transport_url(*args) == url


def test_port_in_use_says_which_port_and_what_to_do():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse) as err:
            ensure_port_free(port, "RabbitMQ AMQP", "choose another with --rabbit-port or stop it")
    assert str(err.value) == (
        f"port {port} (RabbitMQ AMQP) on 127.0.0.1 is in use by another program; "
        "choose another with --rabbit-port or stop it"
    )
