"""qdrouterd as hybridmsg renders it: TLS only, services authenticated by client
certificate (SASL EXTERNAL), and one vhost policy per service keeping each to its own
addresses. Each refusal is observed as the router's answer, never guessed from a timeout.
"""

from __future__ import annotations

import os
import time

import oslo_messaging as om
import pytest
from oslo_config import cfg
from oslo_messaging import transport as oslo_transport

from hybridmsg.backends.ports import free_port
from hybridmsg.backends.qdrouterd import (
    QdrConnector,
    QdrListener,
    Qdrouterd,
    QdrouterdConfig,
    QdrSslProfile,
    QdrVhost,
    vhost_patterns,
)
from hybridmsg.certs import LocalCA, default_hosts, key_file_of
from hybridmsg.drivers.amqp1 import opts
from hybridmsg.drivers.amqp1.addressing import AmqpAddressing
from hybridmsg.drivers.amqp1.settings import settings_from
from hybridmsg.drivers.amqp1.wire import AmqpLink
from tests.integration.conftest import needs_qdrouterd
from tests.integration.oslo_peer import Recorder, rpc_servers, rpc_transport

pytestmark = needs_qdrouterd
SERVICES = ("nova", "glance")


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A router with a TLS-only EXTERNAL listener and a vhost policy per service."""
    base = tmp_path_factory.mktemp("qdr-sec")
    ca = LocalCA.ensure(base / "ca")
    server = ca.issue(base / "router.pem", "router", default_hosts())
    for name in (*SERVICES, "intruder"):
        ca.issue(base / f"{name}.pem", name)
    other_ca = LocalCA.ensure(base / "other-ca")
    other_ca.issue(base / "forged-nova.pem", "nova")
    port = free_port()
    router = Qdrouterd(
        QdrouterdConfig(
            "sec",
            (QdrListener(port, authenticate_peer=True, sasl_mechanisms="EXTERNAL",
                         ssl_profile="tls", require_ssl=True),),
            ssl_profiles=(QdrSslProfile("tls", str(ca.ca_file), str(server),
                                        str(key_file_of(server)), uid_format="n"),),
            vhosts=tuple(QdrVhost(s, (s,), vhost_patterns(s)) for s in SERVICES),
        ),
        base / "router",
    )
    router.start()
    yield base, ca, router
    router.stop()


def url(secured, cert: str, vhost: str, ssl: bool = True) -> str:
    base, ca, router = secured
    pem = base / f"{cert}.pem"
    tls = f"?ssl=1&ssl_ca_file={ca.ca_file}&ssl_cert_file={pem}&ssl_key_file={key_file_of(pem)}"
    return f"amqp://localhost:{router.port}/{vhost}{tls if ssl else ''}"


def test_a_service_works_on_its_own_vhost(secured):
    with rpc_transport(url(secured, "nova", "nova")) as transport, rpc_servers(
        transport, [om.Target(topic="t", server="a")], [Recorder("a")]
    ):
        rpc = om.get_rpc_client(transport, om.Target(topic="t"), timeout=10)
        assert rpc.call({}, "echo", value=1)["server"] == "a"
    assert secured[2].warnings() == []


@pytest.mark.parametrize(
    ("cert", "vhost", "ssl", "refusal"),
    [
        ("glance", "nova", True, "refused the connection by policy"),
        ("intruder", "intruder", True, "refused the connection by policy"),
        ("forged-nova", "nova", True, "TLS handshake"),
        ("nova", "nova", False, "refused the credentials"),
    ],
    ids=["other-service-vhost", "unknown-user", "untrusted-ca", "plaintext"],
)
def test_connections_the_router_refuses(secured, cert, vhost, ssl, refusal):
    """Each refusal is the router's own answer, reported in one line at once."""
    transport = om.get_rpc_transport(cfg.CONF, url=url(secured, cert, vhost, ssl))
    try:
        rpc = om.get_rpc_client(transport, om.Target(topic="t"), timeout=5)
        with pytest.raises(om.MessagingException, match=refusal) as err:
            rpc.call({}, "echo", value=1)
        assert "\n" not in str(err.value)
    finally:
        transport.cleanup()


