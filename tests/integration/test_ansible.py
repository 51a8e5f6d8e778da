"""The Ansible collection (``ansible/``) on 3 test hosts of this machine: a local connection
with a directory and a loopback address (127.0.0.2-4, as ``up --nodes 3``) per host, the
servers run by hybridmsg's own runners (``hybridmsg_service_manager: process``, no init
system here). ``site.yml`` in hybrid mode builds a 3-node RabbitMQ cluster and a 3-node NATS
cluster, ``check.yml`` proves every service and every node with real traffic, and a second
``site.yml`` changes nothing. Bad inventories fail with a clear message; ansible-lint
reports nothing; the collection builds.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hybridmsg.backends.ports import free_port
from hybridmsg.backends.process import PidFile
from hybridmsg.stack import host_addresses
from tests.conftest import private_directory

COLLECTION = Path(__file__).resolve().parents[2] / "ansible"
PLAYBOOKS = COLLECTION / "playbooks"
BIN = Path(sys.executable).parent
SERVICES = ("nova", "glance")
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _env(collections: Path) -> dict[str, str]:
    return os.environ | {
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(collections / "tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }


def playbook(directory: Path, playbook_name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(directory / "inventory.yml"),
         str(PLAYBOOKS / playbook_name), *args],
        env=_env(directory / "collections"), capture_output=True, text=True, timeout=600,
    )


def recap(output: str) -> dict[str, tuple[int, int, int]]:
    """host -> (changed, unreachable, failed) from the PLAY RECAP."""
    return {host: (int(c), int(u), int(f)) for host, c, u, f in RECAP.findall(output)}


def inventory(directory: Path, **extra) -> dict:
    """3 test hosts in every group, each with its own directories and address."""
    hosts = {}
    for number, address in enumerate(host_addresses(3), start=1):
        root = directory / f"host{number}"
        hosts[f"host{number}"] = {
            "hybridmsg_address": address,
            "hybridmsg_config_dir": str(root / "etc"),
            "hybridmsg_run_dir": str(root / "run"),
            "hybridmsg_snippet_dir": str(root / "services"),
            # one epmd on this machine for the 3 nodes: names and distribution ports differ
            "hybridmsg_rabbitmq_nodename": f"hybridmsg-ansible{number}-{os.getpid()}@{address}",
            "hybridmsg_rabbitmq_dist_port": free_port(address),
        }
    members = {"hosts": dict.fromkeys(hosts)}
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "hybridmsg_service_manager": "process",
        "hybridmsg_services": list(SERVICES),
        "hybridmsg_rabbitmq_port": free_port(),
        "hybridmsg_rabbitmq_epmd_port": free_port(),
        "hybridmsg_rabbitmq_cookie": secrets.token_hex(20),
        "hybridmsg_nats_port": free_port(),
        "hybridmsg_nats_cluster_port": free_port(),
        "hybridmsg_nats_monitor_port": free_port(),
        **{f"{name}_oslomsg_rpc_password": secrets.token_urlsafe(18) for name in SERVICES},
        **extra,
    }
    return {"all": {"vars": variables, "hosts": hosts, "children": {
        "rabbitmq_all": members, "nats_all": members, "hybridmsg_clients": members}}}


def write_inventory(directory: Path, data: dict) -> None:
    (directory / "inventory.yml").write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def directory() -> Iterator[Path]:
    with private_directory("hybridmsg-ansible-") as path:
        path.chmod(0o711)  # the rabbitmq user must reach each host's run directory
        namespace = path / "collections" / "ansible_collections" / "hybridmsg"
        namespace.mkdir(parents=True)
        (namespace / "messaging").symlink_to(COLLECTION)
        (path / "collections" / "tmp").mkdir()
        try:
            yield path
        finally:
            pids = sorted(path.glob("host*/run/*/*.pid"), key=lambda p: p.parent.name == "epmd")
            for pid in pids:
                PidFile(pid).stop()


@pytest.fixture(scope="module")
def hybrid(directory: Path) -> dict:
    data = inventory(directory)
    write_inventory(directory, data)
    first = playbook(directory, "site.yml", "-e", "hybridmsg_mode=hybrid")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    return {"inventory": data, "first": first}


def _passwords(data: dict) -> list[str]:
    variables = data["all"]["vars"]
    return [variables[f"{name}_oslomsg_rpc_password"] for name in SERVICES] + [
        variables["hybridmsg_rabbitmq_cookie"]]


def test_site_builds_every_node_of_both_clusters(hybrid, directory):
    hosts = recap(hybrid["first"].stdout)
    assert sorted(hosts) == ["host1", "host2", "host3"]
    assert all(changed > 0 and failed == 0 for changed, _, failed in hosts.values())
    for number in (1, 2, 3):
        run = directory / f"host{number}" / "run"
        assert PidFile(run / "nats" / "nats-server.pid").alive()
        assert PidFile(run / "rabbitmq" / "rabbitmq-server.pid").alive()
        for name in SERVICES:
            snippet = (directory / f"host{number}" / "services" / f"{name}.conf").read_text()
            assert "transport_url = nats://" in snippet
            assert "transport_url = rabbit-once://" in snippet


def test_check_passes_through_every_node(hybrid, directory):
    done = playbook(directory, "check.yml")
    assert done.returncode == 0, done.stdout[-3000:]
    for address in host_addresses(3):
        assert re.search(rf"nova @{re.escape(address)}:\d+\s+ok", done.stdout), done.stdout
    for name in SERVICES:
        assert re.search(rf'"{name}\s+ok.*ok.*ok.*ok', done.stdout), done.stdout


def test_second_run_changes_nothing_on_any_host(hybrid, directory):
    again = playbook(directory, "site.yml", "-e", "hybridmsg_mode=hybrid")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout) == {f"host{n}": (0, 0, 0) for n in (1, 2, 3)}


def test_no_password_in_ansible_output(hybrid):
    output = hybrid["first"].stdout + hybrid["first"].stderr
    for secret in _passwords(hybrid["inventory"]):
        assert secret not in output


def _fails_with(directory: Path, data: dict, message: str, *args: str) -> str:
    write_inventory(directory, data)
    done = playbook(directory, "site.yml", *args)
    assert done.returncode != 0
    assert message in done.stdout, done.stdout[-3000:]
    return done.stdout


@pytest.fixture
def scratch() -> Iterator[Path]:
    with private_directory("hybridmsg-ansible-bad-") as path:
        namespace = path / "collections" / "ansible_collections" / "hybridmsg"
        namespace.mkdir(parents=True)
        (namespace / "messaging").symlink_to(COLLECTION)
        (path / "collections" / "tmp").mkdir()
        yield path


def test_a_missing_group_is_named(scratch):
    data = inventory(scratch)
    del data["all"]["children"]["nats_all"]
    out = _fails_with(scratch, data, "inventory group nats_all or qdrouterd_all is missing "
                      "or empty", "-e", "hybridmsg_mode=hybrid")
    assert "Traceback" not in out


def test_an_unknown_transport_is_named(scratch):
    data = inventory(scratch, nova_oslomsg_rpc_transport="zmq")
    _fails_with(scratch, data, "nova_oslomsg_rpc_transport 'zmq' is not one of rabbit, nats, "
                "amqp")


def test_an_unreachable_host_stops_the_run_before_any_change(scratch):
    data = inventory(scratch)
    data["all"]["hosts"]["host3"].update(ansible_connection="ssh", ansible_port=1,
                                         ansible_host="127.0.0.4")
    out = _fails_with(scratch, data, "UNREACHABLE")
    assert all(changed == 0 for changed, _, _ in recap(out).values())
    assert not list(scratch.glob("host*/etc"))


def test_ansible_lint_reports_nothing():
    with private_directory("hybridmsg-lint-") as path:
        namespace = path / "ansible_collections" / "hybridmsg"
        namespace.mkdir(parents=True)
        (namespace / "messaging").symlink_to(COLLECTION)
        done = subprocess.run([str(BIN / "ansible-lint"), "--format=pep8"], cwd=COLLECTION,
                              env=_env(path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failure(s), 0 warning(s)" in done.stdout + done.stderr


def test_the_collection_builds(tmp_path):
    done = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION),
                           "--output-path", str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "hybridmsg-messaging-1.0.0.tar.gz").is_file()
