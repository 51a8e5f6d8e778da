"""``upgrade.yml`` on the 3 test hosts of ``ansible_hosts``: rabbit -> hybrid -> rabbit,
live, under load, everything counted.

``site.yml`` builds a rabbit-mode deployment (greenfield rabbit: ``check.yml`` passes, a
second run changes nothing). Then nova runs as real processes spread over the hosts (the
migration test's workload: a notification listener and a client on host1, an RPC server on
host2 and one on host3), each reading its own host's snippet. ``hybridmsg_restart_command``
is ``restart_request``: it asks the workload to restart the processes of a service on a
host, replacement first, as a deployer's command restarts a service's units. upgrade.yml
moves RPC to the router (NATS, or qdrouterd where ``HYBRIDMSG_QDROUTERD`` is set), stops
half way (the restart command fails once, on host2 in stage 2) and resumes when run again,
then moves it back. Every call must have had its reply, every cast and notification been
handled exactly once, and every stage gone host by host.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Client, Listener
from pathlib import Path

import pytest

from tests.integration.ansible_hosts import (
    HOSTS,
    SERVICES,
    hosts_directory,
    inventory,
    passwords,
    playbook,
    rabbit_node,
    recap,
    running,
    snippet_path,
    write_inventory,
)
from tests.integration.conftest import ROOT, needs_qdrouterd
from tests.integration.migration_workload import (
    SLOTS,
    Workload,
    assert_nothing_lost,
    report,
)

#: the service under load, and the host each of its processes runs on
LOADED = SERVICES[0]
HOST_OF = {"listener": "host1", "client": "host1", "server-1": "host2", "server-2": "host3"}
#: the restart that fails once: (position, host)
REFUSED = (2, "host2")
RPC = {"nats": "nats", "qdrouterd": "amqp"}


class RestartDesk:
    """Where ``restart_request`` calls: restarts the workload's processes of the service
    that read the config named (those of that host), and records each request as
    (position, host, service). Refuses the first request for ``REFUSED``."""

    def __init__(self, workload: Workload, address: Path) -> None:
        self.workload = workload
        self.address = str(address)
        self.requests: list[tuple[int, str, str]] = []
        self.refused = False
        self.listener = Listener(self.address, family="AF_UNIX")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            with self.listener.accept() as connection:
                request = connection.recv()
                if request is None:
                    return
                connection.send(self._restart(request))

    def _restart(self, request: dict) -> str:
        position, service = int(request["stage"]), request["service"]
        host = Path(request["config"]).parent.parent.name
        self.requests.append((position, host, service))
        if (position, host) == REFUSED and not self.refused:
            self.refused = True
            return "refused once by the test"
        slots = tuple(slot for slot in SLOTS if HOST_OF[slot] == host)
        try:
            if service == LOADED:
                self.workload.restart(service, slots)
        except Exception as exc:  # the playbook shows it
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    def close(self) -> None:
        with Client(self.address, family="AF_UNIX") as connection:
            connection.send(None)
        self.thread.join(timeout=30)
        self.listener.close()


@pytest.fixture(scope="module", params=["nats", pytest.param("qdrouterd", marks=needs_qdrouterd)])
def rabbit(request) -> Iterator[dict]:
    """``site.yml -e hybridmsg_mode=rabbit`` on 3 fresh test hosts with the router's group
    (used by the upgrade only) and the test's restart command."""
    router = request.param
    with hosts_directory("hybridmsg-ansible-upgrade-") as directory:
        command = (f"cd {ROOT} && {sys.executable} -m tests.integration.restart_request "
                   f"{directory / 'restart.sock'}")
        data = inventory(directory, router, hybridmsg_restart_command=command)
        write_inventory(directory, data)
        first = playbook(directory, "site.yml", "-e", "hybridmsg_mode=rabbit")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
        yield {"directory": directory, "router": router, "inventory": data, "first": first}


def test_rabbit_greenfield_passes_check_and_a_second_run_changes_nothing(rabbit):
    directory = rabbit["directory"]
    assert all(changed > 0 for changed, _, _ in recap(rabbit["first"].stdout).values())
    assert running(directory, "rabbitmq") == list(HOSTS)
    assert running(directory, rabbit["router"]) == []
    assert "transport_url = rabbit://" in snippet_path(directory, "host2", "nova").read_text()
    checked = playbook(directory, "check.yml")
    assert checked.returncode == 0, checked.stdout[-3000:]
    again = playbook(directory, "site.yml", "-e", "hybridmsg_mode=rabbit")
    assert recap(again.stdout) == dict.fromkeys(HOSTS, (0, 0, 0)), again.stdout[-3000:]
    for secret in passwords(rabbit["inventory"]):
        assert secret not in rabbit["first"].stdout + again.stdout + checked.stdout


def _upgrade(directory: Path, to: str, lines: list[str]) -> subprocess.CompletedProcess:
    started = time.monotonic()
    done = playbook(directory, "upgrade.yml", "-e", f"hybridmsg_upgrade_to={to}")
    lines.append(f"upgrade.yml to {to}: exit {done.returncode} in "
                 f"{time.monotonic() - started:.1f} s, changed {recap(done.stdout)}")
    return done


def _rpc_schemes(directory: Path) -> set[str]:
    return {snippet_path(directory, host, name).read_text().split("transport_url = ")[1]
            .partition(":")[0] for host in HOSTS for name in SERVICES}


def test_upgrade_to_hybrid_and_back_under_load(rabbit, tmp_path):
    directory, router = rabbit["directory"], rabbit["router"]
    record = snippet_path(directory, "host1", "nova").with_name("migration.json")
    lines: list[str] = []
    workload = Workload(lambda service, slot: snippet_path(directory, HOST_OF[slot], service),
                        tmp_path, (LOADED,), note=lines.append)
    workload.start()
    desk = RestartDesk(workload, directory / "restart.sock")
    try:
        runs = [_upgrade(directory, "hybrid", lines)]
        assert "refused once by the test" in runs[0].stdout, runs[0].stdout[-3000:]
        assert record.read_text() == '{"position": 1}\n'
        for to in ("hybrid", "hybrid", "rabbit"):  # resumed, then nothing to do, then back
            runs.append(_upgrade(directory, to, lines))
            assert runs[-1].returncode == 0, runs[-1].stdout[-3000:]
            assert _rpc_schemes(directory) == {RPC[router] if to == "hybrid" else "rabbit"}
            assert not record.exists()
        assert recap(runs[2].stdout) == dict.fromkeys(HOSTS, (0, 0, 0))
        assert running(directory, router) == []  # stopped after the roll back
        workload.finish(rabbit_node(directory, rabbit["inventory"]))
    finally:
        desk.close()
        workload.kill()
        print("\n".join(lines))  # captured: pytest shows it when the test fails (or with -rP)
    counts = report(workload.results, f"upgrade.yml rabbit -> hybrid ({router}) -> rabbit on 3 "
                    f"hosts: {workload.restarts} {LOADED} restarts")
    assert_nothing_lost(counts)
    outputs = [run.stdout + run.stderr for run in runs]
    for secret in passwords(rabbit["inventory"]):
        assert not any(secret in out for out in outputs)
    assert not any("errantly" in out for out in outputs)  # nothing printed around Ansible
    on_loaded = [(position, host) for position, host, service in desk.requests
                 if service == LOADED]
    by_host = [(position, host) for position in (1, 2, 3) for host in HOSTS]
    # forward, refused on host2 in stage 2, resumed at stage 2; then back, host by host
    assert on_loaded == by_host[:5] + by_host[3:] + [
        (position, host) for position in (2, 1, 0) for host in HOSTS]
