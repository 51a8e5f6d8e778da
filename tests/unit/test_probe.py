"""probe without servers: malformed URLs in one line, and what a server's first bytes say."""

import pytest

from hybridmsg.errors import BadTransportURL
from hybridmsg.greeting import EXPECTED, Speaker, identify
from hybridmsg.probe import DEFAULT_PORTS, parse


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "rabbit://u:secret@127.0.0.1:abc/v",
            "invalid rabbit:// transport URL: port 'abc' of host '127.0.0.1' is not a number; "
            "use rabbit://user:password@host:5672/vhost (IPv6 hosts as [::1]:5672)",
        ),
        ("nats://u:secret@h:/v", "port '' of host 'h' is not a number"),
        ("nats://u:secret@h1:4222,u:secret@h2:x/v", "port 'x' of host 'h2' is not a number"),
        ("nats://u:secret@h:1:2/v", "port '1:2' of host 'h' is not a number"),
        ("nats://u:secret@[::1]:42x/v", "port '42x' of host '[::1]' is not a number"),
        ("amqp://u:secret@[::1:5672/v", "invalid amqp:// transport URL: '[' without ']'"),
        ("nats://u:secret@h:99999/v", "port 99999 is out of range 1-65535"),
        ("rabbit:///v", "no host; use rabbit://user:password@host:5672/vhost"),
        ("kafka://u:secret@h:9092/v", "unsupported scheme 'kafka://'"),
    ],
)
def test_a_malformed_url_is_named_in_one_line(url, message):
    with pytest.raises(BadTransportURL) as err:
        parse(url)
    text = str(err.value)
    assert message in text
    assert "\n" not in text and "secret" not in text and "int()" not in text


@pytest.mark.parametrize(
    "url", ["nats://u:p@h:4222/v", "rabbit://u:p@[::1]:5671/v", "amqp://h/v", "nats://h/v"]
)
def test_well_formed_urls_pass(url):
    assert parse(url).transport == url.partition("://")[0]


@pytest.mark.parametrize(
    ("first_bytes", "speaker"),
    [
        (b'INFO {"server_id":"N"}\r\n', Speaker.NATS),
        (b"AMQP\x00\x00\x09\x01", Speaker.AMQP_0_9_1),  # RabbitMQ refusing another header
        (b"\x01\x00\x00\x00\x00\x01\xf2\x00\x0a", Speaker.AMQP_0_9_1),  # connection.start
        (b"AMQP\x00\x01\x00\x00", Speaker.AMQP_1_0),
        (b"AMQP\x03\x01\x00\x00", Speaker.AMQP_1_0),  # SASL layer first (qdrouterd)
        (b"\x15\x03\x03\x00\x02\x02\x46", Speaker.TLS),  # an alert: plain bytes to TLS
        (b"HTTP/1.1 400 Bad Request", Speaker.HTTP),
        (b"", None),
        (b"AMQP", None),  # not yet known
        (b"SSH-2.0-OpenSSH_9.2", None),
    ],
)
def test_first_bytes_name_the_protocol(first_bytes, speaker):
    assert identify(first_bytes) is speaker


def test_every_scheme_the_probe_takes_expects_a_protocol():
    assert set(EXPECTED) == set(DEFAULT_PORTS)
    assert {EXPECTED[scheme].scheme for scheme in ("nats", "rabbit", "amqp")} == {
        "nats",
        "rabbit",
        "amqp",
    }
