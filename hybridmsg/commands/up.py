"""``hybridmsg up``: start the servers of a mode and write every service's config."""

from __future__ import annotations

import argparse

from hybridmsg.plan import BackendKind, Mode
from hybridmsg.services import service_config
from hybridmsg.stack import Stack


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir)
    plan = stack.up(
        mode=Mode(args.mode) if args.mode else None,
        services=args.services,
        router=BackendKind(args.router),
    )
    rpc, notifications = plan.rpc_backend.kind, plan.notification_backend
    print(
        f"\n{plan.mode} mode: RPC on {rpc}, notifications "
        + (f"on {notifications.kind}" if notifications else "dropped (noop)")
    )
    for name in plan.service_names:
        config = service_config(plan, name, masked=True)
        print(f"  {name:<10} rpc {config.rpc_url}")
        if config.notification_url:
            print(f"  {'':<10} notify {config.notification_url}")
    print(f"service configs in {stack.services_dir}/ (or: hybridmsg config SERVICE)")
    return 0
