#!/usr/bin/python
"""Write this host's server configuration, rendered by hybridmsg from the plan."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_files
short_description: Write a messaging server's configuration rendered by hybridmsg
description:
  - Renders the files of this host's node of one backend of a hybridmsg plan with
    C(hybridmsg.nodeconfigs.node_files) (the renderers of C(hybridmsg up)) and writes them to
    O(config_dir)/KIND, mode 0640 (they hold secrets; the Erlang cookie 0600).
  - Password hashes already in the files (nats-server.conf, RabbitMQ's definitions.json) are
    kept while the password is the same, so that a second run changes nothing.
  - Needs the hybridmsg Python package on the managed host.
options:
  config_dir:
    description: Directory of every backend's configuration directory.
    type: path
    default: /etc/hybridmsg
  owner:
    description: Owner of the files (the server's user), else the current one.
    type: str
  group:
    description: Group that may read the files (the server's), else the current one.
    type: str
extends_documentation_fragment:
  - hybridmsg.messaging.plan
author: hybridmsg developers
"""

EXAMPLES = r"""
- name: Write nats-server.conf
  hybridmsg.messaging.node_files:
    plan: "{{ hybridmsg_plan }}"
    host: "{{ hybridmsg_address }}"
    kind: nats
  no_log: true
"""

RETURN = r"""
files:
  description: Paths written or already up to date.
  type: list
  elements: str
  returned: always
environment:
  description: Environment the server runs with (RabbitMQ node name, ports).
  type: dict
  returned: always
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hybridmsg.messaging.plugins.module_utils.hybridmsg_nodes import (
    PLAN_OPTIONS,
    load_plan,
)


def _current(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _write(module, path, text):
    """Write ``text`` to ``path`` unless it is there; True when written."""
    if _current(path) == text:
        return False
    if not module.check_mode:
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o750, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        module.atomic_move(temporary, path)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(PLAN_OPTIONS, config_dir={"type": "path", "default": "/etc/hybridmsg"},
                           owner={"type": "str"}, group={"type": "str"}),
        supports_check_mode=True,
    )
    plan, backend, numbers = load_plan(module)
    from hybridmsg.backends.nats import password_hashes
    from hybridmsg.nodeconfigs import COOKIE, DEFINITIONS, node_files
    from hybridmsg.rabbit_accounts import keep_hashes

    config_dir = module.params["config_dir"]
    directory = os.path.join(config_dir, backend.kind.value)
    hashes = password_hashes(_current(os.path.join(directory, "nats-server.conf")) or "")
    mine = [files for files in node_files(plan, config_dir, hashes)
            if files.kind is backend.kind and files.node in
            [backend.nodes[number] for number in numbers]]
    passwords = {account.user: account.password for account in (*plan.services, *plan.readers)}
    changed, paths, environment = False, [], {}
    for files in mine:
        environment.update(files.environment)
        for name, text in files.files.items():
            path = os.path.join(directory, name)
            if name == DEFINITIONS:
                text = keep_hashes(text, _current(path), passwords)
            changed |= _write(module, path, text)
            paths.append(path)
            if not module.check_mode:
                mode = "0600" if name == COOKIE else "0640"
                changed |= module.set_mode_if_different(path, mode, False)
                if module.params["owner"]:
                    changed |= module.set_owner_if_different(path, module.params["owner"], False)
                if module.params["group"]:
                    changed |= module.set_group_if_different(path, module.params["group"], False)
    module.exit_json(changed=changed, files=paths, environment=environment)


if __name__ == "__main__":
    main()
