"""The command line without servers: arguments, exit codes, config output, local plans."""

import json
import stat

import pytest

from hybridmsg import cli
from hybridmsg.errors import (
    CheckFailed,
    HybridmsgError,
    MissingBinary,
    PlanError,
    PortInUse,
    UsageError,
)
from hybridmsg.plan import BackendKind, Mode, plan_from_dict
from hybridmsg.readers import reader_config, render_reader
from hybridmsg.services import parse, render, service_config
from hybridmsg.stack import Stack, local_plan


@pytest.fixture
def deployed(tmp_path):
    """A state directory with a hybrid plan and its snippets written (no server started)."""
    stack = Stack(tmp_path / "state")
    stack.write(local_plan(Mode.HYBRID, ("nova", "glance")))
    return stack


@pytest.mark.parametrize(
    ("argv", "command", "attribute", "value"),
    [
        (["up", "--mode", "rabbit"], "up", "mode", "rabbit"),
        (["up"], "up", "mode", None),
        (["up", "--services", "nova, glance,"], "up", "services", ("nova", "glance")),
        (["up", "--state-dir", "/x"], "up", "state_dir", "/x"),
        (["up"], "up", "readers", None),
        (
            ["up", "--reader", "telemetry", "--reader", "audit:security, audit.x"],
            "up",
            "readers",
            [("telemetry", ()), ("audit", ("security", "audit.x"))],
        ),
        (["up", "--no-readers"], "up", "readers", []),
        (["up"], "up", "nodes", None),
        (["up", "--nodes", "3"], "up", "nodes", 3),
        (["faults"], "faults", "nodes", 1),
        (["faults", "--nodes", "3"], "faults", "nodes", 3),
        (["config", "nova"], "config", "service", "nova"),
        (["check", "--timeout", "2.5"], "check", "timeout", 2.5),
        (["status"], "status", "state_dir", None),
        (["down"], "down", "state_dir", None),
    ],
)
def test_arguments(argv, command, attribute, value):
    args = cli.build_parser().parse_args(argv)
    assert args.command == command
    assert getattr(args, attribute) == value


@pytest.mark.parametrize("nodes", ["0", "-1", "three"])
def test_a_bad_number_of_nodes_is_a_usage_error(nodes, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["up", "--nodes", nodes])
    assert exit_.value.code == 2
    assert f"{nodes!r} is not a number of nodes; give 1 or more" in capsys.readouterr().err


def test_more_nodes_than_test_hosts_is_a_plan_error():
    with pytest.raises(PlanError, match="9 nodes: give 1 to 8"):
        local_plan(Mode.HYBRID, nodes=9)


def test_a_local_plan_of_three_nodes_puts_each_on_its_own_test_host():
    plan = local_plan(Mode.HYBRID, ("nova",), nodes=3)
    for backend in plan.backends:
        assert [n.host for n in backend.nodes] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        assert all(n.cluster_port for n in backend.nodes)
    assert plan.rabbitmq.cookie and plan.rabbitmq.epmd_port
    assert [n.name.partition("@")[2] for n in plan.rabbitmq.nodes] == [
        "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert all(n.monitor_port for n in plan.router.nodes)
    # kept as long as the number of nodes is the same; one node again: a new backend
    assert local_plan(Mode.HYBRID, previous=plan).backends == plan.backends
    single = local_plan(Mode.HYBRID, previous=plan, nodes=1)
    assert [n.host for b in single.backends for n in b.nodes] == ["127.0.0.1", "127.0.0.1"]
    assert plan_from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad"), 2),
        (MissingBinary("no nats-server"), 3),
        (PortInUse("taken"), 3),
        (CheckFailed("1 check(s) failed"), 4),
        (HybridmsgError("other"), 1),
        (KeyboardInterrupt(), 130),
    ],
)
def test_errors_become_one_line_and_an_exit_code(error, code, monkeypatch, capsys):
    def fail(args):
        raise error

    monkeypatch.setattr("hybridmsg.commands.down.run", fail)
    assert cli.main(["down"]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("hybridmsg down: ")


def test_config_prints_the_snippet_with_password(deployed, capsys):
    assert cli.main(["config", "nova", "--state-dir", str(deployed.state_dir)]) == 0
    out = capsys.readouterr().out
    plan = deployed.plan()
    assert out == render(service_config(plan, "nova"))
    assert plan.service("nova").password in out


def test_a_reader_without_a_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["up", "--reader", ":notifications"])
    assert exit_.value.code == 2
    assert "names no reader; use NAME or NAME:TOPIC,..." in capsys.readouterr().err


@pytest.fixture
def with_reader(deployed):
    """``deployed`` with the notification reader telemetry."""
    readers = [("telemetry", ())]
    deployed.write(local_plan(Mode.HYBRID, previous=deployed.plan(), readers=readers))
    return deployed


