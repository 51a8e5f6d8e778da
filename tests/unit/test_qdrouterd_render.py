"""qdrouterd.conf rendering: entities, distribution patterns, quoting."""

import pytest

from hybridmsg.backends.qdrouterd import (
    QdrConnector,
    QdrListener,
    QdrouterdConfig,
    QdrSslProfile,
    QdrVhost,
    oslo_addresses,
    render_qdrouterd_conf,
    vhost_patterns,
)


def test_oslo_distribution_patterns():
    patterns = {a.prefix: a.distribution for a in oslo_addresses()}
    assert patterns == {
        "openstack.org/om/rpc/multicast": "multicast",
        "openstack.org/om/rpc/unicast": "closest",
        "openstack.org/om/rpc/anycast": "balanced",
        "openstack.org/om/notify/multicast": "multicast",
        "openstack.org/om/notify/unicast": "closest",
        "openstack.org/om/notify/anycast": "balanced",
    }


def test_standalone_router():
    text = render_qdrouterd_conf(QdrouterdConfig("r1", (QdrListener(5672),), log_file="/l"))
    assert "router {\n    mode: standalone\n    id: r1\n    workerThreads: 2\n}\n" in text
    assert ("listener {\n    host: 127.0.0.1\n    port: 5672\n    role: normal\n"
            "    authenticatePeer: no\n    saslMechanisms: ANONYMOUS\n}\n") in text
    assert "    prefix: openstack.org/om/rpc/anycast\n    distribution: balanced\n" in text
    assert "outputFile: /l" in text


def test_interior_mesh_member_with_tls():
    cfg = QdrouterdConfig(
        "r2",
        (QdrListener(5672, ssl_profile="tls", require_ssl=True, authenticate_peer=True,
                     sasl_mechanisms="EXTERNAL"),
         QdrListener(5673, role="inter-router", ssl_profile="tls")),
        mode="interior",
        connectors=(QdrConnector("10.0.0.1", 5673, ssl_profile="tls"),),
        ssl_profiles=(QdrSslProfile("tls", "/ca.pem", "/r2.pem", "/r2.key", "n"),),
    )
    text = render_qdrouterd_conf(cfg)
    assert "mode: interior" in text
    assert ("sslProfile {\n    name: tls\n    caCertFile: /ca.pem\n    certFile: /r2.pem\n"
            "    privateKeyFile: /r2.key\n    uidFormat: n\n}\n") in text
    assert "requireSsl: yes" in text and "authenticatePeer: yes" in text
    assert "connector {\n    host: 10.0.0.1\n    port: 5673\n    role: inter-router\n" in text


def test_values_that_need_quotes_and_bad_values():
    cfg = QdrouterdConfig("r 1", (QdrListener(1, sasl_mechanisms="PLAIN EXTERNAL"),))
    text = render_qdrouterd_conf(cfg)
    assert 'id: "r 1"' in text and 'saslMechanisms: "PLAIN EXTERNAL"' in text
    with pytest.raises(ValueError, match="not allowed"):
        render_qdrouterd_conf(QdrouterdConfig('r"1', (QdrListener(1),)))


def test_vhost_policies_render_groups_as_json_and_refuse_unknown_vhosts():
    cfg = QdrouterdConfig(
        "r1", (QdrListener(1),), vhosts=(QdrVhost("nova", ("nova",), vhost_patterns("nova")),)
    )
    text = render_qdrouterd_conf(cfg)
    assert "policy {\n    enableVhostPolicy: yes\n    enableVhostNamePatterns: no\n}\n" in text
    assert "    hostname: nova\n    maxConnections: 1000\n    allowUnknownUser: no\n" in text
    block = text[text.index("    groups: {"):]
    assert '        "services": {\n            "users": "nova",' in block
    assert '"sourcePattern": "openstack.org/om/rpc/*/nova/#, openstack.org/om/notify/*/nova/#' \
        in block
    assert "$default" not in text  # no fallback vhost: other hostnames are refused
