"""The ``[oslo_messaging_amqp]`` options. Declarations only, no logic.

Names follow the AMQP 1.0 driver that oslo.messaging shipped until 15.0.0 wherever the
meaning is the same, so that existing configuration files keep working.
"""

from oslo_config import cfg

GROUP = "oslo_messaging_amqp"

OPTS = [
    cfg.StrOpt("container_name", help="Name of the AMQP container (default: generated)."),
    cfg.IntOpt("idle_timeout", default=30, min=0,
               help="Seconds of silence after which the connection is considered dead."),
    cfg.BoolOpt("ssl", default=False,
                help="Connect with TLS (also set by ?ssl=1 in the transport URL)."),
    cfg.StrOpt("ssl_ca_file", default="",
               help="CA certificate file that signs the routers' certificates."),
    cfg.StrOpt("ssl_cert_file", default="",
               help="Client certificate (mutual TLS, SASL EXTERNAL)."),
    cfg.StrOpt("ssl_key_file", default="", help="Private key of the client certificate."),
    cfg.StrOpt("ssl_key_password", secret=True, help="Password of the private key."),
    cfg.BoolOpt("ssl_verify_vhost", default=False,
                help="Verify the router's certificate against the vhost instead of the "
                     "host name (for routers that serve vhosts by SNI)."),
    cfg.StrOpt("sasl_mechanisms", default="",
               help="Space-separated SASL mechanisms to allow (default: PLAIN with a user "
                    "in the URL, EXTERNAL with a client certificate, else ANONYMOUS)."),
    cfg.IntOpt("connection_retry_interval", default=1, min=1,
               help="Seconds before the first reconnection attempt; the pause doubles "
                    "after each failed attempt, up to connection_retry_interval_max."),
    cfg.IntOpt("connection_retry_interval_max", default=5, min=1,
               help="Longest pause between reconnection attempts."),
    cfg.IntOpt("default_send_timeout", default=30, min=1,
               help="Seconds a cast may wait for the router's credit and outcome."),
    cfg.IntOpt("default_notify_timeout", default=30, min=1,
               help="Seconds a notification may wait for the router's credit and outcome."),
    cfg.BoolOpt("pseudo_vhost", default=True,
                help="Also put the vhost of the URL into every address, so that routers "
                     "without vhost policies keep vhosts apart."),
    cfg.StrOpt("rpc_address_prefix", default="openstack.org/om/rpc",
               help="Address prefix of all RPC traffic."),
    cfg.StrOpt("notify_address_prefix", default="openstack.org/om/notify",
               help="Address prefix of all notifications."),
    cfg.StrOpt("multicast_address", default="multicast",
               help="Address segment for fanout (multicast distribution)."),
    cfg.StrOpt("unicast_address", default="unicast",
               help="Address segment for one named server (closest distribution)."),
    cfg.StrOpt("anycast_address", default="anycast",
               help="Address segment for one of a topic's servers (balanced distribution)."),
    cfg.IntOpt("reply_link_credit", default=200, min=1,
               help="Credit of the reply link (replies in flight per connection)."),
    cfg.IntOpt("rpc_server_credit", default=100, min=1,
               help="Credit of each RPC server link."),
    cfg.BoolOpt("casts_wait_for_outcome", default=True,
                help="A cast (and a fanout) returns once the consumer took it (the router "
                     "settled it). False: it returns once it left with the router's credit "
                     "(a consumer is attached), several times faster from one thread; its "
                     "outcome is followed all the same: sent again when the router gives it "
                     "back, logged at ERROR when rejected, out of time, or in flight when the "
                     "connection drops, instead of raised to the caller."),
    cfg.IntOpt("drain_timeout", default=5, min=1,
               help="Seconds a stopping server waits for its links to detach."),
]
