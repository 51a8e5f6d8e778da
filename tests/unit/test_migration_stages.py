"""The migration's stage model: positions, stages, what each verifies, the configs."""

from __future__ import annotations

import configparser
from dataclasses import replace

import pytest

from hybridmsg.cli import main
from hybridmsg.drivers.dual import GROUP
from hybridmsg.errors import PlanError
from hybridmsg.migration.stages import (
    POSITIONS,
    Side,
    plan_on,
    position_in,
    position_of,
    side_names,
    snippet,
    stages,
)
from hybridmsg.plan import Backend, BackendKind, Mode, Node, Plan, Service
from hybridmsg.services import parse_sides, render, service_config
from hybridmsg.stack import Stack, local_plan

WIDE = Plan(
    mode=Mode.HYBRID,
    services=(Service("nova", "nova", "nova", "pw-nova"),),
    rabbitmq=Backend(BackendKind.RABBITMQ, (Node("127.0.0.1", 5672, "r@localhost", 25672),)),
    router=Backend(BackendKind.NATS, (Node("127.0.0.1", 4222),)),
)
NAMES = side_names(WIDE)


def test_positions_of_modes() -> None:
    assert (position_of(Mode.RABBIT), position_of(Mode.HYBRID)) == (0, 3)
    with pytest.raises(PlanError, match="router mode has no RabbitMQ"):
        position_of(Mode.ROUTER)


@pytest.mark.parametrize(
    ("start", "end", "path"),
    [
        (0, 3, [(0, 1), (1, 2), (2, 3)]),
        (3, 0, [(3, 2), (2, 1), (1, 0)]),
        (1, 3, [(1, 2), (2, 3)]),  # resumed
        (2, 0, [(2, 1), (1, 0)]),  # reversed half way
        (3, 3, []),
    ],
)
def test_stages_walk_the_line(start: int, end: int, path: list[tuple[int, int]]) -> None:
    todo = stages(start, end)
    assert [(s.before.index, s.after.index) for s in todo] == path
    assert [s.number for s in todo] == list(range(1, len(path) + 1))
    assert all(s.total == len(path) for s in todo)


def test_forward_stages_verify_what_they_abandon() -> None:
    listen_both, send_router, router_only = stages(0, 3)
    assert listen_both.preflight == (Side.ROUTER,)
    assert not (listen_both.drains_rabbit or listen_both.abandons_rabbit or listen_both.final)
    assert send_router.drains_rabbit and not send_router.abandons_rabbit
    assert send_router.preflight == ()
    assert router_only.abandons_rabbit and router_only.final
    assert listen_both.describe(NAMES) == "send RPC on rabbitmq, listen on rabbitmq and nats"
    assert send_router.describe(NAMES) == "send RPC on nats, listen on nats and rabbitmq"
    assert router_only.checks(NAMES) == [
        "before: wait until every RPC queue on RabbitMQ has 0 messages",
        "rolling restart of every process, one instance at a time",
        "after: verify no RPC message was left on RabbitMQ meanwhile",
        "after: check nats for every service",
    ]


def test_roll_back_checks_rabbitmq_first_and_never_drains_it() -> None:
    listen_both, send_rabbit, rabbit_only = stages(3, 0)
    assert listen_both.preflight == (Side.RABBIT,)
    assert not any(s.drains_rabbit or s.abandons_rabbit for s in (listen_both, send_rabbit))
    assert rabbit_only.final and not rabbit_only.abandons_rabbit
    assert rabbit_only.checks(NAMES)[-1] == "after: check rabbitmq for every service"


def test_plain_positions_are_the_modes_own_snippets() -> None:
    rabbit, hybrid = snippet(WIDE, "nova", POSITIONS[0]), snippet(WIDE, "nova", POSITIONS[3])
    assert "transport_url = rabbit://nova:pw-nova@127.0.0.1:5672/nova" in rabbit
    assert "transport_url = nats://nova:pw-nova@127.0.0.1:4222/nova" in hybrid
    assert GROUP not in rabbit + hybrid
    assert plan_on(WIDE, Side.RABBIT).router is None


@pytest.mark.parametrize(("index", "send", "also"), [(1, "rabbit", "nats"), (2, "nats", "rabbit")])
def test_overlap_positions_are_dual_snippets(index: int, send: str, also: str) -> None:
    ini = configparser.ConfigParser(default_section="none", interpolation=None)
    ini.read_string(snippet(WIDE, "nova", POSITIONS[index]))
    assert ini["DEFAULT"]["transport_url"] == "dual://"
    assert ini[GROUP]["send_url"].startswith(f"{send}://nova:pw-nova@")
    assert ini[GROUP]["also_listen_url"].startswith(f"{also}://nova:pw-nova@")
    # notifications stay on RabbitMQ at every position
    # (in hybrid mode's driver wrapper once clients send on the router)
    notify = "rabbit-once" if send == "nats" else "rabbit"
    assert ini["oslo_messaging_notifications"]["transport_url"].startswith(f"{notify}://nova:")
    masked = snippet(WIDE, "nova", POSITIONS[index], masked=True)
    assert "pw-nova" not in masked and "***" in masked


def test_dry_run_prints_every_stage_and_changes_nothing(tmp_path, capsys) -> None:
    stack = Stack(tmp_path)
    stack.write(local_plan(Mode.RABBIT, ["nova"]))
    before = stack.snippet_file("nova").read_text()
    assert main(["migrate", "--to", "hybrid", "--dry-run", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 stage(s) from position 0 to hybrid mode\n")
    assert "stage 2/3: send RPC on nats, listen on nats and rabbitmq" in out
    assert "after: wait until every RPC queue on RabbitMQ has 0 messages" in out
    assert out.count("transport_url = dual://") == 2 and "***" in out
    assert stack.snippet_file("nova").read_text() == before
    assert not (tmp_path / "migration.json").exists()
    assert main(["migrate", "--to", "rabbit", "--dry-run", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("0 stage(s) from position 0 to rabbit mode")


def test_check_reads_both_transports_of_a_dual_snippet() -> None:
    """``hybridmsg check`` mid-migration: one row per transport the snippet names."""
    sides = parse_sides("nova", snippet(WIDE, "nova", POSITIONS[2]))
    assert [side.service for side in sides] == ["nova (nats)", "nova (rabbit)"]
    assert sides[0].rpc_url.startswith("nats://nova:pw-nova@")
    assert sides[1].rpc_url.startswith("rabbit://nova:pw-nova@")
    assert all(side.notification_url.startswith("rabbit-once://") for side in sides)
    plain = parse_sides("nova", snippet(WIDE, "nova", POSITIONS[3]))
    assert [side.service for side in plain] == ["nova"]


@pytest.mark.parametrize("index", range(4))
def test_a_snippet_says_its_position(index: int) -> None:
    """What upgrade.yml reads back from a host to know where its services stand."""
    assert position_in(snippet(WIDE, "nova", POSITIONS[index]), "nova") is POSITIONS[index]


def test_a_snippet_of_no_position_is_refused() -> None:
    router_mode = render(service_config(replace(WIDE, mode=Mode.ROUTER, rabbitmq=None), "nova"))
    with pytest.raises(PlanError, match="drops notifications .router mode."):
        position_in(router_mode, "nova")
    both_rabbit = snippet(WIDE, "nova", POSITIONS[2]).replace(
        "send_url = nats://nova:pw-nova@127.0.0.1:4222/", "send_url = rabbit://nova:pw@127.0.0.1:1/"
    )
    with pytest.raises(PlanError, match="has RPC on rabbit and rabbit: no position"):
        position_in(both_rabbit, "nova")
