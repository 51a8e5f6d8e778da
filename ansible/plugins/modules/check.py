#!/usr/bin/python
"""Real oslo.messaging traffic for every service snippet, as ``hybridmsg check``."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check
short_description: Prove services' messaging with real traffic, as C(hybridmsg check)
description:
  - For every service snippet (as the oslomsg_config role writes them), an RPC call, a
    cast, a fanout to two RPC servers and, when the mode keeps notifications, a
    notification received by a listener, with C(hybridmsg.check); a snippet in the middle
    of a migration (C(dual://)) is checked on both of its transports.
  - Then the first service once more through each node of its backends alone, so that
    every node of every cluster carries traffic.
  - Never changes anything. Needs the hybridmsg Python package on the managed host.
options:
  snippets:
    description: Service name to snippet path.
    type: dict
    required: true
  timeout:
    description: Seconds each step may take.
    type: float
    default: 10
author: hybridmsg developers
"""

EXAMPLES = r"""
- name: Check every service
  hybridmsg.messaging.check:
    snippets:
      nova: /etc/nova/hybridmsg.conf
"""

RETURN = r"""
rows:
  description: One line per service (and node) and step, as C(hybridmsg check) prints.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_nodes import (
    require_hybridmsg,
)


def main():
    module = AnsibleModule(
        argument_spec={"snippets": {"type": "dict", "required": True},
                       "timeout": {"type": "float", "default": 10.0}},
        supports_check_mode=True,
    )
    require_hybridmsg(module)
    from hybridmsg.check import check_all, failure_lines, format_row
    from hybridmsg.errors import HybridmsgError
    from hybridmsg.services import on_node, parse_sides

    configs = []
    try:
        for service, path in module.params["snippets"].items():
            with open(path, encoding="utf-8") as snippet:
                configs += parse_sides(service, snippet.read())
    except OSError as exc:
        module.fail_json(msg=f"cannot read {exc.filename} ({exc.strerror}); run site.yml first")
    except HybridmsgError as exc:
        module.fail_json(msg=str(exc))
    first = configs[0]
    nodes = max(len(url.partition("://")[2].partition("/")[0].split(","))
                for url in (first.rpc_url, first.notification_url or ""))
    if nodes > 1:
        configs += [on_node(first, number) for number in range(nodes)]
    results = check_all(configs, module.params["timeout"])
    width = max(len(result.service) for result in results) + 2
    rows = [format_row(None, width)] + [format_row(result, width) for result in results]
    failures = [line for result in results for line in failure_lines(result)]
    if failures:
        module.fail_json(msg=f"{len(failures)} check(s) failed; first: {failures[0]}",
                         rows=rows, failures=failures)
    module.exit_json(changed=False, rows=rows)


if __name__ == "__main__":
    main()
