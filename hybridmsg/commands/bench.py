"""``hybridmsg bench``: the same workloads on every transport, side by side.

``add_arguments(parser)`` declares the options (cheap: nothing heavy is imported until
``run``); ``run(args)`` runs the bench, prints progress, the table and the targets, and
writes ``results.json``, ``chart.png`` and ``report.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from hybridmsg.errors import HybridmsgError, UsageError

DESCRIPTION = "run the same workloads on every transport, each on a real server, side by side"
TRANSPORT_NAMES = ("rabbit", "nats", "raw-nats", "amqp", "raw-amqp")
QUICK = {"duration": 0.5, "scale": (10,), "fanout_rounds": 2, "ombt_calls": 200}


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(TRANSPORT_NAMES))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown transport {', '.join(unknown)}; choose from {','.join(TRANSPORT_NAMES)}"
        )
    return names


def _numbers(text: str, what: str, most: int | None = None) -> tuple[int, ...]:
    try:
        numbers = tuple(int(number) for number in text.split(",") if number.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers") from None
    if not numbers or min(numbers) < 1 or (most is not None and max(numbers) > most):
        limit = f"1 to {most}" if most is not None else "1 or more"
        raise argparse.ArgumentTypeError(f"numbers of {what} must be {limit}")
    return tuple(sorted(set(numbers)))


def _sizes(text: str) -> tuple[int, ...]:
    return _numbers(text, "servers")


def _nodes(text: str) -> tuple[int, ...]:
    from hybridmsg.stack import MAX_NODES

    return _numbers(text, "nodes", MAX_NODES)


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of messages (0 or more)")
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hybridmsg bench``."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short workloads and only 10 servers: a smoke run in under a minute",
    )
    parser.add_argument(
        "--transports",
        type=_names,
        default=TRANSPORT_NAMES,
        metavar="A,B,...",
        help="transports to compare (default: all; those without a server here are skipped)",
    )
    parser.add_argument(
        "--scale",
        type=_sizes,
        metavar="N,N,...",
        help="numbers of RPC servers for the scale sweep (default: 10,100,1000)",
    )
    parser.add_argument(
        "--nodes",
        type=_nodes,
        default=(1,),
        metavar="N,N,...",
        help="run each transport on one server (1, the default) and/or on clusters of N "
        "nodes on 127.0.0.2, ... (rabbit, nats, amqp): e.g. --nodes 1,3 adds the columns "
        "rabbit×3, nats×3, amqp×3",
    )
    parser.add_argument(
        "--ombt-calls",
        type=_count,
        metavar="N",
        help="messages of each ombt run (rpc, cast) on every oslo transport; 0: no ombt "
        "(default: 5000, with --quick 200)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="longest time of each workload (default: 5, with --quick 0.5)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-out"),
        metavar="DIR",
        help="where results.json, chart.png and report.md go (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from hybridmsg.bench.output import write_outputs
    from hybridmsg.bench.runner import Options, run_bench

    quick = QUICK if args.quick else {}
    scale = args.scale or quick.get("scale") or Options.scale
    duration = args.duration or quick.get("duration") or Options.duration
    if duration <= 0:
        raise UsageError("--duration must be more than 0 seconds")
    ombt_calls = args.ombt_calls
    if ombt_calls is None:
        ombt_calls = quick.get("ombt_calls", Options.ombt_calls)
    options = Options(
        transports=args.transports,
        scale=scale,
        duration=duration,
        fanout_rounds=quick.get("fanout_rounds", Options.fanout_rounds),
        nodes=args.nodes,
        ombt_calls=ombt_calls,
    )
    command = shlex.join(
        [
            "hybridmsg",
            "bench",
            "--transports",
            ",".join(options.transports),
            "--scale",
            ",".join(map(str, options.scale)),
            "--duration",
            f"{options.duration:g}",
            "--nodes",
            ",".join(map(str, options.nodes)),
            "--ombt-calls",
            str(options.ombt_calls),
        ]
    )
    results = run_bench(options, lambda line: print(line, flush=True))
    text = write_outputs(results, options, command, args.out)
    print(text)
    if not any("workloads" in r for r in results.values()):
        raise HybridmsgError("no transport could run here; see the lines above")
    return 0
