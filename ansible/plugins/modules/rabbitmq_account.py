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
extends_documentation_fragment:
  - hybridmsg.messaging.rabbitmq_node
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_nodes import (
    require_hybridmsg,
)
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_rabbitmq import (
    NODE_OPTIONS,
    NODE_TOGETHER,
    rabbitmq_node,
)


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
            **NODE_OPTIONS,
        },
        required_together=NODE_TOGETHER,
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
    node = rabbitmq_node(module)
    try:
        wanted = missing(account, json.loads(node.ctl("export_definitions", "-") or "{}"))
        if wanted is not None and not module.check_mode:
            node.ctl("import_definitions", "-", stdin=wanted)
    except HybridmsgError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=wanted is not None)


if __name__ == "__main__":
    main()
