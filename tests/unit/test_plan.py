"""Plan validation and URL building, from tables."""

import json

import pytest

from hybridmsg.errors import PlanError, UnknownService
from hybridmsg.plan import (
    Backend,
    BackendKind,
    Mode,
    Node,
    Plan,
    Reader,
    Service,
    mask_url,
    plan_from_dict,
)

#: the name rule as messages state it
NAME_RULE = (
    "must be 1 to 63 characters: a lowercase letter, then lowercase letters, digits, '-' or '_'"
)

RABBIT = Backend(BackendKind.RABBITMQ, (Node("127.0.0.1", 5673, "hybridmsg@localhost"),))
NATS = Backend(BackendKind.NATS, (Node("127.0.0.1", 4223),))
NOVA = Service("nova", "nova", "nova", "s3cret")
GLANCE = Service("glance", "glance", "glance", "pw")
TELEMETRY = Reader("telemetry", "telemetry", "r3ader")


def make(
    mode=Mode.HYBRID, services=(NOVA, GLANCE), rabbitmq=RABBIT, router=NATS, readers=()
) -> Plan:
    return Plan(mode=mode, services=services, rabbitmq=rabbitmq, router=router, readers=readers)


@pytest.mark.parametrize(
    ("mode", "rabbitmq", "router", "rpc", "notifications"),
    [
        (Mode.RABBIT, RABBIT, None, RABBIT, RABBIT),
        (Mode.ROUTER, None, NATS, NATS, None),
        (Mode.HYBRID, RABBIT, NATS, NATS, RABBIT),
    ],
)
def test_mode_decides_backends(mode, rabbitmq, router, rpc, notifications):
    plan = make(mode, rabbitmq=rabbitmq, router=router)
    assert plan.rpc_backend == rpc
    assert plan.notification_backend == notifications
    assert plan.backends == tuple(b for b in (rabbitmq, router) if b)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: make(Mode.RABBIT), "rabbit mode uses no router backend; remove it"),
        (lambda: make(Mode.ROUTER), "router mode uses no rabbitmq backend; remove it"),
        (lambda: make(Mode.HYBRID, router=None), "hybrid mode needs a router backend; add one"),
        (lambda: make(Mode.RABBIT, rabbitmq=None, router=None), "needs a rabbitmq backend"),
        (lambda: make(rabbitmq=NATS), "the rabbitmq backend is of kind nats; use rabbitmq"),
        (lambda: make(router=RABBIT), "the router backend is of kind rabbitmq; use one of nats"),
        (lambda: make("hybrid"), "mode 'hybrid' is not one of rabbit, router, hybrid"),
        (lambda: make(services=()), "the plan has no services"),
        (lambda: make(services=(NOVA, NOVA)), "service name 'nova' appears twice"),
        (
            lambda: make(services=(NOVA, Service("nova2", "nova", "v", "p"))),
            "service user 'nova' appears twice",
        ),
        (lambda: Service("Nova", "nova", "nova", "p"), f"service name 'Nova' {NAME_RULE}"),
        (lambda: Service("1nova", "nova", "nova", "p"), f"service name '1nova' {NAME_RULE}"),
        (
            lambda: Service("a" * 300, "nova", "nova", "p"),
            rf"service name '{'a' * 60}'\.\.\. \(300 characters\) {NAME_RULE}",
        ),
        (lambda: Service("nova", "no va", "nova", "p"), "service nova: user 'no va' must be"),
        (lambda: Service("nova", "nova", "a/b", "p"), "service nova: vhost 'a/b' must be"),
        (lambda: Service("nova", "nova", "nova", ""), "service nova has an empty password"),
        (lambda: Reader("Tele", "t", "p"), f"reader name 'Tele' {NAME_RULE}"),
        (lambda: Reader("t", "t t", "p"), "reader t: user 't t' must be"),
        (lambda: Reader("t", "t", ""), "reader t has an empty password"),
        (lambda: Reader("t", "t", "p", ()), "reader t reads no topic"),
        (lambda: Reader("t", "t", "p", ("a.",)), "reader t: topic 'a.' must be words"),
        (lambda: Reader("t", "t", "p", ("a*",)), "reader t: topic 'a\\*' must be words"),
        (lambda: Reader("t", "t", "p", ("a", "a")), "reader t topic 'a' appears twice"),
        (
            lambda: make(readers=(Reader("nova", "tele", "p"),)),
            "service or reader name 'nova' appears twice",
        ),
        (
            lambda: make(readers=(Reader("tele", "glance", "p"),)),
            "service or reader user 'glance' appears twice",
        ),
        (
            lambda: make(readers=(TELEMETRY, Reader("audit", "audit", "p", ("notifications",)))),
            "readers telemetry and audit both read topic 'notifications'",
        ),
        (lambda: Node("", 1), "node host '' is not a host name"),
        (lambda: Node("h", 0), "node h port 0 is not in 1-65535"),
        (lambda: Node("h", 65536), "node h port 65536 is not in 1-65535"),
        (lambda: Backend(BackendKind.NATS, ()), "nats backend has no nodes"),
        (
            lambda: Backend(BackendKind.NATS, (Node("h", 1), Node("h", 1))),
            "nats node address 'h:1' appears twice",
        ),
        (
            lambda: Backend(BackendKind.RABBITMQ, (Node("a", 1, "r@a"), Node("b", 1, "r@a"))),
            "rabbitmq node name 'r@a' appears twice",
        ),
    ],
)
def test_validation_says_what_to_fix_in_one_line(build, message):
    with pytest.raises(PlanError, match=message) as err:
        build()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("backend", "user", "password", "vhost", "url"),
    [
        (RABBIT, "nova", "pw", "nova", "rabbit://nova:pw@127.0.0.1:5673/nova"),
        (NATS, "nova", "pw", "nova", "nats://nova:pw@127.0.0.1:4223/nova"),
        (RABBIT, "u", "a/b@c,d", "v", "rabbit://u:a%2Fb%40c%2Cd@127.0.0.1:5673/v"),
        (
            Backend(BackendKind.NATS, (Node("n1", 4222), Node("::1", 4223))),
            "u",
            "p",
            "v",
            "nats://u:p@n1:4222,u:p@[::1]:4223/v",
        ),
    ],
)
def test_backend_url_has_one_host_entry_per_node(backend, user, password, vhost, url):
    assert backend.url(user, password, vhost) == url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rabbit://nova:pw@h:1/nova", "rabbit://nova:***@h:1/nova"),
        ("nats://u:p@n1:4222,u:p@[::1]:4223/v", "nats://u:***@n1:4222,u:***@[::1]:4223/v"),
        ("rabbit://u:a%2Fb%40c@h:1/v?ssl=1", "rabbit://u:***@h:1/v?ssl=1"),
        ("nats://h:4222/v", "nats://h:4222/v"),
    ],
)
def test_mask_url_hides_every_password(url, masked):
    assert mask_url(url) == masked


