"""The resumable engine behind ``hybridmsg migrate``.

:meth:`Migration.run` starts the backends of both sides (the stack in hybrid mode, with
every service snippet kept at the current position), then for each stage: checks what the
stage needs, writes every service's snippet for the next position, has every process
restarted (the ``restart`` callable: the operator, a command, or a test's workload),
verifies, and records the position reached in ``migration.json``. At the end it brings the
stack to the target mode (stopping the router after a roll back) and removes the file.

Interrupted anywhere, the processes run the recorded position or the next one, and running
again redoes the stage in progress: writing a snippet and restarting a process twice is
harmless. ``--to`` the other way reverses from where the migration stands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from hybridmsg.backends.process import write_private
from hybridmsg.localservers import rabbit_node
from hybridmsg.migration import verify
from hybridmsg.migration.stages import (
    POSITIONS,
    Stage,
    plan_on,
    position_of,
    side_names,
    snippet,
    stages,
)
from hybridmsg.plan import BackendKind, Mode, Plan
from hybridmsg.stack import Progress, Snippet, Stack

STATE_FILE = "migration.json"

#: Has every process of every service restarted on its new snippet, one instance at a
#: time; returns once they all run it. Arguments: the stage, the plan with both backends.
Restart = Callable[[Stage, Plan], None]


@dataclass(frozen=True)
class StageTiming:
    stage: Stage
    seconds: float


def _at(index: int) -> Snippet:
    return lambda plan, name: snippet(plan, name, POSITIONS[index])


class Migration:
    """Moves the RPC of a local stack's services between RabbitMQ and its router."""

    def __init__(
        self,
        stack: Stack,
        restart: Restart,
        progress: Progress = print,
        check_timeout: float = 10.0,
        drain_timeout: float = 120.0,
    ) -> None:
        self.stack = stack
        self.restart = restart
        self.progress = progress
        self.check_timeout = check_timeout
        self.drain_timeout = drain_timeout
        self.state_file = stack.state_dir / STATE_FILE

    def position(self, plan: Plan) -> int:
        """Where the services stand: the recorded position, else the end of the plan's mode."""
        try:
            return int(json.loads(self.state_file.read_text())["position"])
        except FileNotFoundError:
            return position_of(plan.mode)

    def stages(self, to: Mode) -> list[Stage]:
        """The stages a run ``--to`` would go through from here."""
        return stages(self.position(self.stack.plan()), position_of(to))

    def run(self, to: Mode, router: BackendKind = BackendKind.NATS) -> list[StageTiming]:
        """Migrate to mode ``to`` (rabbit or hybrid); returns each stage's duration."""
        current = self.stack.plan()
        start, end = self.position(current), position_of(to)
        if start == end and not self.state_file.exists():
            self.progress(f"already in {to} mode: nothing to migrate")
            return []
        kind = current.router.kind if current.router else router
        todo = stages(start, end)
        verb = "resuming at position" if self.state_file.exists() else "starting at position"
        self.progress(f"{verb} {start} of 3: {len(todo)} stage(s) to {to} mode")
        wide = self.stack.up(Mode.HYBRID, router=kind, progress=self.progress, snippet=_at(start))
        self._record(start)
        timings = []
        for stage in todo:
            started = time.monotonic()
            self._run_stage(stage, wide)
            self._record(stage.after.index)
            timings.append(StageTiming(stage, time.monotonic() - started))
            self.progress(f"stage {stage.number}/{stage.total} done in {timings[-1].seconds:.1f} s")
        self.stack.up(to, router=kind, progress=self.progress)
        self.state_file.unlink()
        self.progress(f"migration to {to} mode complete")
        return timings

    def _record(self, position: int) -> None:
        write_private(self.state_file, json.dumps({"position": position}) + "\n")

    def _run_stage(self, stage: Stage, wide: Plan) -> None:
        names = side_names(wide)
        self.progress(
            f"stage {stage.number}/{stage.total} (position {stage.before.index} -> "
            f"{stage.after.index}): {stage.describe(names)}"
        )
        for side in stage.preflight:
            verify.check_side(plan_on(wide, side), self.check_timeout, self.progress)
        if stage.abandons_rabbit:
            self._drain(wide)
        self.stack.write(wide, _at(stage.after.index))
        self.progress(
            f"  wrote the position {stage.after.index} configs to {self.stack.services_dir}/"
        )
        self.restart(stage, wide)
        if stage.drains_rabbit:
            self._drain(wide)
        if stage.abandons_rabbit:
            verify.nothing_left(*self._rabbit(wide))
        if stage.final:
            verify.check_side(plan_on(wide, stage.after.send), self.check_timeout, self.progress)

    def _rabbit(self, wide: Plan):
        assert wide.rabbitmq is not None
        server = self.stack.server(wide, wide.rabbitmq)
        return rabbit_node(server), tuple(service.vhost for service in wide.services)

    def _drain(self, wide: Plan) -> None:
        node, vhosts = self._rabbit(wide)
        verify.drain_rabbit(node, vhosts, self.drain_timeout, self.progress)
