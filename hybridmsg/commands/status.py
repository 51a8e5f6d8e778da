"""``hybridmsg status``: what runs, where, and for which services; exit 1 if a server is down."""

from __future__ import annotations

import argparse

from hybridmsg.stack import Stack

HEADER = ("server", "address", "carries", "pid", "state")


def spools_line(stack: Stack) -> str:
    """What waits in the services' notification spools: one line per spool file."""
    spools = stack.spools()
    if not spools:
        return "notification spools: none open, nothing waiting"
    lines = ["notification spools:"]
    for service, stats in spools:
        age = stats.oldest_age()
        lines.append(
            f"  {service}: {stats.path.name}: {stats.depth} waiting ({stats.size} bytes)"
            + ("" if age is None else f", the oldest for {age:.1f} s")
            + f", {stats.dropped} dropped"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir)
    plan = stack.plan()
    servers = stack.status()
    rows = [HEADER] + [
        (
            s.title,
            s.address,
            s.carries,
            str(s.pid) if s.running and s.pid else "-",
            "running" if s.running else "stopped",
        )
        for s in servers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    print(f"{plan.mode} mode, state in {stack.state_dir}")
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    print(f"services: {', '.join(plan.service_names)}")
    if plan.spools:
        print(spools_line(stack))
    if plan.readers:
        print(
            f"notification readers: {', '.join(plan.reader_names)}"
            + ("" if plan.notification_backend else f" (nothing to read in {plan.mode} mode)")
        )
    return 0 if all(s.running for s in servers) else 1
