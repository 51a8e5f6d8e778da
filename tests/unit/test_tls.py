"""TLS without servers: the local CA, the plan's TLS, snippet options, ``up`` flags."""

import argparse
import ipaddress
import stat

import pytest
from cryptography import x509

from hybridmsg import certs
from hybridmsg.certs import LocalCA, ensure_certificates, key_file_of, local_tls
from hybridmsg.commands.up import tls_choice
from hybridmsg.errors import PlanError, UsageError
from hybridmsg.plan import TLS, Backend, BackendKind, Mode, Node, Plan, Service
from hybridmsg.services import parse, render, service_config
from hybridmsg.stack import Stack, TLSChoice

RABBIT = Backend(BackendKind.RABBITMQ, (Node("127.0.0.1", 5671, "hybridmsg@localhost"),))
NATS = Backend(BackendKind.NATS, (Node("127.0.0.1", 4223),))
NOVA = Service("nova", "nova", "nova", "s3cret")


def test_local_ca_issues_server_and_client_certificates_with_private_keys(tmp_path):
    tls = local_tls(tmp_path, mutual=True)
    ensure_certificates(tls, tmp_path, ("10.0.0.5",), ("nova",))
    for key in (
        tmp_path / "ca-key.pem",
        key_file_of(tls.cert_file),
        tmp_path / "clients/nova-key.pem",
    ):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca.pem").stat().st_mode) == 0o644
    ca = LocalCA.ensure(tmp_path)
    assert ca._fits(tmp_path / "server.pem", ("127.0.0.1", "localhost", "10.0.0.5"))
    before = (tmp_path / "server.pem").read_bytes()
    ensure_certificates(tls, tmp_path, ("10.0.0.5",), ("nova",))
    assert (tmp_path / "server.pem").read_bytes() == before  # kept across runs


def test_a_certificate_of_another_ca_is_reissued(tmp_path):
    LocalCA.ensure(tmp_path / "other").issue(tmp_path / "server.pem", "x", ("127.0.0.1",))
    assert not LocalCA.ensure(tmp_path)._fits(tmp_path / "server.pem", ("127.0.0.1",))


def test_an_address_is_named_also_as_a_dns_name_for_proton(tmp_path):
    """qdrouterd and the amqp:// driver (proton) check a peer's name against DNS names
    only: routers reached by IP address need the address as a DNS name too."""
    LocalCA.ensure(tmp_path).issue(tmp_path / "server.pem", "x", ("10.0.0.5", "ctl1"))
    cert = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["10.0.0.5", "ctl1"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]


def test_a_certificate_without_the_dns_names_of_its_addresses_is_reissued(
    tmp_path, monkeypatch
):
    ca = LocalCA.ensure(tmp_path)
    with monkeypatch.context() as earlier:  # as certificates were issued before
        earlier.setattr(certs, "_sans", lambda host: (x509.IPAddress(ipaddress.ip_address(host)),))
        ca.issue(tmp_path / "server.pem", "x", ("10.0.0.5",))
    assert not ca._fits(tmp_path / "server.pem", ("10.0.0.5",))


def test_own_files_must_exist(tmp_path):
    own = TLS(str(tmp_path / "ca.pem"), str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    with pytest.raises(PlanError, match=r"TLS file .*ca\.pem does not exist"):
        ensure_certificates(own, tmp_path / "local", (), ())


def test_tls_paths_must_be_absolute():
    with pytest.raises(PlanError, match="not an absolute path"):
        TLS("ca.pem", "/c.pem", "/k.pem")


@pytest.mark.parametrize("mutual", [False, True])
def test_hybrid_snippet_carries_tls_per_driver_and_reads_back(mutual):
    tls = TLS("/t/ca.pem", "/t/server.pem", "/t/server-key.pem", "/t/clients" if mutual else None)
    plan = Plan(Mode.HYBRID, (NOVA,), rabbitmq=RABBIT, router=NATS, tls=tls)
    config = service_config(plan, "nova")
    text = render(config)
    for group in ("oslo_messaging_nats", "oslo_messaging_rabbit"):
        section = text.split(f"[{group}]\n", 1)[1]
        assert section.startswith("ssl = true\nssl_ca_file = /t/ca.pem\n")
        client = "ssl_cert_file = /t/clients/nova.pem\nssl_key_file = /t/clients/nova-key.pem"
        assert (client in section.split("\n\n")[0]) is mutual
    assert parse("nova", text) == config
    query = config.self_contained(config.rpc_url).split("?", 1)[1]
    assert query.startswith("ssl=true&ssl_ca_file=%2Ft%2Fca.pem")
    assert ("ssl_cert_file=%2Ft%2Fclients%2Fnova.pem" in query) is mutual


def test_plain_plan_has_no_tls_options():
    config = service_config(Plan(Mode.ROUTER, (NOVA,), router=NATS), "nova")
    assert config.options == () and config.self_contained(config.rpc_url) == config.rpc_url


def args(**given) -> argparse.Namespace:
    values = {
        "tls": None,
        "mutual_tls": False,
        "ca_file": None,
        "cert_file": None,
        "key_file": None,
    } | given
    return argparse.Namespace(**values)


def test_tls_flags():
    assert tls_choice(args()) is None
    assert tls_choice(args(tls=False)) == TLSChoice(enabled=False)
    assert tls_choice(args(mutual_tls=True)) == TLSChoice(mutual=True)
    own = tls_choice(args(ca_file="/a", cert_file="/b", key_file="/c"))
    assert own == TLSChoice(own=TLS("/a", "/b", "/c"))
    with pytest.raises(UsageError, match="together"):
        tls_choice(args(ca_file="/a"))
    with pytest.raises(UsageError, match="--no-tls takes no TLS files"):
        tls_choice(args(tls=False, mutual_tls=True))


def test_up_keeps_the_previous_choice_unless_told(tmp_path):
    """A later ``up`` (e.g. by ``migrate``) must not switch a running plain stack to TLS:
    every service still on plain URLs would be cut off."""
    stack = Stack(tmp_path)
    plain = Plan(Mode.RABBIT, (NOVA,), rabbitmq=RABBIT)
    assert stack._tls(None, plain, BackendKind.NATS) is None
    assert stack._tls(TLSChoice(), plain, BackendKind.NATS) is not None
    secured = Plan(Mode.RABBIT, (NOVA,), rabbitmq=RABBIT, tls=local_tls(tmp_path, False))
    assert stack._tls(None, secured, BackendKind.NATS) == secured.tls
    assert stack._tls(None, secured, BackendKind.QDROUTERD).mutual
    assert stack._tls(None, None, BackendKind.NATS) is not None
