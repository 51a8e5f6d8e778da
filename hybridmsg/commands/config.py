"""``hybridmsg config NAME``: print the oslo.messaging snippet of a service or notification
reader, password included."""

from __future__ import annotations

import argparse

from hybridmsg.errors import UnknownService
from hybridmsg.readers import reader_config, render_reader
from hybridmsg.services import render, service_config
from hybridmsg.stack import Stack


def run(args: argparse.Namespace) -> int:
    plan = Stack(args.state_dir).plan()
    name = args.service
    if name in plan.reader_names:
        print(render_reader(reader_config(plan, name)), end="")
    elif name not in plan.service_names and plan.readers:
        raise UnknownService(
            f"unknown service or reader {name!r}; known services: "
            f"{', '.join(plan.service_names)}; readers: {', '.join(plan.reader_names)}"
        )
    else:
        print(render(service_config(plan, args.service)), end="")
    return 0
