#!/usr/bin/python
"""A service's user, vhost, permissions and policies on a RabbitMQ cluster (mq_setup)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rabbitmq_account
short_description: Ensure a service's RabbitMQ user, vhost, permissions and policies
description:
  - What OpenStack-Ansible's mq_setup does on RabbitMQ, with no other collection needed,
    on a cluster this collection built or on an existing one (nothing else is touched).
  - Reads the node's definitions (C(rabbitmqctl export_definitions -)), compares, and
    imports only what is missing or different (C(rabbitmqctl import_definitions -)); the
    password goes through standard input, never a command line.
  - With O(plan), O(host) and O(directory), reaches a node run by
    M(hybridmsg.messaging.local_server); else the local node through C(rabbitmqctl).
options:
  user:
    description: The user.
    type: str
    required: true
  password:
    description: Its password.
    type: str
    required: true
  vhost:
    description: Its vhost (a leading slash is dropped, as hybridmsg names vhosts).
    type: str
    required: true
  configure:
    description: Configure permission (regular expression).
    type: str
    default: ".*"
  write:
    description: Write permission.
    type: str
    default: ".*"
  read:
    description: Read permission.
    type: str
    default: ".*"
  policies:
    description: Policies of the vhost, as OpenStack-Ansible's C(_oslomsg_*_policies).
    type: list
    elements: dict
    default: []
  plan:
    description: The plan (JSON), for a node run by M(hybridmsg.messaging.local_server).
    type: str
  host:
    description: This host's address in the plan.
    type: str
  directory:
    description: Where M(hybridmsg.messaging.local_server) runs the node.
    type: path
author: hybridmsg developers
"""

EXAMPLES = r"""
- name: Nova's account
  hybridmsg.messaging.rabbitmq_account:
    user: nova
    password: "{{ nova_oslomsg_rpc_password }}"
    vhost: /nova
  no_log: true
"""

RETURN = r""" # """

import json
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_nodes import (
    load_plan,
    require_hybridmsg,
)


def _ctl(module):
    """rabbitmqctl as a function of (args, stdin) -> stdout."""
    params = module.params
    if params["plan"]:
        from hybridmsg.backends.rabbitmq_node import RabbitNode
        from hybridmsg.nodeconfigs import rabbit_configs

        params["kind"] = "rabbitmq"
        plan, backend, numbers = load_plan(module)
        node = RabbitNode(rabbit_configs(plan, backend)[numbers[0]], Path(params["directory"]))
        return lambda args, stdin=None: node.ctl(*args, stdin=stdin)

    def run(args, stdin=None):
        code, out, err = module.run_command(["rabbitmqctl", *args], data=stdin,
                                            binary_data=True)
        if code != 0:
            module.fail_json(msg=f"rabbitmqctl {args[0]} failed: {(err or out).strip()}")
        return out

    return run


def main():
    module = AnsibleModule(
        argument_spec={
            "user": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "vhost": {"type": "str", "required": True},
            "configure": {"type": "str", "default": ".*"},
            "write": {"type": "str", "default": ".*"},
            "read": {"type": "str", "default": ".*"},
            "policies": {"type": "list", "elements": "dict", "default": []},
            "plan": {"type": "str", "no_log": True},
            "host": {"type": "str"},
            "directory": {"type": "path"},
        },
        required_together=[("plan", "host", "directory")],
        supports_check_mode=True,
    )
    require_hybridmsg(module)
    from hybridmsg.errors import HybridmsgError
    from hybridmsg.rabbit_accounts import Account, Policy, missing

    params = module.params
    try:
        policies = tuple(
            Policy(p["name"], p["pattern"], p.get("tags") or p.get("definition") or {},
                   int(p.get("priority", 0)), p.get("apply_to", "all"))
            for p in params["policies"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        module.fail_json(msg=f"a policy needs name, pattern and tags ({exc}); fix it")
    account = Account(params["user"], params["password"], params["vhost"].lstrip("/"),
                      params["configure"], params["write"], params["read"], policies)
    ctl = _ctl(module)
    try:
        wanted = missing(account, json.loads(ctl(["export_definitions", "-"]) or "{}"))
        if wanted is not None and not module.check_mode:
            ctl(["import_definitions", "-"], stdin=wanted)
    except HybridmsgError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=wanted is not None)


if __name__ == "__main__":
    main()
