"""OpenStack-Ansible's oslomsg variables read by hybridmsg (hybridmsg/oslomsg.py) and a
RabbitMQ account compared with a node's definitions (hybridmsg/rabbit_accounts.py)."""

from __future__ import annotations

import json

import pytest

from hybridmsg.backends.rabbitmq import hash_password
from hybridmsg.oslomsg import OslomsgError, inventory_plan, service_settings, side
from hybridmsg.plan import Backend, BackendKind, Node
from hybridmsg.rabbit_accounts import Account, Policy, keep_hashes, missing, password_matches
from hybridmsg.services import render

VARIABLES = {
    "oslomsg_rpc_transport": "nats", "oslomsg_rpc_servers": "10.0.0.1,10.0.0.2",
    "oslomsg_rpc_port": "4222", "oslomsg_notify_transport": "rabbit",
    "oslomsg_notify_servers": "10.0.0.1", "oslomsg_notify_port": 5672,
    "nova_oslomsg_rpc_password": "s3cret", "nova_oslomsg_rpc_vhost": "/nova",
}


def test_a_service_inherits_the_generic_variables_and_its_rpc_account_for_notify():
    notify = side(VARIABLES, "nova", "notify")
    assert (notify.kind, notify.servers, notify.userid, notify.vhost, notify.password) == (
        BackendKind.RABBITMQ, ("10.0.0.1",), "nova", "nova", "s3cret")


def test_hybrid_settings_render_as_hybridmsg_config_does():
    text = render(service_settings(VARIABLES, "nova", "hybrid"))
    assert "transport_url = nats://nova:s3cret@10.0.0.1:4222,nova:s3cret@10.0.0.2:4222/nova" \
        in text
    assert "transport_url = rabbit-once://nova:s3cret@10.0.0.1:5672/nova" in text
    assert "rabbit_quorum_queue = true" in text


def test_router_mode_drops_notifications_and_ssl_goes_to_the_drivers_group():
    config = service_settings(VARIABLES | {"nova_oslomsg_rpc_use_ssl": "yes",
                                           "oslomsg_rpc_ssl_ca_file": "/ca.pem"}, "nova", "router")
    assert (config.notification_driver, config.notification_url) == ("noop", None)
    assert config.options == (("oslo_messaging_nats", "ssl", "true"),
                              ("oslo_messaging_nats", "ssl_ca_file", "/ca.pem"))


@pytest.mark.parametrize(("change", "message"), [
    ({"nova_oslomsg_rpc_transport": "zmq"}, "nova_oslomsg_rpc_transport 'zmq' is not one of"),
    ({"nova_oslomsg_rpc_password": ""}, "set nova_oslomsg_rpc_password"),
    ({"oslomsg_rpc_port": "x"}, "nova_oslomsg_rpc_port 'x' is not a port number"),
])
def test_bad_variables_say_which_and_what_to_do(change, message):
    with pytest.raises(OslomsgError, match=message):
        service_settings(VARIABLES | change, "nova", "hybrid")


def test_the_inventory_plan_takes_each_services_rpc_account():
    rabbit = Backend(BackendKind.RABBITMQ, (Node("10.0.0.1", 5672, "rabbit@10.0.0.1", 25672),))
    plan = inventory_plan("rabbit", ["nova"], VARIABLES, rabbit, None)
    assert [(s.user, s.vhost, s.password) for s in plan.services] == [("nova", "nova", "s3cret")]
    with pytest.raises(OslomsgError, match="hybrid mode needs hosts in the router"):
        inventory_plan("hybrid", ["nova"], VARIABLES, rabbit, None)


ACCOUNT = Account("nova", "pw", "nova", policies=(Policy("ha", "^nova", {"ha-mode": "all"}),))


def _exported(password: str = "pw") -> dict:
    return {"users": [{"name": "nova", "password_hash": hash_password(password),
                       "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}],
            "vhosts": [{"name": "nova"}],
            "permissions": [{"user": "nova", "vhost": "nova", "configure": ".*",
                             "write": ".*", "read": ".*"}],
            "policies": [ACCOUNT.policies[0].document("nova")]}


def test_an_account_a_node_has_needs_nothing():
    assert missing(ACCOUNT, _exported()) is None


def test_a_changed_password_or_a_missing_policy_is_imported_alone():
    wanted = json.loads(missing(ACCOUNT, _exported("old") | {"policies": []}))
    assert [u["name"] for u in wanted["users"]] == ["nova"]
    assert password_matches(wanted["users"][0], "pw")
    assert (wanted["vhosts"], wanted["permissions"]) == ([], [])
    assert [p["name"] for p in wanted["policies"]] == ["ha"]


def test_hashes_of_unchanged_passwords_are_kept():
    before = json.dumps(_exported())
    again = json.dumps({"users": [{"name": "nova", "password_hash": hash_password("pw")}]})
    kept = json.loads(keep_hashes(again, before, {"nova": "pw"}))
    assert kept["users"][0]["password_hash"] == json.loads(before)["users"][0]["password_hash"]
    changed = json.loads(keep_hashes(again, before, {"nova": "new"}))
    assert changed["users"][0]["password_hash"] == json.loads(again)["users"][0]["password_hash"]


SPOOL = "/var/lib/nova/notification-spool"


@pytest.mark.parametrize(
    ("mode", "change", "scheme", "directory"),
    [
        ("hybrid", {}, "rabbit-once", SPOOL),
        ("hybrid", {"nova_oslomsg_notify_spool_dir": "/q/{service}"}, "rabbit-once", "/q/nova"),
        ("hybrid", {"oslomsg_notify_spool": "no"}, "rabbit-once", None),
        ("rabbit", {}, "rabbit", None),
        ("rabbit", {"oslomsg_notify_spool": True}, "rabbit-once", SPOOL),
    ],
)
def test_notifications_are_spooled_as_the_plan_would_spool_them(mode, change, scheme, directory):
    config = service_settings(VARIABLES | change, "nova", mode)
    assert config.notification_url.startswith(f"{scheme}://")
    assert config.spool_directory == directory
    if directory:
        assert f"spool_directory = {directory}\n" in render(config)


def test_a_spool_directory_for_every_service_needs_its_name():
    with pytest.raises(OslomsgError, match="must be an absolute path with {service} in it"):
        service_settings(VARIABLES | {"oslomsg_notify_spool_dir": "/srv/q"}, "nova", "hybrid")
