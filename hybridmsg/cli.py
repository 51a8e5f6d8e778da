"""The ``hybridmsg`` command line: parse arguments, run one command, map errors to exit codes.

Each command lives in ``hybridmsg.commands.<name>`` (a ``run(args) -> int`` function) and
is imported only when it runs. Errors are turned into one-line messages and exit codes here,
and only here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from hybridmsg import __version__
from hybridmsg.errors import HybridmsgError
from hybridmsg.plan import DEFAULT_SERVICES, ROUTER_KINDS, Mode

INTERRUPTED = 130


def _services(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="hybridmsg", description="Router-based RPC for OpenStack beside RabbitMQ."
    )
    parser.add_argument("--version", action="version", version=f"hybridmsg {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the log of drivers and servers"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where plan, passwords, service configs and server data live "
        "(default: $HYBRIDMSG_STATE_DIR or ~/.local/state/hybridmsg)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text)

    up = command("up", "start the servers of a mode on this machine and write service configs")
    up.add_argument(
        "--mode",
        choices=[mode.value for mode in Mode],
        help="rabbit: all on RabbitMQ; router: RPC on a router, no notifications; "
        "hybrid: RPC on a router, notifications on RabbitMQ (default: the current mode, "
        "else hybrid)",
    )
    up.add_argument(
        "--router",
        choices=[kind.value for kind in ROUTER_KINDS],
        default=ROUTER_KINDS[0].value,
        help="the router that carries RPC in router and hybrid modes (default: %(default)s)",
    )
    up.add_argument(
        "--services",
        type=_services,
        metavar="A,B,...",
        help="services to configure (default: the current ones, else "
        f"{','.join(DEFAULT_SERVICES)})",
    )
    command("status", "show what runs, where, and for which services")
    config = command("config", "print a service's oslo.messaging config snippet (with password)")
    config.add_argument("service", help="e.g. nova")
    check = command("check", "prove the deployment with real RPC and notification traffic")
    check.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for each step (default: %(default)s)",
    )
    command("down", "stop every server that up started")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    try:
        command = importlib.import_module(f"hybridmsg.commands.{args.command}")
        return command.run(args)
    except HybridmsgError as err:
        print(f"hybridmsg {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"hybridmsg {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # e.g. `hybridmsg up | head`: the reader left, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
