"""The oslo.messaging driver for ``amqp://`` transport URLs (AMQP 1.0 message routers).

``amqp://user:password@router1:5672,user:password@router2:5672/vhost`` — every host is a
router of the same mesh, tried in turn with backoff. The vhost is sent as the connection's
hostname (so the router's vhost policy applies) and, with ``pseudo_vhost`` (default), also
put into every address. Options live in ``[oslo_messaging_amqp]``.
"""

from __future__ import annotations

from hybridmsg.drivers.amqp1 import opts
from hybridmsg.drivers.amqp1.addressing import AmqpAddressing
from hybridmsg.drivers.amqp1.settings import settings_from
from hybridmsg.drivers.amqp1.wire import AmqpLink
from hybridmsg.drivers.routed import RoutedDriver


class AmqpDriver(RoutedDriver):
    """Routed RPC and notifications over AMQP 1.0 (python-qpid-proton)."""

    def __init__(self, conf, url, default_exchange=None, allowed_remote_exmods=None):
        conf.register_opts(opts.OPTS, group=opts.GROUP)
        group = conf[opts.GROUP]
        settings = settings_from(url, group)
        addressing = AmqpAddressing(
            vhost=url.virtual_host or "",
            pseudo_vhost=group.pseudo_vhost,
            rpc_prefix=group.rpc_address_prefix,
            notify_prefix=group.notify_address_prefix,
            anycast_segment=group.anycast_address,
            unicast_segment=group.unicast_address,
            multicast_segment=group.multicast_address,
        )
        super().__init__(
            conf,
            url,
            default_exchange,
            allowed_remote_exmods,
            link_factory=lambda on_reply: AmqpLink(settings, on_reply),
            addressing=addressing,
            send_timeout=group.default_send_timeout,
            notify_timeout=group.default_notify_timeout,
            early_casts=not group.casts_wait_for_outcome,
        )
