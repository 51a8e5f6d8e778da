"""The Ansible collection (``ansible/``) on the 3 test hosts of ``ansible_hosts``: greenfield
``site.yml`` in hybrid and router mode with NATS (and with qdrouterd where
``HYBRIDMSG_QDROUTERD`` is set; rabbit mode is the start of ``test_ansible_upgrade.py``)
builds each backend as a cluster of the 3 hosts, ``check.yml`` proves every service and
every node with real traffic, and a second ``site.yml`` changes nothing. Bad inventories fail
with a clear message; ansible-lint reports nothing; the collection builds.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridmsg.stack import host_addresses
from tests.conftest import private_directory
from tests.integration.ansible_hosts import (
    BIN,
    COLLECTION,
    HOSTS,
    SERVICES,
    ansible_env,
    hosts_directory,
    inventory,
    passwords,
    playbook,
    recap,
    running,
    snippet_path,
    write_inventory,
)
from tests.integration.conftest import needs_qdrouterd

#: the URL schemes of a service's snippet: RPC by router, notifications by mode (None: dropped)
RPC = {"nats": "nats", "qdrouterd": "amqp"}
NOTIFY = {"hybrid": "rabbit-once", "router": None}


@pytest.fixture(
    scope="module",
    params=[("hybrid", "nats"), ("router", "nats"),
            pytest.param(("hybrid", "qdrouterd"), marks=needs_qdrouterd),
            pytest.param(("router", "qdrouterd"), marks=needs_qdrouterd)],
    ids="-".join,
)
def greenfield(request) -> Iterator[dict]:
    """``site.yml -e hybridmsg_mode=MODE`` on 3 fresh test hosts with the router's group."""
    mode, router = request.param
    with hosts_directory("hybridmsg-ansible-") as directory:
        data = inventory(directory, router)
        write_inventory(directory, data)
        first = playbook(directory, "site.yml", "-e", f"hybridmsg_mode={mode}")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        yield {"directory": directory, "mode": mode, "router": router, "inventory": data,
               "first": first}


def test_site_builds_every_node_of_each_cluster(greenfield):
    directory, mode, router = greenfield["directory"], greenfield["mode"], greenfield["router"]
    hosts = recap(greenfield["first"].stdout)
    assert sorted(hosts) == list(HOSTS)
    assert all(changed > 0 and failed == 0 for changed, _, failed in hosts.values())
    assert running(directory, router) == list(HOSTS)
    assert running(directory, "rabbitmq") == (list(HOSTS) if mode == "hybrid" else [])
    rpc, notify = RPC[router], NOTIFY[mode]
    for host in HOSTS:
        for name in SERVICES:
            snippet = snippet_path(directory, host, name).read_text()
            assert f"transport_url = {rpc}://" in snippet
            if notify:
                assert f"transport_url = {notify}://" in snippet
            else:
                assert "driver = noop" in snippet


def test_check_passes_through_every_node(greenfield):
    done = playbook(greenfield["directory"], "check.yml")
    assert done.returncode == 0, done.stdout[-3000:]
    for address in host_addresses(3):
        assert re.search(rf"nova @{re.escape(address)}:\d+\s+ok", done.stdout), done.stdout
    steps = 4 if greenfield["mode"] == "hybrid" else 3  # router mode keeps no notifications
    for name in SERVICES:
        assert re.search(rf'"{name}' + r"\s+ok \d+ ms" * steps, done.stdout), done.stdout


def test_second_run_changes_nothing_on_any_host(greenfield):
    again = playbook(greenfield["directory"], "site.yml", "-e",
                     f"hybridmsg_mode={greenfield['mode']}")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout) == dict.fromkeys(HOSTS, (0, 0, 0))


def test_no_password_in_ansible_output(greenfield):
    output = greenfield["first"].stdout + greenfield["first"].stderr
    for secret in passwords(greenfield["inventory"]):
        assert secret not in output


def _fails_with(directory: Path, data: dict, message: str, *args: str) -> str:
    write_inventory(directory, data)
    done = playbook(directory, "site.yml", *args)
    assert done.returncode != 0
    assert message in done.stdout, done.stdout[-3000:]
    return done.stdout


@pytest.fixture
def scratch() -> Iterator[Path]:
    with hosts_directory("hybridmsg-ansible-bad-") as path:
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
                              env=ansible_env(path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failure(s), 0 warning(s)" in done.stdout + done.stderr


def test_the_collection_builds(tmp_path):
    done = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION),
                           "--output-path", str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "hybridmsg-messaging-1.0.0.tar.gz").is_file()
