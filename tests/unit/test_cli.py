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


@pytest.fixture(autouse=True)
def default_state_dir(tmp_path, monkeypatch):
    """No test here reaches the real default state directory, whatever the code does."""
    monkeypatch.setenv("HYBRIDMSG_STATE_DIR", str(tmp_path / "default-state"))


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
        (["--state-dir", "/x", "status"], "status", "state_dir", "/x"),
        (["status", "--state-dir", "/x"], "status", "state_dir", "/x"),
        (["--state-dir", "/x", "status", "--state-dir", "/y"], "status", "state_dir", "/y"),
        (["-v", "check"], "check", "verbose", True),
        (["check", "-v"], "check", "verbose", True),
        (["check"], "check", "verbose", False),
        (["--state-dir", "/x", "-v", "probe", "nats://h/v"], "probe", "state_dir", "/x"),
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
def test_commands_need_a_deployment_and_the_hint_keeps_the_state_dir(command, tmp_path, capsys):
    assert cli.main([*command.split(), "--state-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.endswith(
        f"nothing deployed in {tmp_path}; run: hybridmsg up --state-dir {tmp_path}\n"
    )


def test_the_hint_names_no_state_dir_the_user_did_not_give(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYBRIDMSG_STATE_DIR", str(tmp_path))
    assert cli.main(["status"]) == 2
    assert capsys.readouterr().err == (
        f"hybridmsg status: nothing deployed in {tmp_path}; run: hybridmsg up\n"
    )


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("command", ["status", "up", "down", "config nova", "check"])
def test_a_state_dir_that_is_a_file_is_one_line(command, where, tmp_path, capsys):
    state = tmp_path / "state"
    state.write_text("not a directory\n")
    option = ["--state-dir", str(state)]
    argv = option + command.split() if where == "before" else command.split() + option
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"hybridmsg {command.split()[0]}: --state-dir {state}: {state} is a file, not a "
        "directory; give a directory (it is made if missing) with --state-dir DIR\n"
    )
    assert state.read_text() == "not a directory\n"


def test_a_state_dir_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert cli.main(["up", "--state-dir", str(tmp_path / "file" / "state")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "--timeout", "0"], "argument --timeout: '0' is not a number of seconds above 0"),
        (["check", "--timeout", "-1"], "argument --timeout: '-1' is not a number of seconds"),
        (["check", "--timeout", "nan"], "argument --timeout: 'nan' is not a number of seconds"),
        (["check", "--timeout", "inf"], "argument --timeout: 'inf' is not a number of seconds"),
        (["probe", "nats://h/v", "--timeout", "0"], "argument --timeout: '0' is not a number"),
        (["migrate", "--to", "hybrid", "--drain-timeout", "-5"], "'-5' is not a number of sec"),
        (["faults", "--threads", "0"], "argument --threads: '0' is not a whole number of 1 or"),
        (["faults", "--rate", "0"], "argument --rate: '0' is not a number above 0"),
        (["up", "--services", ","], "argument --services: ',' names no service; give at least"),
        (["up", "--services", ""], "argument --services: '' names no service"),
        (["up", "--reader", ":notifications"], "names no reader; use NAME or NAME:TOPIC,..."),
        (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys, monkeypatch):
    def run_nothing(name):
        raise AssertionError(f"{name} ran")

    monkeypatch.setattr(cli.importlib, "import_module", run_nothing)
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and message in err, err
    prog = " ".join(["hybridmsg", *argv[:1]]) if argv and argv[0] != "bogus" else "hybridmsg"
    assert err.startswith(f"{prog}: ") and err.endswith(f"; see {prog} --help\n"), err


def help_text(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("argv", [[], ["status"], ["up"]])
def test_help_states_the_default_state_dir_for_root(argv, monkeypatch, capsys):
    monkeypatch.delenv("HYBRIDMSG_STATE_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert (
        "(default: $HYBRIDMSG_STATE_DIR, else /var/lib/hybridmsg for root, else "
        "~/.local/state/hybridmsg; here: /var/lib/hybridmsg)"
    ) in help_text(argv, capsys)


def test_help_states_the_state_dir_in_use(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HYBRIDMSG_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    assert f"here: {tmp_path})" in help_text(["check"], capsys)


def test_a_failed_fault_run_is_one_line_in_the_error_tree(monkeypatch, capsys):
    from hybridmsg.faults.peer import PeerError

    def fail(*args, **kwargs):
        raise PeerError("the load process said nothing for 60 s; see /tmp/x/load.log")

    monkeypatch.setattr("hybridmsg.commands.faults.run_all", fail)
    assert cli.main(["faults"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("logs kept in ")
    assert err == "hybridmsg faults: the load process said nothing for 60 s; see /tmp/x/load.log\n"


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


def test_the_state_dir_keeps_each_backend_through_modes_that_do_not_use_it(deployed):
    """hybrid -> router -> rabbit -> hybrid, as `up --mode` goes: each backend comes back as
    it was (RabbitMQ: port, node name, distribution port; nats-server: port)."""
    first = deployed.plan()
    for mode in (Mode.ROUTER, Mode.RABBIT, Mode.HYBRID):
        plan = local_plan(mode, previous=deployed.plan(), kept=deployed.kept_backends())
        deployed.write(plan)
        assert set(plan.backends) <= set(first.backends), mode
    assert deployed.plan() == first
    assert {b.kind for b in deployed.kept_backends()} == {BackendKind.RABBITMQ, BackendKind.NATS}


def test_a_malformed_backends_file_is_one_line(deployed):
    deployed.backends_file.write_text('[{"kind": "nats"}]')
    with pytest.raises(PlanError) as err:
        deployed.kept_backends()
    assert str(err.value) == (
        f"{deployed.backends_file} is malformed (KeyError('nodes')); fix or remove it"
    )


def test_the_state_dir_keeps_a_backend_per_number_of_nodes(deployed):
    single = deployed.plan()
    deployed.write(local_plan(Mode.HYBRID, previous=single, nodes=3, kept=deployed.kept_backends()))
    cluster = deployed.plan()
    assert not set(cluster.backends) & set(single.backends)
    again = local_plan(Mode.HYBRID, previous=cluster, nodes=1, kept=deployed.kept_backends())
    assert again.backends == single.backends
