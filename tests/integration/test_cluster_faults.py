"""One node of a 3-node cluster killed (-9) under load: the other nodes carry on.

A :class:`~hybridmsg.faults.testbed.Testbed` of a 3-node NATS cluster and a 3-node RabbitMQ
cluster on 127.0.0.2-4, the load in its own process configured from the service snippet
(every node in its URLs), real SIGKILL of the node most of the load's connections use.
Counts are asserted exactly; times only as bounds, as in test_faults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hybridmsg.faults import testbed
from hybridmsg.faults.scenario import Action, Scenario, run
from hybridmsg.faults.testbed import Target
from hybridmsg.plan import Mode
from tests.conftest import private_directory
from tests.integration.test_faults import PHASES, SPEC, assert_router_outage_contained

NODES = 3


@pytest.fixture(scope="module")
def bed() -> Iterator[testbed.Testbed]:
    with private_directory("hybridmsg-cluster-faults-") as directory:
        servers = testbed.Testbed(directory, NODES)
        try:
            servers.start()
            yield servers
        finally:
            servers.stop()


def test_a_nats_node_killed_under_load(bed):
    outcome = run(bed, Mode.HYBRID, Scenario(Target.ROUTER, Action.KILL, True), PHASES, SPEC)
    # recovery counts from the kill here: the other two nodes were up all along
    assert_router_outage_contained(outcome)


def test_a_rabbitmq_node_killed_under_load(bed):
    outcome = run(bed, Mode.HYBRID, Scenario(Target.RABBITMQ, Action.KILL, True), PHASES, SPEC)

    # RPC is on the router: unaffected
    assert outcome.calls_timed_out == 0
    assert outcome.calls_failed == 0
    assert outcome.late_executions == 0
    # quorum queues on the two nodes left: every notification arrives, once
    assert outcome.notes_sent > 0
    assert outcome.notes_lost == 0
    assert outcome.notes_received == outcome.notes_sent
    assert outcome.notes_duplicated == 0
