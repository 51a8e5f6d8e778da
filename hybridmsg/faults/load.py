"""The load of a fault run, with exact counting on both sides.

:class:`Load` runs, on one service's oslo.messaging config (``cfg.CONF`` loaded from the
snippet file a service reads, see :mod:`.peer`), an RPC server and a notification
listener on transports of their own (their own connections, as in another process),
``threads`` client threads making calls at ``rate`` calls/s in all, and one thread
sending a notification every ``notify_interval`` s. Each call carries the caller's
wall-clock deadline, so the server counts executions that began after the caller gave
up. Every call and every ``notifier.info()`` is recorded (start, end, outcome), every
notification received is counted by sequence number and its arrival noted in order (the
listener hands them to the endpoint one at a time, in the order it receives them).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import astuple, dataclass, field

import oslo_messaging as om
from oslo_config import cfg

TOPIC = "hybridmsg_faults"
SERVER = "faults-server"
OK, TIMED_OUT, FAILED = "ok", "timed out", "failed"


@dataclass(frozen=True)
class LoadSpec:
    """How hard to push: the issue's reference load by default."""

    threads: int = 8
    rate: float = 200.0
    call_timeout: float = 5.0
    notify_interval: float = 0.01


@dataclass(frozen=True)
class Record:
    """One call or notification sent: monotonic start and end, and its outcome."""

    start: float
    end: float
    outcome: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Worker:
    """RPC endpoint: counts executions, and those that began after the caller's deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.executed = 0
        self.late = 0

    def work(self, ctxt: dict, seq: int, deadline: float) -> int:
        late = time.time() > deadline
        with self._lock:
            self.executed += 1
            self.late += late
        return seq


class Sink:
    """Notification endpoint: counts deliveries per sequence number, in arrival order."""

    def __init__(self) -> None:
        self.seen: Counter[int] = Counter()
        self.arrivals: list[int] = []
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)

    def info(self, ctxt, publisher_id, event_type, payload, metadata) -> None:
        with self._changed:
            self.seen[payload["seq"]] += 1
            self.arrivals.append(payload["seq"])
            self._changed.notify_all()

    def wait_for(self, seqs: set[int], timeout: float) -> bool:
        """True once every one of ``seqs`` arrived, False at the deadline."""
        with self._changed:
            return self._changed.wait_for(lambda: seqs <= self.seen.keys(), timeout)


@dataclass
class Records:
    """Everything sent during a run."""

    calls: list[Record] = field(default_factory=list)
    notifications: list[Record] = field(default_factory=list)
    notified: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Tally:
    """A finished run: what was sent, what the server executed, what the listener got."""

    calls: tuple[Record, ...]
    notifications: tuple[Record, ...]
    notified: frozenset[int]
    seen: dict[int, int]
    executed: int
    late: int
    arrivals: tuple[int, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "calls": [astuple(r) for r in self.calls],
                "notifications": [astuple(r) for r in self.notifications],
                "notified": sorted(self.notified),
                "seen": sorted(self.seen.items()),
                "executed": self.executed,
                "late": self.late,
                "arrivals": self.arrivals,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Tally:
        data = json.loads(text)
        return cls(
            calls=tuple(Record(*r) for r in data["calls"]),
            notifications=tuple(Record(*r) for r in data["notifications"]),
            notified=frozenset(data["notified"]),
            seen=dict(data["seen"]),
            executed=data["executed"],
            late=data["late"],
            arrivals=tuple(data["arrivals"]),
        )


class Load:
    """RPC server, notification listener, callers and notifier on one service config."""

    def __init__(self, conf: cfg.ConfigOpts, spec: LoadSpec) -> None:
        self.spec = spec
        self.worker, self.sink, self.records = Worker(), Sink(), Records()
        self._conf = conf
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._transports: list[om.Transport] = []
        self._servers: list = []
        # notifications on a topic (queue) of this run's own: what an earlier run left on
        # RabbitMQ (oslo's rabbit:// listener leaves a copy it drops unacknowledged, and it
        # comes back at the next connection) is never counted as this run's
        self.notify_topic = f"{TOPIC}_{uuid.uuid4().hex[:8]}"

    def start(self, timeout: float = 30.0) -> None:
        """Start the server side, prove it with one call, then start sending."""
        server_rpc = self._transport(om.get_rpc_transport)
        server_notify = self._transport(om.get_notification_transport)
        self._servers = [
            om.get_rpc_server(
                server_rpc,
                om.Target(topic=TOPIC, server=SERVER),
                [self.worker],
                executor="threading",
            ),
            om.get_notification_listener(
                server_notify,
                [om.Target(topic=self.notify_topic)],
                [self.sink],
                executor="threading",
            ),
        ]
        self._servers[0].start()
        self._servers[1].start(override_pool_size=1)  # one at a time: arrival order kept
        client = om.get_rpc_client(
            self._transport(om.get_rpc_transport), om.Target(topic=TOPIC), timeout=timeout
        )
        client.call({}, "work", seq=-1, deadline=time.time() + timeout)
        notifier = om.Notifier(
            self._transport(om.get_notification_transport),
            "hybridmsg.faults",
            topics=[self.notify_topic],
        )
        client = client.prepare(timeout=self.spec.call_timeout)
        self._threads = [
            threading.Thread(target=self._caller, args=(client, n), daemon=True)
            for n in range(self.spec.threads)
        ]
        self._threads.append(threading.Thread(target=self._notifier, args=(notifier,), daemon=True))
        for thread in self._threads:
            thread.start()

    def _transport(self, get) -> om.Transport:
        transport = get(self._conf)
        self._transports.append(transport)
        return transport

    def _paced(self, period: float):
        """Yield at ``period`` intervals until stopped; slots missed while busy are skipped."""
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            yield
            due = max(due + period, time.monotonic())

    def _caller(self, client, number: int) -> None:
        seq = number
        for _ in self._paced(self.spec.threads / self.spec.rate):
            start = time.monotonic()
            try:
                client.call({}, "work", seq=seq, deadline=time.time() + self.spec.call_timeout)
                outcome = OK
            except om.MessagingTimeout:
                outcome = TIMED_OUT
            except Exception:  # any other failure is what the run counts as failed
                outcome = FAILED
            self._note(self.records.calls, Record(start, time.monotonic(), outcome))
            seq += self.spec.threads

    def _notifier(self, notifier: om.Notifier) -> None:
        for seq, _ in enumerate(self._paced(self.spec.notify_interval)):
            start = time.monotonic()
            notifier.info({}, "hybridmsg.faults.tick", {"seq": seq})  # oslo never raises here
            self._note(self.records.notifications, Record(start, time.monotonic(), OK))
            with self._lock:
                self.records.notified.add(seq)

    def _note(self, records: list[Record], record: Record) -> None:
        with self._lock:
            records.append(record)

    def stop(self, timeout: float) -> None:
        """Stop sending; wait (at most ``timeout`` s) for what is in flight."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def tally(self) -> Tally:
        """The counts so far (complete once stopped and drained)."""
        with self._lock, self.sink.lock:
            return Tally(
                calls=tuple(self.records.calls),
                notifications=tuple(self.records.notifications),
                notified=frozenset(self.records.notified),
                seen=dict(self.sink.seen),
                executed=self.worker.executed,
                late=self.worker.late,
                arrivals=tuple(self.sink.arrivals),
            )

    def close(self, timeout: float) -> None:
        """Stop the server side and close every transport, within ``timeout`` s (after
        that they are left to the daemon thread doing it)."""
        closing = threading.Thread(target=self._close, name="hybridmsg-faults-close", daemon=True)
        closing.start()
        closing.join(timeout)

    def _close(self) -> None:
        for server in self._servers:
            server.stop()
        for server in self._servers:
            server.wait()
        for transport in self._transports:
            transport.cleanup()
