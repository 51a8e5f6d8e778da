"""One fault scenario under load, and what it did to the callers and to notifications.

A run: start the load, let it run ``before`` seconds, break the target (``kill``: SIGKILL,
then start it again ``outage`` seconds later; ``restart``: graceful stop and start at
once), let the load run ``after`` seconds past the moment the server is back, stop
sending, wait for the notifications sent to arrive, and sum up (:class:`Outcome`).

Time to recover is counted from the moment the restarted server accepts connections to
the end of the first successful call that was sent after the fault began. In a cluster,
whose other nodes stay up, it is counted from the kill to the start of the last call that
did not succeed (0 when every call sent after the kill did).
Notifications "lost" are those whose ``notifier.info()`` returned but which never reached
the listener; RabbitMQ queues are FIFO, so once every one sent has arrived, any
duplicate (a redelivery or a republish) has arrived too. One "out of order" arrived
(for the first time) after a later one of the same sender.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from hybridmsg.bench.measure import percentile
from hybridmsg.faults.load import FAILED, OK, TIMED_OUT, LoadSpec, Record, Tally
from hybridmsg.faults.peer import LoadPeer
from hybridmsg.faults.testbed import Target, Testbed
from hybridmsg.plan import Mode


class Action(enum.StrEnum):
    KILL = "kill"
    RESTART = "restart"


@dataclass(frozen=True)
class Scenario:
    """Break ``target`` by ``action``; ``in_cluster``: one node of its cluster, the one
    most of the load's connections use."""

    target: Target
    action: Action
    in_cluster: bool = False

    def title(self, phases: Phases) -> str:
        server = "router (nats-server)" if self.target is Target.ROUTER else "RabbitMQ"
        if self.in_cluster:
            server += " node (the busiest)"
        if self.action is Action.KILL:
            return f"{server} killed (-9), back after {phases.outage:g} s"
        return f"{server} restarted (graceful)"


SCENARIOS = tuple(Scenario(t, a) for t in (Target.ROUTER, Target.RABBITMQ) for a in Action)


#: for clusters: a node of the router, then of RabbitMQ, killed and restarted
CLUSTER_SCENARIOS = tuple(Scenario(t, Action.KILL, True) for t in (Target.ROUTER, Target.RABBITMQ))


@dataclass(frozen=True)
class Phases:
    """Seconds of load before the fault, of outage (kill only) and after the recovery."""

    before: float = 20.0
    outage: float = 5.0
    after: float = 10.0


@dataclass(frozen=True)
class Outcome:
    """What one scenario did in one mode."""

    calls_ok: int
    calls_timed_out: int
    calls_failed: int
    longest_call: float
    late_executions: int
    recovery: float | None
    notes_sent: int
    notes_received: int
    notes_lost: int
    notes_duplicated: int
    notes_out_of_order: int
    longest_notify: float
    notify_p99: float
    down_for: float


def run(bed: Testbed, mode: Mode, scenario: Scenario, phases: Phases, spec: LoadSpec) -> Outcome:
    """Run ``scenario`` on ``bed`` (its servers running) in ``mode``."""
    log = bed.directory / f"load-{mode}.log"
    with LoadPeer(bed.snippet(mode), spec, log) as load:
        time.sleep(phases.before)
        fault_at = time.monotonic()
        if scenario.action is Action.KILL:
            bed.kill(scenario.target)
            time.sleep(max(0.0, fault_at + phases.outage - time.monotonic()))
        else:
            bed.stop(scenario.target)
        bed.start(scenario.target)
        back_at = time.monotonic()
        time.sleep(phases.after)
        tally = load.finish()
    return _outcome(tally, fault_at, back_at, clustered=scenario.in_cluster)


def _outcome(tally: Tally, fault_at: float, back_at: float, clustered: bool) -> Outcome:
    calls, sent, seen = tally.calls, tally.notified, tally.seen
    received = sum(1 for seq in sent if seq in seen)
    return Outcome(
        calls_ok=_count(calls, OK),
        calls_timed_out=_count(calls, TIMED_OUT),
        calls_failed=_count(calls, FAILED),
        longest_call=max((c.seconds for c in calls), default=0.0),
        late_executions=tally.late,
        recovery=_settled(calls, fault_at) if clustered else _recovery(calls, fault_at, back_at),
        notes_sent=len(sent),
        notes_received=received,
        notes_lost=len(sent) - received,
        notes_duplicated=sum(seen.values()) - len(seen),
        notes_out_of_order=out_of_order(tally.arrivals),
        longest_notify=max((n.seconds for n in tally.notifications), default=0.0),
        notify_p99=percentile([n.seconds for n in tally.notifications], 0.99),
        down_for=back_at - fault_at,
    )


def out_of_order(arrivals: tuple[int, ...]) -> int:
    """How many sequence numbers first arrived after a higher one (copies not counted)."""
    first: set[int] = set()
    late, highest = 0, -1
    for seq in arrivals:
        if seq in first:
            continue
        first.add(seq)
        late += seq < highest
        highest = max(highest, seq)
    return late


def _count(records: tuple[Record, ...], outcome: str) -> int:
    return sum(1 for r in records if r.outcome == outcome)


def _recovery(calls: tuple[Record, ...], fault_at: float, back_at: float) -> float | None:
    ends = [c.end for c in calls if c.outcome == OK and c.start >= fault_at and c.end >= back_at]
    return min(ends) - back_at if ends else None


def _settled(calls: tuple[Record, ...], fault_at: float) -> float:
    """Seconds from the kill to the start of the last call that did not succeed (0: none
    failed): from then on every call succeeded, while the killed node was still down."""
    failed = [c.start for c in calls if c.outcome != OK and c.start >= fault_at]
    return max(failed) - fault_at if failed else 0.0
