"""What a migration stage proves before the next one may start, against running servers.

* :func:`check_side` -- ``hybridmsg check`` (call, cast, fanout, notify) for every service
  on one side's plain config: the backend is up and every account works on it.
* :func:`drain_rabbit` -- wait, bounded, until no RPC queue of any service's vhost on
  RabbitMQ holds a message (ready or unacknowledged): what clients sent there before they
  moved was consumed by servers that still listen on RabbitMQ.
* :func:`nothing_left` -- one look: an RPC message found now would be stranded once the
  servers stop listening on RabbitMQ, so the migration stops and says where it is.

RPC queues are every queue of a vhost except notification queues (``TOPIC.PRIORITY``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Protocol

from hybridmsg.backends.rabbitmq_node import QueueStats
from hybridmsg.check import check_all, failure_lines, format_row
from hybridmsg.errors import CheckFailed
from hybridmsg.plan import Plan
from hybridmsg.services import NOTIFY_SECTION, ServiceConfig, read_ini, render, service_config
from hybridmsg.stack import Progress

#: oslo.messaging notification priorities: a queue named ``TOPIC.PRIORITY`` keeps notifications.
PRIORITIES = frozenset({"audit", "debug", "info", "warn", "warning", "error", "critical", "sample"})
POLL_INTERVAL = 0.5
#: the command that resumes a migration and the one that rolls it back, as the errors say
MIGRATE = "hybridmsg migrate"
ROLL_BACK = "hybridmsg migrate --to rabbit"


class Queues(Protocol):
    """A RabbitMQ node's queues: a local :class:`~hybridmsg.backends.rabbitmq_node.RabbitNode`
    or a host's own node (the Ansible collection's ``rpc_queues`` module)."""

    def list_queues(self, vhost: str) -> list[QueueStats]: ...


def is_rpc_queue(name: str) -> bool:
    """True for oslo RPC queues (topic, topic.server, fanout, reply), not notification ones."""
    return name.rpartition(".")[2] not in PRIORITIES


def as_services_read(config: ServiceConfig) -> ServiceConfig:
    """``config`` with every driver option its snippet sets (TLS, RabbitMQ quorum queues):
    ``check`` then declares queues and exchanges exactly as the running services do, which
    RabbitMQ requires (an exchange declared durable by one and not by the other is refused).
    """
    ini = read_ini(render(config))
    groups = [g for g in ini.sections() if g.startswith("oslo_messaging_") and g != NOTIFY_SECTION]
    return replace(config, options=tuple((g, o, ini[g][o]) for g in groups for o in ini[g]))


def check_side(plan: Plan, timeout: float, progress: Progress) -> None:
    """``check`` every service of ``plan`` on its own transports; CheckFailed on any failure."""
    width = max(len(name) for name in plan.service_names) + 2
    progress(f"  checking {plan.rpc_backend.kind} for every service ({plan.mode} config)")
    results = check_all(
        [as_services_read(service_config(plan, name)) for name in plan.service_names],
        timeout,
        on_result=lambda result: progress("  " + format_row(result, width)),
    )
    reasons = [line for result in results for line in failure_lines(result)]
    if reasons:
        raise CheckFailed(
            f"check on {plan.rpc_backend.kind} failed ({reasons[0]}); fix it, then run "
            "migrate again to resume"
        )


def _loaded(node: Queues, vhosts: tuple[str, ...]) -> list[tuple[str, QueueStats]]:
    return [
        (vhost, queue)
        for vhost in vhosts
        for queue in node.list_queues(vhost)
        if queue.messages and is_rpc_queue(queue.name)
    ]


def _where(loaded: list[tuple[str, QueueStats]]) -> str:
    return ", ".join(f"{vhost}/{q.name}: {q.messages}" for vhost, q in loaded[:5]) + (
        ", ..." if len(loaded) > 5 else ""
    )


def drain_rabbit(
    node: Queues,
    vhosts: tuple[str, ...],
    timeout: float,
    progress: Progress,
    resume: str = MIGRATE,
) -> None:
    """Return once every RPC queue of ``vhosts`` is empty; CheckFailed after ``timeout`` s
    (saying to run ``resume`` again)."""
    started = time.monotonic()
    while True:
        loaded = _loaded(node, vhosts)
        waited = time.monotonic() - started
        if not loaded:
            progress(f"  RabbitMQ RPC queues drained ({waited:.1f} s)")
            return
        if waited > timeout:
            raise CheckFailed(
                f"RPC queues on RabbitMQ still hold messages after {timeout:g} s ({_where(loaded)})"
                ": a process still sends on RabbitMQ, or no server consumes the queue; restart "
                f"it with its new config, then run {resume} again to resume"
            )
        total = sum(q.messages for _, q in loaded)
        progress(f"  waiting for {total} message(s) in {len(loaded)} RPC queue(s) on RabbitMQ")
        time.sleep(POLL_INTERVAL)


def nothing_left(node: Queues, vhosts: tuple[str, ...], roll_back: str = ROLL_BACK) -> None:
    """CheckFailed when any RPC queue of ``vhosts`` holds a message (saying ``roll_back``
    rolls back)."""
    loaded = _loaded(node, vhosts)
    if loaded:
        raise CheckFailed(
            f"RPC messages are left on RabbitMQ ({_where(loaded)}) although every process "
            "should send on the router by now; find the process that still sends there, "
            f"or roll back with: {roll_back}"
        )
