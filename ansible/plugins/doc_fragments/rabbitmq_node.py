"""The options of the modules that talk to a RabbitMQ node."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  plan:
    description: The plan (JSON), for a node run by M(hybridmsg.messaging.local_server).
    type: str
  host:
    description: This host's address in the plan.
    type: str
  directory:
    description: Where M(hybridmsg.messaging.local_server) runs the node.
    type: path
notes:
  - With O(plan), O(host) and O(directory), reaches a node run by
    M(hybridmsg.messaging.local_server); else the host's own node through C(rabbitmqctl).
"""
