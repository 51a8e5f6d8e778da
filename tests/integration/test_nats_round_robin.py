"""RPC servers of one topic take turns, as RabbitMQ's consumers of one queue do.

Each server has a transport (a NATS connection) of its own, as separate processes would,
and the user may only use its vhost's subjects, as the plan's per-service users: roll calls
and their answers stay inside that namespace. Once the client learned the members (its first
call waits for the roll call), each gets the same share; a member that goes away loses no
message, and one that comes back is taken into the turn again.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter

import oslo_messaging as om
import pytest

from hybridmsg.backends.nats import NatsUser
from hybridmsg.drivers.nats.addressing import NatsAddressing
from tests.integration.oslo_peer import Recorder, rpc_transport

VHOST = "nova"


@pytest.fixture
def url(nats_server_factory, test_account) -> str:
    namespace = NatsAddressing(VHOST).namespace()
    user = NatsUser(
        test_account.user, test_account.password, publish=(namespace,), subscribe=(namespace,)
    )
    server = nats_server_factory(users=(user,))
    return server.url(test_account.user, test_account.password, VHOST)


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class Group:
    """RPC servers of one topic, each on a transport of its own."""

    def __init__(self, url: str, topic: str, stack: contextlib.ExitStack):
        self.url, self.topic, self._stack = url, topic, stack
        self.transports: list = []
        self.servers: list = []
        self.recorders: list[Recorder] = []

    def start(self, name: str) -> Recorder:
        transport = self._stack.enter_context(rpc_transport(self.url))
        rec = Recorder(name)
        server = om.get_rpc_server(
            transport, om.Target(topic=self.topic, server=name), [rec], executor="threading"
        )
        server.start()
        self._stack.callback(_stop, server)
        self.transports.append(transport)
        self.servers.append(server)
        self.recorders.append(rec)
        return rec

    def handled(self, kind: str) -> Counter:
        total: Counter = Counter()
        for rec in self.recorders:
            total.update(getattr(rec, kind))
        return total


def _stop(server) -> None:
    server.stop()
    server.wait()


@contextlib.contextmanager
def group_of(url: str, topic: str, names):
    with contextlib.ExitStack() as stack:
        group = Group(url, topic, stack)
        for name in names:
            group.start(name)
        yield group


@contextlib.contextmanager
def learned(url: str, topic: str, names, server: str | None = None):
    """Servers of ``topic`` and a client (to ``server``, or to any) that knows them all."""
    with group_of(url, topic, names) as group, rpc_transport(url) as transport:
        rpc = om.get_rpc_client(transport, om.Target(topic=topic, server=server), timeout=10)
        rpc.call({}, "echo", value="learn")  # waits for the roll call: the members are known
        yield group, rpc


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_total(group: Group, kind: str, total: int) -> bool:
    return wait_for(lambda: sum(group.handled(kind).values()) >= total, timeout=20)


def test_servers_of_a_topic_take_turns(url, topic):
    with learned(url, topic, ["s0", "s1", "s2"]) as (group, rpc):
        for i in range(30):
            rpc.cast({}, "record", value=i)
        assert wait_total(group, "casts", 30)
        assert [sum(rec.casts.values()) for rec in group.recorders] == [10, 10, 10]
        assert group.handled("casts") == Counter(range(30))
        answers = Counter(rpc.call({}, "echo", value=i)["server"] for i in range(6))
        assert answers == Counter({"s0": 2, "s1": 2, "s2": 2})


def test_two_instances_of_one_server_take_turns(url, topic):
    """A replacement started before the old instance stops shares its server's messages."""
    with learned(url, topic, ["host", "host"], server="host") as (group, rpc):
        for i in range(10):
            rpc.cast({}, "record", value=i)
        assert wait_total(group, "casts", 10)
        assert [sum(rec.casts.values()) for rec in group.recorders] == [5, 5]


def test_casts_to_a_server_that_stops_are_each_handled_once(url, topic):
    with learned(url, topic, ["s0", "s1", "s2"]) as (group, rpc):
        stopped = threading.Event()
        sent: list[int] = []

        def cast_on() -> None:
            after_stop = 0
            while after_stop < 90:
                after_stop += stopped.is_set()
                rpc.cast({}, "record", value=len(sent))
                sent.append(len(sent))

        caster = threading.Thread(target=cast_on)
        caster.start()
        assert group.recorders[0].wait_casts(5)
        _stop(group.servers[0])  # while casts to its member subject go on
        stopped.set()
        caster.join(30)
        assert not caster.is_alive()
        assert wait_total(group, "casts", len(sent))
        assert group.handled("casts") == Counter(sent), "a cast was lost or handled twice"
        # the casts meant for s0 once it was gone went to the others
        late = Counter(sent[-90:])
        assert not late & group.recorders[0].casts
        assert all(late & rec.casts for rec in group.recorders[1:])


def test_calls_keep_working_while_a_server_restarts(url, topic):
    with learned(url, topic, ["s0", "s1", "s2"]) as (group, rpc):
        done = threading.Event()
        answered: list[int] = []
        failures: list[BaseException] = []

        def call_on() -> None:
            while not done.is_set():
                try:
                    answered.append(rpc.call({}, "echo", value=len(answered))["value"])
                except Exception as exc:  # noqa: BLE001 - any failure fails the test below
                    failures.append(exc)
                    return

        caller = threading.Thread(target=call_on)
        caller.start()
        try:
            assert wait_for(lambda: group.recorders[0].calls)
            _stop(group.servers[0])
            back = group.start("s0")  # the same server again, on a new connection
            # it answers the next roll call (when the client's view has aged) and gets its turn
            assert wait_for(lambda: back.calls, timeout=30), "the restarted server got no call"
        finally:
            done.set()
            caller.join(30)
        assert not failures, failures
        calls = group.handled("calls")
        del calls["learn"]
        assert calls == Counter(answered), "a call was lost or handled twice"

