"""NATS subjects from oslo targets: a table of cases, escaping included."""

import pytest

from hybridmsg.drivers.nats.addressing import NatsAddressing, escape, is_member, member, roll_call


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


IID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("subject", "rotates"),
    [
        (A.anycast("openstack", "compute"), True),
        (A.unicast("openstack", "compute", "host-1"), True),
        (A.multicast("openstack", "compute"), False),
        (A.notify("openstack", "notifications.info"), False),
        (A.reply("abc"), False),
        (NatsAddressing("nova2").anycast("openstack", "compute"), False),
        (NatsAddressing("nova", prefix="om").anycast("openstack", "compute"), False),
        (A.notify("any", "compute"), False),
    ],
)
def test_which_subjects_take_turns(subject, rotates):
    assert A.rotates(subject) is rotates


S = A.anycast("openstack", "compute")


@pytest.mark.parametrize(
    ("answer", "valid"),
    [
        (member(S, IID), True),
        (f"{S}.{IID}.x", False),
        (f"{S}.{IID[:-1]}", False),
        (f"{S}.{IID.upper()}", False),
        (roll_call(S), False),
        (member(A.anycast("openstack", "other"), IID), False),
        (f"{S}x.{IID}", False),
        (IID, False),
    ],
)
def test_roll_call_answers_name_a_member_of_the_group(answer, valid):
    assert is_member(answer, S) is valid


def test_member_and_roll_call_subjects():
    assert member(S, IID) == f"openstack.nova.any.openstack.compute.{IID}"
    assert roll_call(S) == "openstack.nova.any.openstack.compute.$who"
    # no escaped name reaches a roll-call subject, and both stay inside the vhost
    assert "$" not in escape("$who")
    assert all(s.startswith(A.namespace()[:-1]) for s in (member(S, IID), roll_call(S)))