def test_service_lookup_lists_known_services():
    plan = make()
    assert plan.service("glance") is GLANCE
    with pytest.raises(
        UnknownService, match="unknown service 'swift'; known services: nova, glance"
    ):
        plan.service("swift")


def test_password_not_in_repr():
    assert "s3cret" not in repr(make())
    assert "r3ader" not in repr(make(readers=(TELEMETRY,)))


def test_reader_lookup_lists_known_readers():
    assert make(readers=(TELEMETRY,)).reader("telemetry") is TELEMETRY
    with pytest.raises(UnknownService, match="unknown reader 'x'; known readers: telemetry"):
        make(readers=(TELEMETRY,)).reader("x")
    with pytest.raises(UnknownService, match="known readers: none"):
        make().reader("x")


def test_reader_url_is_on_the_services_vhost():
    assert TELEMETRY.url(RABBIT, "nova") == "rabbit://telemetry:r3ader@127.0.0.1:5673/nova"
    assert TELEMETRY.url(RABBIT, "nova", masked=True) == (
        "rabbit://telemetry:***@127.0.0.1:5673/nova"
    )


@pytest.mark.parametrize("mode", list(Mode))
def test_plan_round_trips_through_json(mode):
    plan = make(
        mode,
        rabbitmq=RABBIT if mode.needs_rabbitmq else None,
        router=NATS if mode.needs_router else None,
        readers=(TELEMETRY, Reader("audit", "audit", "pw", ("audit.events", "x"))),
    )
    assert plan_from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_a_plan_stored_before_readers_existed_loads_without_readers():
    data = make().to_dict()
    del data["readers"]
    assert plan_from_dict(data) == make()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "broker"}, "mode 'broker' is not one of rabbit, router, hybrid"),
        ({"router": {"kind": "zeromq", "nodes": []}}, "backend kind 'zeromq' is not one of"),
        ({"services": None}, "the plan is malformed"),
        ({"services": [{"name": "nova"}]}, "the plan is malformed"),
    ],
)
def test_plan_from_dict_rejects_bad_data(change, message):
    with pytest.raises(PlanError, match=message):
        plan_from_dict(make().to_dict() | change)


def test_qdrouterd_needs_mutual_tls_and_urls_carry_no_password():
    from hybridmsg.plan import TLS, Backend, BackendKind, Mode, Node, Plan, PlanError, Service

    router = Backend(BackendKind.QDROUTERD, (Node("localhost", 5671),))
    nova = Service("nova", "nova", "nova", "s3cret")
    with pytest.raises(PlanError, match="needs mutual TLS"):
        Plan(Mode.ROUTER, (nova,), router=router)
    with pytest.raises(PlanError, match="needs mutual TLS"):
        Plan(Mode.ROUTER, (nova,), router=router, tls=TLS("/ca.pem", "/c.pem", "/k.pem"))
    plan = Plan(Mode.ROUTER, (nova,), router=router,
                tls=TLS("/ca.pem", "/c.pem", "/k.pem", client_dir="/clients"))
    assert nova.url(plan.router) == "amqp://localhost:5671/nova"


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("a" * 63, True),
        ("a" * 64, False),
        ("nova-api_2", True),
        ("n", True),
        ("", False),
        ("2nova", False),
        ("-nova", False),
        ("nova.api", False),
    ],
)
def test_service_names_follow_the_stated_rule(name, accepted):
    if accepted:
        assert Service(name, "u", "v", "p").name == name
    else:
        with pytest.raises(PlanError, match=NAME_RULE):
            Service(name, "u", "v", "p")
