"""AMQP 1.0 routable addresses from oslo targets, as routers were configured for them."""

import pytest

from hybridmsg.drivers.amqp1.addressing import AmqpAddressing, escape

A = AmqpAddressing(vhost="nova")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (A.anycast("openstack", "compute"), "openstack.org/om/rpc/anycast/nova/openstack/compute"),
        (A.unicast("openstack", "compute", "host-1.lab"),
         "openstack.org/om/rpc/unicast/nova/openstack/compute/host-1.lab"),
        (A.multicast("nova", "compute"), "openstack.org/om/rpc/multicast/nova/nova/compute"),
        (A.notify("nova", "notifications.info"),
         "openstack.org/om/notify/anycast/nova/nova/notifications.info"),
        (AmqpAddressing().anycast("openstack", "t"), "openstack.org/om/rpc/anycast/openstack/t"),
        (AmqpAddressing("nova", pseudo_vhost=False).anycast("openstack", "t"),
         "openstack.org/om/rpc/anycast/openstack/t"),
        (AmqpAddressing("v", rpc_prefix="x/rpc", anycast_segment="any").anycast("e", "t"),
         "x/rpc/any/v/e/t"),
        (A.unicast("e", "a/b", "c d"), "openstack.org/om/rpc/unicast/nova/e/a%2Fb/c%20d"),
    ],
)
def test_addresses(address, expected):
    assert address == expected


@pytest.mark.parametrize(("token", "expected"), [("a/b", "a%2Fb"), ("50%", "50%25"),
                                                   ("a.b-c_d", "a.b-c_d"), ("", "")])
def test_escape(token, expected):
    assert escape(token) == expected


def test_pools_are_refused_with_a_reason():
    assert A.group(None) is None
    with pytest.raises(NotImplementedError, match="pools need a broker"):
        A.group("billing")
