"""The ``hybridmsg`` command line: parse arguments, run one command, map errors to exit codes.

Each command lives in ``hybridmsg.commands.<name>`` (a ``run(args) -> int`` function) and
is imported only when it runs. Errors are turned into one-line messages and exit codes here,
and only here: argument errors too, and the log of drivers and servers stays silent unless
``-v`` asks for it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import sys
import warnings
from collections.abc import Sequence

from hybridmsg import __version__
from hybridmsg.commands import bench
from hybridmsg.errors import HybridmsgError
from hybridmsg.plan import DEFAULT_SERVICES, ROUTER_KINDS, Mode
from hybridmsg.state_dir import RULE, default_state_dir

INTERRUPTED = 130
USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``hybridmsg COMMAND: what is wrong; see --help``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, f"{self.prog}: {message}; see {self.prog} --help\n")


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _services(text: str) -> tuple[str, ...]:
    names = _names(text)
    if not names:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no service; give at least one, e.g. --services nova,neutron"
        )
    return names


def _reader(text: str) -> tuple[str, tuple[str, ...]]:
    """``NAME`` or ``NAME:TOPIC,TOPIC`` -> (name, topics)."""
    name, _, topics = text.partition(":")
    if not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} names no reader; use NAME or NAME:TOPIC,...")
    return name.strip(), _names(topics)


def _positive(kind: type, text: str, what: str):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def _seconds(text: str) -> float:
    return _positive(float, text, "a number of seconds above 0, e.g. 10")


def _rate(text: str) -> float:
    return _positive(float, text, "a number above 0, e.g. 200")


def _count(text: str) -> int:
    return _positive(int, text, "a whole number of 1 or more")


def _nodes(text: str) -> int:
    return _positive(int, text, "a number of nodes; give 1 or more")


def _global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """``--state-dir`` and ``-v``, accepted before the command and, with ``after_command``,
    after it (there without defaults, so that a value given before is not overwritten)."""
    unset = argparse.SUPPRESS if after_command else None
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        default=unset,
        help="where plan, passwords, service configs and server data live "
        f"(default: {RULE}; here: {default_state_dir()})",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="show the log of drivers and servers, and warnings",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = Parser(
        prog="hybridmsg", description="Router-based RPC for OpenStack beside RabbitMQ."
    )
    parser.add_argument("--version", action="version", version=f"hybridmsg {__version__}")
    _global_options(parser, after_command=False)
    common = Parser(add_help=False)
    _global_options(common, after_command=True)
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
    up.add_argument(
        "--nodes",
        type=_nodes,
        metavar="N",
        help="nodes per backend: 1 on loopback, or a cluster of N on the test hosts "
        "127.0.0.2, 127.0.0.3, ... (default: as before, else 1)",
    )
    readers = up.add_mutually_exclusive_group()
    readers.add_argument(
        "--reader",
        dest="readers",
        action="append",
        type=_reader,
        metavar="NAME[:TOPIC,...]",
        help="a notification reader (e.g. telemetry): its own user, allowed to read the "
        "notifications of every service (topics: default notifications) and nothing else; "
        "repeat for more (default: the current readers, else none)",
    )
    readers.add_argument(
        "--no-readers",
        dest="readers",
        action="store_const",
        const=[],
        help="remove every notification reader",
    )
    up.add_argument(
        "--spool-notifications",
        action=argparse.BooleanOptionalAction,
        help="services keep notifications in a spool on local disk until RabbitMQ confirmed "
        "them, so that notify() never waits for RabbitMQ (default: the current choice, else "
        "on in hybrid mode, off in rabbit mode)",
    )
    tls = up.add_mutually_exclusive_group()
    tls.add_argument(
        "--no-tls",
        dest="tls",
        action="store_false",
        default=None,
        help="plain connections (default: TLS, or what the current deployment uses)",
    )
    tls.add_argument(
        "--tls", dest="tls", action="store_true", help="TLS on every listener (the default)"
    )
    up.add_argument(
        "--mutual-tls",
        action="store_true",
        help="also require a client certificate of each service (local CA only)",
    )
    for name, what in (
        ("ca", "the CA that signed it"),
        ("cert", "the servers' certificate"),
        ("key", "the servers' private key"),
    ):
        up.add_argument(
            f"--{name}-file",
            metavar="FILE",
            help=f"your own TLS files instead of the local CA: {what} "
            "(give --ca-file, --cert-file and --key-file together)",
        )
    command("status", "show what runs, where, and for which services")
    config = command(
        "config",
        "print a service's or notification reader's oslo.messaging config snippet (with password)",
    )
    config.add_argument("service", help="e.g. nova, or a reader such as telemetry")
    check = command(
        "check",
        "prove the deployment with real RPC and notification traffic (readers included)",
    )
    check.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for each step (default: %(default)s)",
    )
    command("down", "stop every server that up started")
    probe = command("probe", "connect with a transport URL and report what happens, in one line")
    probe.add_argument("url", help="an oslo.messaging transport URL, e.g. nats://u:p@host:4222/v")
    probe.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for the connection (default: %(default)s)",
    )
    migrate = command("migrate", "move RPC between RabbitMQ and the router, live and resumable")
    migrate.add_argument(
        "--to",
        required=True,
        choices=[Mode.HYBRID.value, Mode.RABBIT.value],
        help="hybrid: RPC to the router; rabbit: roll RPC back to RabbitMQ",
    )
    migrate.add_argument(
        "--router",
        choices=[kind.value for kind in ROUTER_KINDS],
        default=ROUTER_KINDS[0].value,
        help="the router to move RPC to (default: %(default)s, or the one already running)",
    )
    migrate.add_argument("--dry-run", action="store_true", help="print the stages, change nothing")
    migrate.add_argument(
        "--restart-cmd",
        metavar="CMD",
        help="shell command that restarts every process of one service on its new config, "
        "run per service and stage with HYBRIDMSG_SERVICE, HYBRIDMSG_CONFIG, HYBRIDMSG_STAGE "
        "set (default: ask the operator and wait for Enter)",
    )
    migrate.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="longest wait for each check step (default: %(default)s)",
    )
    migrate.add_argument(
        "--drain-timeout",
        type=_seconds,
        default=120.0,
        metavar="SECONDS",
        help="longest wait for RabbitMQ's RPC queues to drain (default: %(default)s)",
    )
    faults = command(
        "faults",
        "kill -9 and restart RabbitMQ and the router under load, rabbit and hybrid mode side "
        "by side (on servers of its own)",
    )
    for flag, kind, default, meaning in (
        ("--threads", _count, 8, "client threads making calls"),
        ("--rate", _rate, 200.0, "calls per second, all threads together"),
        ("--timeout", _seconds, 5.0, "call timeout, seconds"),
        ("--notify-interval", _seconds, 0.01, "seconds between notifications"),
        ("--before", _seconds, 20.0, "seconds of load before the fault"),
        ("--outage", _seconds, 5.0, "seconds a killed server stays down"),
        ("--after", _seconds, 10.0, "seconds of load after the server is back"),
    ):
        faults.add_argument(
            flag, type=kind, default=default, help=f"{meaning} (default: %(default)s)"
        )
    faults.add_argument(
        "--nodes",
        type=_nodes,
        default=1,
        metavar="N",
        help="run RabbitMQ and the router as clusters of N nodes on 127.0.0.2, ... and kill "
        "one node of each in turn (default: %(default)s: one server each)",
    )
    bench.add_arguments(command("bench", bench.DESCRIPTION))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:  # the user sees hybridmsg's own line only: what oslo and the drivers log goes nowhere
        logging.basicConfig(handlers=[logging.NullHandler()])
        warnings.simplefilter("ignore")
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
