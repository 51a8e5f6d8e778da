"""One service's account on a RabbitMQ cluster, as OpenStack-Ansible's ``mq_setup`` makes
it: a user, its vhost, its permissions there and the vhost's policies. Pure: no I/O.

:func:`missing` compares an :class:`Account` with the definitions a node exports
(``rabbitmqctl export_definitions -``) and gives the definitions to import
(``rabbitmqctl import_definitions -``): only what is missing or different, None when the
node has it all. Importing is additive, so an existing cluster keeps everything else; the
password is checked against the stored salted hash, never sent on a command line.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hybridmsg.backends.rabbitmq import (
    HASHING_ALGORITHM,
    RabbitDefinitions,
    RabbitPermission,
    RabbitUser,
    hash_password,
    render_definitions,
)


@dataclass(frozen=True)
class Policy:
    """A policy of the account's vhost, as in OpenStack-Ansible's ``_oslomsg_*_policies``:
    ``tags`` is the policy definition (e.g. ``{"ha-mode": "all"}``)."""

    name: str
    pattern: str
    tags: Mapping[str, Any] = field(default_factory=dict)
    priority: int = 0
    apply_to: str = "all"

    def document(self, vhost: str) -> dict[str, Any]:
        return {"vhost": vhost, "name": self.name, "pattern": self.pattern,
                "apply-to": self.apply_to, "definition": dict(self.tags),
                "priority": self.priority}


@dataclass(frozen=True)
class Account:
    user: str
    password: str = field(repr=False)
    vhost: str
    configure: str = ".*"
    write: str = ".*"
    read: str = ".*"
    policies: tuple[Policy, ...] = ()


def password_matches(user: Mapping[str, Any], password: str) -> bool:
    """Whether an exported user's salted SHA-256 hash is that of ``password``."""
    if user.get("hashing_algorithm", HASHING_ALGORITHM) != HASHING_ALGORITHM:
        return False
    try:
        salt = base64.b64decode(user.get("password_hash", ""))[:4]
    except (binascii.Error, ValueError):
        return False
    return len(salt) == 4 and hash_password(password, salt) == user["password_hash"]


def missing(account: Account, exported: Mapping[str, Any]) -> str | None:
    """The definitions (JSON) that bring a node exporting ``exported`` to ``account``, or
    None when it is there already."""
    users = {u["name"]: u for u in exported.get("users", ())}
    user = users.get(account.user)
    permission = RabbitPermission(account.user, account.vhost, account.configure,
                                  account.write, account.read)
    held = [p for p in exported.get("permissions", ())
            if p.get("user") == account.user and p.get("vhost") == account.vhost]
    wanted = RabbitDefinitions(
        users=() if user and password_matches(user, account.password) else (
            RabbitUser.with_password(account.user, account.password,
                                     tuple(_tags(user)) if user else ()),),
        vhosts=() if any(v["name"] == account.vhost for v in exported.get("vhosts", ()))
        else (account.vhost,),
        permissions=() if held and _same_permission(held[0], permission) else (permission,),
    )
    policies = [
        policy.document(account.vhost) for policy in account.policies
        if policy.document(account.vhost) not in exported.get("policies", ())
    ]
    if not (wanted.users or wanted.vhosts or wanted.permissions or policies):
        return None
    document = json.loads(render_definitions(wanted))
    document["policies"] = policies
    return json.dumps(document)


def keep_hashes(definitions: str, previous: str | None, passwords: Mapping[str, str]) -> str:
    """``definitions`` (JSON, as :func:`render_definitions` writes it) with the password
    hash of each user kept from ``previous`` while it is the hash of the same password, so
    that rendering again changes nothing."""
    if previous is None:
        return definitions
    try:
        old = {u["name"]: u for u in json.loads(previous).get("users", ())}
    except (ValueError, AttributeError, KeyError, TypeError):
        return definitions
    document = json.loads(definitions)
    for user in document.get("users", ()):
        before = old.get(user["name"])
        if before and password_matches(before, passwords.get(user["name"], "")):
            user["password_hash"] = before["password_hash"]
    return json.dumps(document, indent=2) + "\n"


def _tags(user: Mapping[str, Any]) -> list[str]:
    tags = user.get("tags") or []
    return tags.split(",") if isinstance(tags, str) else list(tags)


def _same_permission(held: Mapping[str, Any], wanted: RabbitPermission) -> bool:
    return all(held.get(key) == getattr(wanted, key) for key in ("configure", "write", "read"))
