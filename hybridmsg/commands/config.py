"""``hybridmsg config SERVICE``: print the service's oslo.messaging snippet, password included."""

from __future__ import annotations

import argparse

from hybridmsg.services import render, service_config
from hybridmsg.stack import Stack


def run(args: argparse.Namespace) -> int:
    print(render(service_config(Stack(args.state_dir).plan(), args.service)), end="")
    return 0
