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
QUICK = {"duration": 0.5, "scale": (10,), "fanout_rounds": 2}


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(TRANSPORT_NAMES))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown transport {', '.join(unknown)}; choose from {','.join(TRANSPORT_NAMES)}"
        )
    return names


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(size) for size in text.split(",") if size.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("numbers of servers must be 1 or more")
    return tuple(sorted(set(sizes)))


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
    options = Options(
        transports=args.transports,
        scale=scale,
        duration=duration,
        fanout_rounds=quick.get("fanout_rounds", Options.fanout_rounds),
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
        ]
    )
    results = run_bench(options, lambda line: print(line, flush=True))
    text = write_outputs(results, options, command, args.out)
    print(text)
    if not any("workloads" in r for r in results.values()):
        raise HybridmsgError("no transport could run here; see the lines above")
    return 0
