"""``hybridmsg check``: real call, cast, fanout and notification traffic for every service."""

from __future__ import annotations

import argparse

from hybridmsg.check import check_all, failure_lines, format_row, raise_on_failure
from hybridmsg.errors import CheckFailed
from hybridmsg.stack import Stack


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir)
    plan = stack.plan()
    stopped = [server.title for server in stack.status() if not server.running]
    if stopped:
        raise CheckFailed(f"{', '.join(stopped)} not running; start with: hybridmsg up")
    configs = [stack.read_config(name) for name in plan.service_names]
    width = max(len(name) for name in plan.service_names) + 2
    print(f"{plan.mode} mode, each step within {args.timeout:g} s")
    print(format_row(None, width))
    results = check_all(
        configs, args.timeout, on_result=lambda result: print(format_row(result, width), flush=True)
    )
    for result in results:
        for line in failure_lines(result):
            print(line)
    raise_on_failure(results)
    return 0
