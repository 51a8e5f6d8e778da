"""NATS subjects from oslo targets: a table of cases, escaping included."""

import pytest

from hybridmsg.drivers.nats.addressing import NatsAddressing, escape


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("compute", "compute"),
        ("", "~"),
        ("compute-1.example.com", "compute-1%2Eexample%2Ecom"),
        ("a b", "a%20b"),
        ("*", "%2A"),
        (">", "%3E"),
        ("%2E", "%252E"),
        ("~", "%7E"),
        ("é", "%C3%A9"),
        ("notifications.info", "notifications%2Einfo"),
    ],
)
def test_escape(token, expected):
    assert escape(token) == expected


def test_escape_is_injective_on_tricky_names():
    names = ["a.b", "a%2Eb", "a_b", "a-b", "", "~", "%7E", "a b", "a%20b"]
    assert len({escape(n) for n in names}) == len(names)


A = NatsAddressing(vhost="nova")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (A.anycast("openstack", "compute"), "openstack.nova.any.openstack.compute"),
        (A.unicast("openstack", "compute", "host-1.lab"),
         "openstack.nova.one.openstack.compute.host-1%2Elab"),
        (A.multicast("nova", "compute"), "openstack.nova.all.nova.compute"),
        (A.notify("nova", "notifications.info"), "openstack.nova.notify.nova.notifications%2Einfo"),
        (A.reply("abc"), "openstack.nova.reply.abc"),
        (A.namespace(), "openstack.nova.>"),
        (NatsAddressing().anycast("openstack", "t"), "openstack.~.any.openstack.t"),
        (NatsAddressing("a.b", prefix="om").anycast("x", "t"), "om.a%2Eb.any.x.t"),
    ],
)
def test_subjects(subject, expected):
    assert subject == expected


def test_every_subject_is_inside_the_vhost_namespace():
    prefix = A.namespace()[:-1]
    subjects = [A.anycast("e", "t"), A.unicast("e", "t", "s"), A.multicast("e", "t"),
                A.notify("e", "t.info"), A.reply("r")]
    assert all(s.startswith(prefix) for s in subjects)
    assert not NatsAddressing("nova2").anycast("e", "t").startswith(prefix)


@pytest.mark.parametrize(
    ("pool", "group"), [(None, "listeners"), ("billing", "pool-billing"), ("a.b", "pool-a%2Eb")]
)
def test_notification_groups(pool, group):
    assert A.group(pool) == group
