"""Every scenario in every mode on one testbed, printed block by block as they finish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from hybridmsg.faults.load import LoadSpec
from hybridmsg.faults.scenario import Phases, Scenario, run
from hybridmsg.faults.table import format_block
from hybridmsg.faults.testbed import Testbed
from hybridmsg.plan import Mode


def describe(phases: Phases, spec: LoadSpec) -> str:
    """One line saying what the load and the timeline were."""
    return (
        f"load: {spec.threads} client threads, {spec.rate:g} calls/s, {spec.call_timeout:g} s "
        f"call timeout, a notification every {spec.notify_interval * 1000:g} ms; "
        f"fault after {phases.before:g} s, load for {phases.after:g} s after recovery"
    )


def run_all(
    directory: Path,
    modes: Sequence[Mode],
    scenarios: Sequence[Scenario],
    phases: Phases,
    spec: LoadSpec,
    emit: Callable[[str], None] = print,
    nodes: int = 1,
) -> None:
    """Start RabbitMQ and the router in ``directory`` (``nodes`` nodes each), run each
    scenario in each mode that uses its server, ``emit`` each block of the table, and stop
    the servers."""
    bed = Testbed(directory, nodes)
    try:
        bed.start()
        emit(describe(phases, spec))
        for scenario in scenarios:
            outcomes = [
                run(bed, mode, scenario, phases, spec) if bed.uses(mode, scenario.target) else None
                for mode in modes
            ]
            emit("")
            for line in format_block(scenario.title(phases), modes, outcomes):
                emit(line)
    finally:
        bed.stop()