def test_config_prints_a_readers_snippet_with_password(with_reader, capsys):
    assert cli.main(["config", "telemetry", "--state-dir", str(with_reader.state_dir)]) == 0
    out = capsys.readouterr().out
    plan = with_reader.plan()
    assert out == render_reader(reader_config(plan, "telemetry"))
    assert plan.reader("telemetry").password in out
    assert with_reader.read_reader_config("telemetry") == reader_config(plan, "telemetry")


def test_config_of_unknown_name_lists_services_and_readers(with_reader, capsys):
    assert cli.main(["config", "swift", "--state-dir", str(with_reader.state_dir)]) == 2
    assert capsys.readouterr().err == (
        "hybridmsg config: unknown service or reader 'swift'; known services: nova, glance; "
        "readers: telemetry\n"
    )


def test_reader_snippets_are_private_and_removed_with_the_reader(with_reader):
    snippet = with_reader.snippet_file("telemetry")
    assert stat.S_IMODE(snippet.stat().st_mode) == 0o600
    with_reader.write(local_plan(Mode.HYBRID, previous=with_reader.plan(), readers=[]))
    assert not snippet.exists()
    assert sorted(p.stem for p in with_reader.services_dir.iterdir()) == ["glance", "nova"]


def test_local_plan_keeps_readers_and_their_passwords():
    before = local_plan(Mode.HYBRID, ("nova",), readers=[("telemetry", ())])
    telemetry = before.reader("telemetry")
    assert (telemetry.user, telemetry.topics) == ("telemetry", ("notifications",))
    assert len(telemetry.password) >= 32
    for mode in Mode:
        assert local_plan(mode, previous=before).readers == before.readers
    again = local_plan(Mode.HYBRID, previous=before, readers=[("telemetry", ("a", "b"))])
    assert again.reader("telemetry").password == telemetry.password
    assert again.reader("telemetry").topics == ("a", "b")
    kept = local_plan(Mode.HYBRID, previous=again, readers=[("telemetry", ())])
    assert kept.reader("telemetry").topics == ("a", "b")
    assert local_plan(Mode.HYBRID, previous=before, readers=[]).readers == ()


def test_config_of_unknown_service_lists_known_ones(deployed, capsys):
    assert cli.main(["config", "swift", "--state-dir", str(deployed.state_dir)]) == 2
    assert capsys.readouterr().err == (
        "hybridmsg config: unknown service 'swift'; known services: nova, glance\n"
    )


@pytest.mark.parametrize("command", ["config nova", "status", "check"])
def test_commands_need_a_deployment(command, tmp_path, capsys):
    assert cli.main([*command.split(), "--state-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.endswith(
        f"nothing deployed in {tmp_path}; run: hybridmsg up --mode hybrid\n"
    )


def test_down_without_deployment_says_so(tmp_path, capsys):
    assert cli.main(["down", "--state-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"nothing deployed in {tmp_path}\n"


def test_state_files_are_private_and_match_the_plan(deployed):
    plan = deployed.plan()
    for path in [deployed.plan_file, *deployed.services_dir.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert plan_from_dict(json.loads(deployed.plan_file.read_text())) == plan
    assert sorted(p.stem for p in deployed.services_dir.iterdir()) == ["glance", "nova"]
    assert deployed.read_config("nova") == parse("nova", render(service_config(plan, "nova")))


def test_stale_snippets_are_removed(deployed):
    deployed.write(local_plan(Mode.HYBRID, ("nova",), previous=deployed.plan()))
    assert [p.stem for p in deployed.services_dir.iterdir()] == ["nova"]


def test_state_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HYBRIDMSG_STATE_DIR", str(tmp_path))
    assert Stack().state_dir == tmp_path


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for a in Mode for b in Mode],
)
def test_local_plan_keeps_passwords_and_ports_across_modes(first, second):
    before = local_plan(first)
    after = local_plan(second, previous=before)
    assert after.services == before.services
    assert after.service_names == ("nova", "neutron", "cinder", "glance", "heat", "keystone")
    if first.needs_rabbitmq and second.needs_rabbitmq:
        assert after.rabbitmq == before.rabbitmq
    if first.needs_router and second.needs_router:
        assert after.router == before.router
        assert after.router.kind is BackendKind.NATS


def test_local_plan_adds_services_with_new_passwords():
    before = local_plan(Mode.RABBIT, ("nova",))
    after = local_plan(Mode.RABBIT, ("nova", "heat"), previous=before)
    assert after.service("nova") == before.service("nova")
    heat = after.service("heat")
    assert (heat.user, heat.vhost) == ("heat", "heat")
    assert len(heat.password) >= 32
    assert heat.password != after.service("nova").password
