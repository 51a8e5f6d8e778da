"""The filters of the Ansible collection that upgrade.yml runs on: a migration's stages and
each service's snippet at each position, from OpenStack-Ansible's oslomsg variables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from hybridmsg.oslomsg import service_settings
from hybridmsg.services import parse_sides, render

FILTERS = Path(__file__).resolve().parents[2] / "ansible" / "plugins" / "filter" / "hybridmsg.py"
_SPEC = importlib.util.spec_from_file_location("hybridmsg_filters", FILTERS)
filters = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(filters)

ACCOUNT = {"nova_oslomsg_rpc_password": "s3cret", "oslomsg_notify_transport": "rabbit",
           "oslomsg_notify_servers": "10.0.0.1", "oslomsg_notify_port": 5672}
#: what the inventory gives in rabbit mode and in hybrid mode
SIDES = {
    "rabbit": ACCOUNT | {"oslomsg_rpc_transport": "rabbit", "oslomsg_rpc_servers": "10.0.0.1",
                         "oslomsg_rpc_port": 5672},
    "router": ACCOUNT | {"oslomsg_rpc_transport": "nats", "oslomsg_rpc_servers": "10.0.0.2",
                         "oslomsg_rpc_port": 4222},
}


@pytest.mark.parametrize(("position", "mode"), [(0, "rabbit"), (3, "hybrid")])
def test_the_ends_of_a_migration_are_the_modes_own_snippets(position: int, mode: str) -> None:
    """An upgrade ends where site.yml in that mode would have put every service."""
    side = SIDES["rabbit" if mode == "rabbit" else "router"]
    expected = render(service_settings(side, "nova", mode))
    assert filters.migration_snippet("nova", SIDES, position) == expected
    assert filters.snippet_position(expected, "nova") == position


@pytest.mark.parametrize(("position", "send", "also"), [(1, "rabbit", "nats"),
                                                        (2, "nats", "rabbit")])
def test_the_middle_positions_listen_on_both(position: int, send: str, also: str) -> None:
    text = filters.migration_snippet("nova", SIDES, position)
    sides = parse_sides("nova", text)
    assert [config.rpc_url.partition(":")[0] for config in sides] == [send, also]
    assert f"send RPC on {'rabbitmq' if send == 'rabbit' else 'nats'}" in text
    assert filters.snippet_position(text, "nova") == position


def test_a_transport_set_by_hand_stops_the_upgrade_with_what_to_do() -> None:
    pinned = {name: side | {"nova_oslomsg_rpc_transport": "rabbit"} for name, side in SIDES.items()}
    with pytest.raises(AnsibleFilterError, match="RPC is on rabbitmq in rabbit mode and on "
                       "rabbitmq in hybrid mode.*leave nova_oslomsg_rpc_transport"):
        filters.migration_snippet("nova", pinned, 1)


def test_stages_say_what_to_check_before_and_after_the_restarts() -> None:
    listen_both, send_router, router_only = filters.migration_stages(0, "hybrid", "nats")
    assert (listen_both["first"]["check"], listen_both["then"]["check"]) == (["router"], [])
    assert send_router["then"]["queues"] == ["drained"]
    assert router_only["first"]["queues"] == ["drained"]
    assert router_only["then"] == {
        "show": [router_only["describe"],
                 "after: verify no RPC message was left on RabbitMQ meanwhile",
                 "after: check nats for every service"],
        "check": ["router"], "queues": ["empty"]}
    assert router_only["describe"] == (
        "stage 3/3 (position 2 -> 3): send RPC on nats, listen on nats")


def test_a_recorded_position_resumes_and_a_bad_direction_is_named() -> None:
    assert [(s["before"], s["after"]) for s in filters.migration_stages(1, "rabbit", "nats")] == [
        (1, 0)]
    assert filters.migration_stages(3, "hybrid", "nats") == []
    with pytest.raises(AnsibleFilterError, match="hybridmsg_upgrade_to 'router' is not hybrid "
                       "or rabbit"):
        filters.migration_stages(0, "router", "nats")


def test_mutual_tls_gives_each_service_its_client_certificate() -> None:
    tls = {"ca_file": "/t/ca.pem", "cert_file": "/t/s.pem", "key_file": "/t/s-key.pem"}
    assert filters.client_certificates(["nova"], tls) == {}
    files = filters.client_certificates(["nova"], tls | {"client_dir": "/t/clients"})
    assert files["nova_oslomsg_rpc_ssl_cert_file"] == "/t/clients/nova.pem"
    assert files["nova_oslomsg_notify_ssl_key_file"] == "/t/clients/nova-key.pem"
    with pytest.raises(AnsibleFilterError, match="hybridmsg_tls: .*give ca_file"):
        filters.client_certificates(["nova"], {"ca": "/t/ca.pem"})
