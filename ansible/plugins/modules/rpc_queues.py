#!/usr/bin/python
"""The RPC queues of services' vhosts on RabbitMQ: drained, or empty (a migration's checks)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rpc_queues
short_description: Wait until services' RPC queues on RabbitMQ are drained, or prove them empty
description:
  - The checks of hybridmsg's staged migration (C(hybridmsg.migration.verify)) that
    upgrade.yml runs between rolling restarts. RPC queues are every queue of a vhost except
    notification queues (C(TOPIC.PRIORITY), e.g. C(notifications.info)).
  - O(state=drained) waits, at most O(timeout) seconds, until no RPC queue holds a message
    (ready or unacknowledged), so that what clients sent there before they moved to the
    router was consumed by servers that still listen on RabbitMQ.
  - O(state=empty) looks once and fails when an RPC queue holds a message, naming it; such
    a message shows a process that still sends on RabbitMQ although its servers are about to
    stop listening there.
  - Never changes anything. Needs the hybridmsg Python package on the managed host.
options:
  vhosts:
    description: The services' vhosts.
    type: list
    elements: str
    required: true
  state:
    description: C(drained) waits; C(empty) looks once.
    type: str
    default: drained
    choices: [drained, empty]
  timeout:
    description: Seconds O(state=drained) waits at most.
    type: float
    default: 120
extends_documentation_fragment:
  - hybridmsg.messaging.rabbitmq_node
author: hybridmsg developers
"""

EXAMPLES = r"""
- name: Wait until nova's RPC queues are drained
  hybridmsg.messaging.rpc_queues:
    vhosts: [nova]
"""

RETURN = r"""
lines:
  description: What the wait saw, one line a poll.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_nodes import (
    require_hybridmsg,
)
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_rabbitmq import (
    NODE_OPTIONS,
    NODE_TOGETHER,
    rabbitmq_node,
)

UPGRADE = "ansible-playbook upgrade.yml"


def main():
    module = AnsibleModule(
        argument_spec={
            "vhosts": {"type": "list", "elements": "str", "required": True},
            "state": {"type": "str", "default": "drained", "choices": ["drained", "empty"]},
            "timeout": {"type": "float", "default": 120.0},
            **NODE_OPTIONS,
        },
        required_together=NODE_TOGETHER,
        supports_check_mode=True,
    )
    require_hybridmsg(module)
    from hybridmsg.errors import HybridmsgError
    from hybridmsg.migration.verify import drain_rabbit, nothing_left

    node = rabbitmq_node(module)
    vhosts = tuple(vhost.lstrip("/") for vhost in module.params["vhosts"])
    lines = []
    try:
        if module.params["state"] == "drained":
            drain_rabbit(node, vhosts, module.params["timeout"], lines.append, UPGRADE)
        else:
            nothing_left(node, vhosts, f"{UPGRADE} -e hybridmsg_upgrade_to=rabbit")
    except HybridmsgError as exc:
        module.fail_json(msg=str(exc), lines=lines)
    module.exit_json(changed=False, lines=lines)


if __name__ == "__main__":
    main()
