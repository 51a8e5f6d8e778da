"""``hybridmsg probe URL``: connect with a transport URL and report the outcome in one line."""

from __future__ import annotations

import argparse

from hybridmsg.probe import probe


def run(args: argparse.Namespace) -> int:
    print(probe(args.url, args.timeout))
    return 0