def _link(secured, cert: str, vhost: str) -> AmqpLink:
    cfg.CONF.register_opts(opts.OPTS, group=opts.GROUP)
    parsed = oslo_transport.TransportURL.parse(cfg.CONF, url(secured, cert, vhost))
    link = AmqpLink(settings_from(parsed, cfg.CONF[opts.GROUP]), lambda body: None)
    link.start().result(10)
    return link


def test_policy_keeps_a_service_out_of_another_services_addresses(secured):
    """glance, authenticated on its own vhost, cannot listen on or send to nova's topics."""
    nova_anycast = AmqpAddressing("nova").anycast("openstack", "compute")
    link = _link(secured, "glance", "glance")
    try:
        with pytest.raises(om.MessagingException, match="refused a link"):
            link.subscribe(nova_anycast, None, lambda body, reply_to: None)
        sent = link.publish(nova_anycast, b"{}")
        with pytest.raises(om.MessageDeliveryFailure, match="refused sending"):
            sent.result(10)
        own = AmqpAddressing("glance").anycast("openstack", "compute")
        assert link.subscribe(own, None, lambda body, reply_to: None)
    finally:
        link.close()
    log = secured[2].log_file.read_text()
    assert "DENY" in log and "nova" in log


def test_plaintext_listener_is_absent(secured):
    """Only the TLS listener exists: the config has no plain or anonymous listener."""
    text = secured[2].conf_file.read_text()
    assert "ANONYMOUS" not in text and "requireSsl: yes" in text
    assert oct(os.stat(secured[2].conf_file).st_mode & 0o777) == "0o600"


def test_two_router_mesh_over_mutual_tls(secured, tmp_path):
    """Interior routers joined by an inter-router link that is TLS both ways (each router
    presents the server certificate and verifies the other's); services on either side."""
    base, ca, _ = secured
    cert = base / "router.pem"
    profile = QdrSslProfile("tls", str(ca.ca_file), str(cert), str(key_file_of(cert)), "n")
    vhosts = tuple(QdrVhost(s, (s,), vhost_patterns(s)) for s in SERVICES)
    service_listener = {"authenticate_peer": True, "sasl_mechanisms": "EXTERNAL",
                        "ssl_profile": "tls", "require_ssl": True}
    mesh_port = free_port()
    a = Qdrouterd(QdrouterdConfig(
        "a", (QdrListener(free_port(), **service_listener),
              QdrListener(mesh_port, role="inter-router", **service_listener)),
        mode="interior", ssl_profiles=(profile,), vhosts=vhosts), tmp_path / "a")
    b = Qdrouterd(QdrouterdConfig(
        "b", (QdrListener(free_port(), **service_listener),), mode="interior",
        connectors=(QdrConnector("localhost", mesh_port, ssl_profile="tls",
                                 sasl_mechanisms="EXTERNAL"),),
        ssl_profiles=(profile,), vhosts=vhosts), tmp_path / "b")
    with a, b:
        on_a = url(secured, "nova", "nova").replace(str(secured[2].port), str(a.port))
        on_b = url(secured, "nova", "nova").replace(str(secured[2].port), str(b.port))
        with rpc_transport(on_b) as server_side, rpc_servers(
            server_side, [om.Target(topic="t", server="b1")], [Recorder("b1")]
        ), rpc_transport(on_a) as client_side:
            rpc = om.get_rpc_client(client_side, om.Target(topic="t"), timeout=2)
            deadline = time.monotonic() + 20
            while True:  # the routers learn each other's addresses
                try:
                    assert rpc.call({}, "echo", value="x")["server"] == "b1"
                    break
                except om.MessagingTimeout:
                    assert time.monotonic() < deadline, "the TLS mesh never routed the call"
        mesh_links = [line for line in a.log_file.read_text().splitlines()
                      if "Connection Opened" in line and "container_id=b " in line]
        assert mesh_links and all("encrypted=TLS" in line and "auth=EXTERNAL user=router"
                                  in line for line in mesh_links)
        assert a.warnings() == [] and b.warnings() == []
