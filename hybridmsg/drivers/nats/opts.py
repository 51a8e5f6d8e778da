"""The ``[oslo_messaging_nats]`` options. Declarations only, no logic."""

from oslo_config import cfg

GROUP = "oslo_messaging_nats"

OPTS = [
    cfg.StrOpt(
        "subject_prefix", default="openstack", help="First token of every subject this driver uses."
    ),
    cfg.BoolOpt(
        "ssl", default=False, help="Connect with TLS (also set by ?ssl=1 in the transport URL)."
    ),
    cfg.StrOpt(
        "ssl_ca_file", default="", help="CA bundle that signs the server certificates (TLS)."
    ),
    cfg.StrOpt("ssl_cert_file", default="", help="Client certificate for mutual TLS."),
    cfg.StrOpt("ssl_key_file", default="", help="Private key of the client certificate."),
    cfg.BoolOpt(
        "ssl_handshake_first",
        default=True,
        help="Start TLS before the server speaks (nats-server tls handshake_first), so "
        "credentials never go to a server that answers without TLS. Turn off only for "
        "servers whose tls block lacks handshake_first.",
    ),
    cfg.FloatOpt(
        "connect_timeout", default=2.0, min=0.1, help="Seconds to wait for one connection attempt."
    ),
    cfg.FloatOpt(
        "reconnect_interval",
        default=0.5,
        min=0.05,
        help="Seconds between connection attempts to the same server, first connection "
        "and reconnections alike (no growing backoff): RPC works again at most this long "
        "after a router comes back.",
    ),
    cfg.FloatOpt(
        "ping_interval",
        default=10.0,
        min=1.0,
        help="Seconds between keep-alive pings; a server that misses "
        "max_outstanding_pings in a row is considered gone.",
    ),
    cfg.IntOpt(
        "max_outstanding_pings",
        default=3,
        min=1,
        help="Unanswered pings before the connection is dropped and retried.",
    ),
    cfg.FloatOpt(
        "send_timeout",
        default=30.0,
        min=0.1,
        help="Longest a cast or notification may wait to be handed to the "
        "server, e.g. during an outage, before it fails.",
    ),
    cfg.IntOpt(
        "pending_bytes",
        default=8 * 1024 * 1024,
        min=0,
        help="Bytes of outgoing messages kept while reconnecting; past this a "
        "send fails at once instead of waiting.",
    ),
    cfg.FloatOpt(
        "drain_timeout",
        default=5.0,
        min=0.1,
        help="Seconds a stopping server may take to finish receiving what "
        "the router already sent it.",
    ),
]
