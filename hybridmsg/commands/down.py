"""``hybridmsg down``: stop every server that ``up`` started."""

from __future__ import annotations

import argparse

from hybridmsg.stack import Stack


def run(args: argparse.Namespace) -> int:
    Stack(args.state_dir).down()
    return 0
