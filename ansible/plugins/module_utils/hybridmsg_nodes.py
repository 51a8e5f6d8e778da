"""What the modules of hybridmsg.messaging share: the hybridmsg package (on the managed
host), the plan argument and the nodes of the plan on this host."""

from __future__ import annotations

import json
import sys

PLAN_OPTIONS = {
    "plan": {"type": "str", "required": True, "no_log": True},
    "host": {"type": "str", "required": True},
    "kind": {"type": "str", "required": True, "choices": ["rabbitmq", "nats", "qdrouterd"]},
}


def require_hybridmsg(module):
    """Fail with what to do when the hybridmsg package is missing on the managed host."""
    try:
        import hybridmsg  # noqa: F401
    except ImportError:
        module.fail_json(
            msg=f"the hybridmsg package is not installed for {sys.executable}: pip install "
            "hybridmsg there, or set ansible_python_interpreter to a Python that has it"
        )


def load_plan(module):
    """(plan, backend of ``kind``, numbers of this host's nodes in it); fails clearly."""
    require_hybridmsg(module)
    from hybridmsg.errors import HybridmsgError
    from hybridmsg.plan import plan_from_dict

    params = module.params
    try:
        plan = plan_from_dict(json.loads(params["plan"]))
    except ValueError:
        module.fail_json(msg="plan is not the JSON of hybridmsg.messaging.plan; pass it as is")
    except HybridmsgError as exc:
        module.fail_json(msg=str(exc))
    backends = [b for b in plan.backends if b.kind.value == params["kind"]]
    numbers = [n for n, node in enumerate(backends[0].nodes) if node.host == params["host"]] \
        if backends else []
    if not numbers:
        module.fail_json(
            msg=f"{params['host']} is no node of the plan's {params['kind']} backend; check "
            "the inventory group and hybridmsg_address of this host"
        )
    return plan, backends[0], numbers
