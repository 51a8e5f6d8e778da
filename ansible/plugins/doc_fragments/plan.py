"""The options every module that takes a node of the plan shares."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  plan:
    description: The plan, as the C(hybridmsg.messaging.plan) filter builds it (JSON). Holds
      passwords.
    type: str
    required: true
  host:
    description: This host's address in the plan.
    type: str
    required: true
  kind:
    description: The backend.
    type: str
    required: true
    choices: [rabbitmq, nats, qdrouterd]
"""
