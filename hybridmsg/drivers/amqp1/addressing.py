"""AMQP 1.0 addresses for oslo targets, in the routable form deployments configured in
their routers for oslo.messaging's former AMQP 1.0 driver. Pure functions, no I/O.

``<rpc prefix>/<anycast|unicast|multicast>/[<vhost>/]<exchange>/<topic>[/<server>]`` and
``<notify prefix>/anycast/[<vhost>/]<exchange>/<topic>``. Tokens are percent-escaped for
``%``, ``/`` and white space only, so that addresses stay as the routers expect them.
Replies use the dynamic address the router assigns to each connection's reply link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[%/\s]")


def escape(token: str) -> str:
    """Make ``token`` one address segment, reversibly."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), token)


@dataclass(frozen=True)
class AmqpAddressing:
    """Addresses within one vhost; ``pseudo_vhost`` embeds it in each address."""

    vhost: str = ""
    pseudo_vhost: bool = True
    rpc_prefix: str = "openstack.org/om/rpc"
    notify_prefix: str = "openstack.org/om/notify"
    anycast_segment: str = "anycast"
    unicast_segment: str = "unicast"
    multicast_segment: str = "multicast"

    def _address(self, prefix: str, kind: str, *tokens: str) -> str:
        scope = (escape(self.vhost),) if self.pseudo_vhost and self.vhost else ()
        return "/".join((prefix, kind, *scope, *map(escape, tokens)))

    def anycast(self, exchange: str, topic: str) -> str:
        return self._address(self.rpc_prefix, self.anycast_segment, exchange, topic)

    def unicast(self, exchange: str, topic: str, server: str) -> str:
        return self._address(self.rpc_prefix, self.unicast_segment, exchange, topic, server)

    def multicast(self, exchange: str, topic: str) -> str:
        return self._address(self.rpc_prefix, self.multicast_segment, exchange, topic)

    def notify(self, exchange: str, topic: str) -> str:
        return self._address(self.notify_prefix, self.anycast_segment, exchange, topic)

    def group(self, pool: str | None) -> str | None:
        """Receivers of one address always compete: a router has no consumer groups."""
        if pool:
            raise NotImplementedError(
                "notification pools need a broker: a router delivers each notification to "
                "one listener; use a rabbit:// notification transport for pools"
            )
        return None
