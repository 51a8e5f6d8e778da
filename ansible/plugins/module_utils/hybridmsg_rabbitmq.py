"""The RabbitMQ node a module of hybridmsg.messaging talks to: one run by the local_server
module (options plan, host and directory), else the host's own through its rabbitmqctl."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_nodes import (
    load_plan,
)

NODE_OPTIONS = {
    "plan": {"type": "str", "no_log": True},
    "host": {"type": "str"},
    "directory": {"type": "path"},
}
NODE_TOGETHER = [("plan", "host", "directory")]


class _HostNode:
    """The host's own RabbitMQ node (a package's, OpenStack-Ansible's) via rabbitmqctl."""

    def __init__(self, module):
        self.module = module

    def ctl(self, *args, stdin=None):
        code, out, err = self.module.run_command(["rabbitmqctl", *args], data=stdin,
                                                 binary_data=True)
        if code != 0:
            self.module.fail_json(msg=f"rabbitmqctl {args[0]} failed: {(err or out).strip()}")
        return out

    def list_queues(self, vhost):
        from hybridmsg.backends.rabbitmq_node import list_queues

        return list_queues(self.ctl, vhost)


def rabbitmq_node(module):
    """The node the module's options name: ``ctl(*args, stdin=None)`` and
    ``list_queues(vhost)``."""
    params = module.params
    if not params["plan"]:
        return _HostNode(module)
    from hybridmsg.backends.rabbitmq_node import RabbitNode
    from hybridmsg.nodeconfigs import rabbit_configs

    params["kind"] = "rabbitmq"
    plan, backend, numbers = load_plan(module)
    return RabbitNode(rabbit_configs(plan, backend)[numbers[0]], Path(params["directory"]))
