"""The oslo.messaging driver for ``nats://`` transport URLs.

``nats://user:password@host1:4222,user:password@host2:4222/vhost`` — every host of the URL
is a server of the same NATS cluster (tried in turn, reconnected automatically); the vhost
is a namespace: the first tokens of every subject, so that two vhosts never see each
other's traffic. Options live in ``[oslo_messaging_nats]``.
"""

from __future__ import annotations

from hybridmsg.drivers.nats import opts
from hybridmsg.drivers.nats.addressing import NatsAddressing
from hybridmsg.drivers.nats.settings import settings_from
from hybridmsg.drivers.nats.wire import NatsLink
from hybridmsg.drivers.routed import RoutedDriver


class NatsDriver(RoutedDriver):
    """Routed RPC and notifications over NATS."""

    def __init__(self, conf, url, default_exchange=None, allowed_remote_exmods=None):
        conf.register_opts(opts.OPTS, group=opts.GROUP)
        group = conf[opts.GROUP]
        settings = settings_from(url, group)
        addressing = NatsAddressing(url.virtual_host or "", group.subject_prefix)

        def link_factory(on_reply):
            return NatsLink(settings, addressing, on_reply)

        super().__init__(
            conf,
            url,
            default_exchange,
            allowed_remote_exmods,
            link_factory=link_factory,
            addressing=addressing,
            send_timeout=group.send_timeout,
        )
