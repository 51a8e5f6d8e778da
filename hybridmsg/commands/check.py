"""``hybridmsg check``: real call, cast, fanout and notification traffic for every service
(and, on a cluster, through each node alone), and one notification of every service for
every notification reader."""

from __future__ import annotations

import argparse

from hybridmsg.check import (
    check_all,
    check_reader,
    failure_lines,
    format_row,
    raise_on_failure,
    reader_label,
)
from hybridmsg.errors import CheckFailed
from hybridmsg.services import on_node
from hybridmsg.stack import Stack


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir)
    plan = stack.plan()
    stopped = [server.title for server in stack.status() if not server.running]
    if stopped:
        raise CheckFailed(
            f"{', '.join(stopped)} not running; start with: {stack.where.command('up')}"
        )
    # mid-migration a dual:// snippet names two transports: each is checked
    configs = [side for name in plan.service_names for side in stack.read_sides(name)]
    # a cluster: the first service once more through each node alone
    nodes = max(len(backend.nodes) for backend in plan.backends)
    if nodes > 1:
        first = stack.read_config(plan.service_names[0])
        configs += [on_node(first, number) for number in range(nodes)]
    readers = plan.reader_names if plan.notification_backend else ()
    labels = [*(c.service for c in configs), *(reader_label(name) for name in readers)]
    width = max(len(label) for label in labels) + 2
    print(f"{plan.mode} mode, each step within {args.timeout:g} s")
    print(format_row(None, width))

    def show(result):
        print(format_row(result, width), flush=True)

    results = check_all(configs, args.timeout, on_result=show)
    notifiers = [stack.read_config(service) for service in plan.service_names] if readers else []
    for name in readers:
        results.append(check_reader(stack.read_reader_config(name), notifiers, args.timeout))
        show(results[-1])
    for result in results:
        for line in failure_lines(result):
            print(line)
    if plan.readers and not readers:
        print(f"readers {', '.join(plan.reader_names)}: nothing to read in {plan.mode} mode")
    raise_on_failure(results)
    return 0
