"""3 test hosts of this machine for the Ansible collection (``ansible/``): a local connection
with a directory and a loopback address (127.0.0.2-4, as ``up --nodes 3``) per host, the
servers run by hybridmsg's own runners (``hybridmsg_service_manager: process``, no init
system here). The same playbooks run unchanged on real hosts.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from hybridmsg.backends.ports import free_port
from hybridmsg.backends.process import PidFile
from hybridmsg.backends.qdrouterd import ENV_BINARY
from hybridmsg.backends.rabbitmq_node import RabbitNode
from hybridmsg.certs import ensure_certificates, local_tls
from hybridmsg.nodeconfigs import rabbit_configs
from hybridmsg.plan import Backend, BackendKind, Mode, Node, Plan, Service
from hybridmsg.stack import host_addresses
from tests.conftest import private_directory

COLLECTION = Path(__file__).resolve().parents[2] / "ansible"
PLAYBOOKS = COLLECTION / "playbooks"
BIN = Path(sys.executable).parent
SERVICES = ("nova", "glance")
HOSTS = ("host1", "host2", "host3")
ROUTER_GROUPS = {"nats": "nats_all", "qdrouterd": "qdrouterd_all"}
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def ansible_env(collections: Path) -> dict[str, str]:
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
        env=ansible_env(directory / "collections"), capture_output=True, text=True, timeout=600,
    )


def recap(output: str) -> dict[str, tuple[int, int, int]]:
    """host -> (changed, unreachable, failed) from the PLAY RECAP."""
    return {host: (int(c), int(u), int(f)) for host, c, u, f in RECAP.findall(output)}


def snippet_path(directory: Path, host: str, service: str) -> Path:
    return directory / host / "services" / f"{service}.conf"


def inventory(directory: Path, router: str = "nats", **extra) -> dict:
    """The 3 test hosts in every group (the router's: nats_all or qdrouterd_all), each with
    its own directories and address. qdrouterd authenticates services by client
    certificate: its inventory has mutual TLS on every server, from a CA in ``directory``."""
    hosts = {}
    for name, address in zip(HOSTS, host_addresses(3), strict=True):
        root = directory / name
        hosts[name] = {
            "hybridmsg_address": address,
            "hybridmsg_config_dir": str(root / "etc"),
            "hybridmsg_run_dir": str(root / "run"),
            "hybridmsg_snippet_dir": str(root / "services"),
            # hybrid mode's services spool notifications on their host's disk
            "oslomsg_notify_spool_dir": str(root / "spool" / "{service}"),
            # one epmd on this machine for the 3 nodes: names and distribution ports differ
            "hybridmsg_rabbitmq_nodename": f"hybridmsg-{name}-{os.getpid()}@{address}",
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
        "hybridmsg_qdrouterd_port": free_port(),
        "hybridmsg_qdrouterd_cluster_port": free_port(),
        **{f"{name}_oslomsg_rpc_password": secrets.token_urlsafe(18) for name in SERVICES},
    }
    if router == "qdrouterd":
        tls = local_tls(directory / "tls", mutual=True)
        ensure_certificates(tls, directory / "tls", host_addresses(3), SERVICES)
        variables |= {"hybridmsg_tls": {key: value for key, value in vars(tls).items() if value},
                      "qdrouterd_bin": os.environ[ENV_BINARY]}
    children = {"rabbitmq_all": members, ROUTER_GROUPS[router]: members,
                "hybridmsg_clients": members}
    return {"all": {"vars": variables | extra, "hosts": hosts, "children": children}}


def write_inventory(directory: Path, data: dict) -> None:
    (directory / "inventory.yml").write_text(yaml.safe_dump(data))


def passwords(data: dict) -> list[str]:
    """Every secret of an inventory: the services' passwords and the Erlang cookie."""
    variables = data["all"]["vars"]
    return [variables[f"{name}_oslomsg_rpc_password"] for name in SERVICES] + [
        variables["hybridmsg_rabbitmq_cookie"]]


def running(directory: Path, kind: str) -> list[str]:
    """The test hosts whose server of ``kind`` (its run directory) is alive."""
    return [host for host in HOSTS
            if any(PidFile(pid).alive() for pid in (directory / host / "run" / kind).glob("*.pid"))]


def rabbit_node(directory: Path, data: dict, host: str = HOSTS[0]) -> RabbitNode:
    """The RabbitMQ node site.yml runs on ``host`` of the inventory ``data`` (to ask it
    with rabbitmqctl)."""
    variables, hosts = data["all"]["vars"], data["all"]["hosts"]
    nodes = tuple(Node(each["hybridmsg_address"], variables["hybridmsg_rabbitmq_port"],
                       each["hybridmsg_rabbitmq_nodename"], each["hybridmsg_rabbitmq_dist_port"])
                  for each in hosts.values())
    backend = Backend(BackendKind.RABBITMQ, nodes, variables["hybridmsg_rabbitmq_cookie"],
                      variables["hybridmsg_rabbitmq_epmd_port"])
    plan = Plan(Mode.RABBIT, (Service(SERVICES[0], SERVICES[0], SERVICES[0], "-"),), backend)
    config = rabbit_configs(plan, backend)[list(hosts).index(host)]
    return RabbitNode(config, directory / host / "run" / "rabbitmq")


@contextmanager
def hosts_directory(prefix: str) -> Iterator[Path]:
    """A directory for the 3 hosts, with the collection installed for ansible-playbook;
    every server started there is stopped at the end."""
    with private_directory(prefix) as path:
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
