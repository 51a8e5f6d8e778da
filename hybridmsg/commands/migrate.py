"""``hybridmsg migrate --to hybrid|rabbit``: move RPC between RabbitMQ and the router, live.

Each stage's rolling restart is done by ``--restart-cmd`` (run once per service, with
``HYBRIDMSG_SERVICE``, ``HYBRIDMSG_CONFIG`` and ``HYBRIDMSG_STAGE`` in its environment) or,
without it, by the operator, who confirms with Enter. ``--dry-run`` prints the stages.
"""

from __future__ import annotations

import argparse
import os
import subprocess

from hybridmsg.errors import HybridmsgError
from hybridmsg.migration.runner import Migration, Restart
from hybridmsg.migration.stages import POSITIONS, Stage, side_names, snippet
from hybridmsg.plan import BackendKind, Mode, Plan
from hybridmsg.stack import Stack, local_plan


def _instructions(stack: Stack, wide: Plan) -> None:
    print(
        f"  now restart every process of every service, one instance at a time, on its new "
        f"config in {stack.services_dir}/ (start the replacement before stopping the old "
        "instance where you can, see docs/upgrade.md)"
    )
    for name in wide.service_names:
        print(f"    {name:<10} {stack.snippet_file(name)}")


def _operator(stack: Stack) -> Restart:
    def restart(stage: Stage, wide: Plan) -> None:
        _instructions(stack, wide)
        try:
            input("  press Enter once every process runs its new config: ")
        except EOFError:
            raise HybridmsgError(
                f"stage {stage.number} not confirmed; run the same migrate command again to resume"
            ) from None

    return restart


def _command(stack: Stack, command: str) -> Restart:
    def restart(stage: Stage, wide: Plan) -> None:
        for name in wide.service_names:
            print(f"  restarting {name}: {command}", flush=True)
            env = os.environ | {
                "HYBRIDMSG_SERVICE": name,
                "HYBRIDMSG_CONFIG": str(stack.snippet_file(name)),
                "HYBRIDMSG_STAGE": str(stage.after.index),
            }
            done = subprocess.run(command, shell=True, env=env, check=False)
            if done.returncode != 0:
                raise HybridmsgError(
                    f"the restart command failed for {name} (exit {done.returncode}); fix "
                    "it, then run the same migrate command again to resume"
                )

    return restart


def _dry_run(migration: Migration, to: Mode, router: BackendKind) -> int:
    current = migration.stack.plan()
    kept = migration.stack.kept_backends()
    wide = (
        current
        if current.mode is Mode.HYBRID
        else local_plan(Mode.HYBRID, None, router, current, kept=kept)
    )
    names = side_names(wide)
    todo = migration.stages(to)
    print(f"{len(todo)} stage(s) from position {migration.position(current)} to {to} mode")
    example = wide.service_names[0]
    for stage in todo:
        print(f"\nstage {stage.number}/{stage.total}: {stage.describe(names)}")
        for line in stage.checks(names):
            print(f"  - {line}")
        print(f"  {example}'s config:")
        text = snippet(wide, example, POSITIONS[stage.after.index], masked=True)
        print("".join(f"    {line}\n" for line in text.splitlines()), end="")
    return 0


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir)
    restart = _command(stack, args.restart_cmd) if args.restart_cmd else _operator(stack)
    migration = Migration(
        stack, restart, check_timeout=args.timeout, drain_timeout=args.drain_timeout
    )
    to, router = Mode(args.to), BackendKind(args.router)
    if args.dry_run:
        return _dry_run(migration, to, router)
    timings = migration.run(to, router)
    if timings:
        print("stage times: " + ", ".join(f"{t.stage.number}: {t.seconds:.1f} s" for t in timings))
    return 0
