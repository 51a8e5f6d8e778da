"""amqp:// URLs and [oslo_messaging_amqp] options: accepted forms and one-line errors."""

import oslo_messaging as om
import pytest
from oslo_config import cfg
from oslo_messaging import transport as oslo_transport

from hybridmsg.drivers.amqp1 import opts
from hybridmsg.drivers.amqp1.settings import settings_from


@pytest.fixture
def group():
    conf = cfg.ConfigOpts()
    conf.register_opts(opts.OPTS, group=opts.GROUP)
    conf([])
    return conf[opts.GROUP]


def settings(url, group):
    return settings_from(oslo_transport.TransportURL.parse(cfg.CONF, url), group)


def test_hosts_vhost_and_plain_sasl(group):
    s = settings("amqp://nova:s3cret@r1:5673,nova:s3cret@r2/nova", group)
    assert s.urls == ("amqp://r1:5673", "amqp://r2:5672")
    assert (s.user, s.password, s.virtual_host, s.mechanisms) == ("nova", "s3cret", "nova", "PLAIN")
    assert s.allow_insecure_mechs and s.ssl_domain is None
    assert "s3cret" not in repr(s)


def test_anonymous_without_a_user(group):
    assert settings("amqp://127.0.0.1/", group).mechanisms == "ANONYMOUS"


def test_ssl_in_the_url_gives_tls_and_verifies_the_host(group):
    s = settings("amqp://u:p@router.example:5671/nova?ssl=1", group)
    assert s.urls == ("amqps://router.example:5671",)
    assert s.ssl_domain is not None and s.sni == "router.example"
    assert not s.allow_insecure_mechs


def test_old_driver_option_names_are_honoured(group):
    group_conf = group
    assert group_conf.rpc_address_prefix == "openstack.org/om/rpc"
    assert group_conf.anycast_address == "anycast"
    assert group_conf.pseudo_vhost is True


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("amqp://u:p@127.0.0.1/?verify=1", "unknown option 'verify'"),
        ("amqp://u:p@127.0.0.1/?ssl=sure", "ssl='sure' must be"),
        ("amqp:///vhost", "no host"),
        ("amqp://u:secretpw@127.0.0.1:99999/", "out of range"),
    ],
)
def test_bad_urls(url, message, group):
    with pytest.raises(oslo_transport.InvalidTransportURL, match=message) as err:
        settings(url, group)
    assert "secretpw" not in str(err.value)


def test_missing_ca_file_is_one_line(group):
    with pytest.raises(om.MessagingException, match="Cannot load the TLS files") as err:
        settings("amqp://u:p@127.0.0.1/?ssl=1&ssl_ca_file=/nonexistent/ca.pem", group)
    assert "\n" not in str(err.value)
