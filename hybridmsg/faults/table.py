"""The faults table: one block per scenario, one column per mode, side by side.

A mode without the scenario's server (rabbit mode has no router) shows ``n/a``.
Text only, no I/O: :func:`format_block` gives the lines, the command prints them and
docs/reliability.md keeps a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hybridmsg.faults.scenario import Outcome

WIDTH = 14
LABEL = 32


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


#: (label, how to show it) for each row of a block.
ROWS: tuple[tuple[str, Callable[[Outcome], str]], ...] = (
    ("calls ok", lambda o: str(o.calls_ok)),
    ("calls timed out", lambda o: str(o.calls_timed_out)),
    ("calls failed", lambda o: str(o.calls_failed)),
    ("longest call", lambda o: _seconds(o.longest_call)),
    ("executions after deadline", lambda o: str(o.late_executions)),
    ("server down for", lambda o: _seconds(o.down_for)),
    ("RPC recovered after", lambda o: _seconds(o.recovery)),
    ("notifications sent", lambda o: str(o.notes_sent)),
    ("notifications received", lambda o: str(o.notes_received)),
    ("notifications lost", lambda o: str(o.notes_lost)),
    ("notifications duplicated", lambda o: str(o.notes_duplicated)),
    ("notifications out of order", lambda o: str(o.notes_out_of_order)),
    ("longest notifier block", lambda o: _seconds(o.longest_notify)),
    ("notifier block, 99th pct", lambda o: f"{o.notify_p99 * 1000:.1f} ms"),
)


def format_block(title: str, modes: Sequence[str], outcomes: Sequence[Outcome | None]) -> list[str]:
    """The lines of one scenario: its title, the modes, then one row per figure."""
    lines = [title, f"{'':<{LABEL}}" + "".join(f"{mode:>{WIDTH}}" for mode in modes)]
    for label, show in ROWS:
        cells = ("n/a" if o is None else show(o) for o in outcomes)
        lines.append(f"  {label:<{LABEL - 2}}" + "".join(f"{cell:>{WIDTH}}" for cell in cells))
    return lines
