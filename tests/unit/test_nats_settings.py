"""nats:// URLs and options: what is accepted, and the one-line error for what is not."""

import oslo_messaging as om
import pytest
from oslo_config import cfg
from oslo_messaging import transport as oslo_transport

from hybridmsg.drivers.nats import opts
from hybridmsg.drivers.nats.settings import settings_from


@pytest.fixture
def group():
    conf = cfg.ConfigOpts()
    conf.register_opts(opts.OPTS, group=opts.GROUP)
    conf([])
    return conf[opts.GROUP]


def settings(url, group):
    return settings_from(oslo_transport.TransportURL.parse(cfg.CONF, url), group)


def test_hosts_credentials_and_defaults(group):
    s = settings("nats://nova:s3cret@10.0.0.1:4223,nova:s3cret@10.0.0.2/nova", group)
    assert s.servers == ("nats://10.0.0.1:4223", "nats://10.0.0.2:4222")
    assert (s.user, s.password, s.tls) == ("nova", "s3cret", None)
    assert "s3cret" not in repr(s)


def test_ssl_in_the_url_gives_tls(group):
    s = settings("nats://u:p@127.0.0.1:4222/?ssl=1", group)
    assert s.servers == ("tls://127.0.0.1:4222",) and s.tls is not None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nats://u:p@127.0.0.1:4222/?sll=1", "unknown option 'sll'"),
        ("nats://u:p@127.0.0.1:4222/?ssl=maybe", "ssl='maybe' must be"),
        ("nats:///vhost", "no host"),
        ("nats://u:secretpw@127.0.0.1:70000/", "out of range"),
    ],
)
def test_bad_urls(url, message, group):
    with pytest.raises(oslo_transport.InvalidTransportURL, match=message) as err:
        settings(url, group)
    assert "secretpw" not in str(err.value)


def test_missing_ca_file_is_one_line(group):
    with pytest.raises(om.MessagingException, match="Cannot load the TLS files") as err:
        settings("nats://u:p@127.0.0.1/?ssl=1&ssl_ca_file=/nonexistent/ca.pem", group)
    assert "\n" not in str(err.value)
