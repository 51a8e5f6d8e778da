"""The notification spool without a server: real SQLite files, a publisher that stands for
RabbitMQ (it takes a notification only when the test lets it), and each policy when full."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from contextlib import closing
from pathlib import Path

from hybridmsg import cli
from hybridmsg.drivers.spool.outbox import Notification, Outbox
from hybridmsg.drivers.spool.slots import Slot, leftovers, process_name
from hybridmsg.drivers.spool.store import Limits, Policy, Spool, read_spools, read_stats
from hybridmsg.plan import Mode
from hybridmsg.stack import Stack, local_plan

WAIT = 10.0


def note(n: int, size: int = 0) -> Notification:
    message = {"event_type": "test.n", "payload": {"n": n, "pad": "x" * size}}
    return Notification(None, "notifications.info", {}, message, 2.0)


def numbers(notes: list[Notification]) -> list[int]:
    return [n.message["payload"]["n"] for n in notes]


class Broker:
    """Publishes nothing until ``up()``; records what it took, in order."""

    def __init__(self) -> None:
        self.taken: list[Notification] = []
        self.in_hand = threading.Semaphore(0)  # released each time a publish starts
        self._up = threading.Event()
        self._changed = threading.Condition()

    def publish(self, notification: Notification) -> None:
        self.in_hand.release()
        assert self._up.wait(WAIT), "the test never let the broker take it"
        with self._changed:
            self.taken.append(notification)
            self._changed.notify_all()

    def up(self) -> None:
        self._up.set()

    def wait_for(self, count: int) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.taken) >= count, WAIT)


def outbox(directory: Path, broker: Broker, limits: Limits) -> Outbox:
    return Outbox.open(directory, limits, False, broker.publish)


def test_entries_come_out_oldest_first_and_outlive_the_process(tmp_path):
    path = tmp_path / "p.sqlite"
    spool = Spool(path, Limits(10, 1 << 20))
    for n in range(3):
        assert spool.offer(note(n).to_json()).stored
    spool.close()  # as a kill leaves it: committed entries only

    again = Spool(path, Limits(10, 1 << 20))
    assert (again.depth, read_stats(path).depth) == (3, 3)
    first = again.next()
    assert first is not None and Notification.from_json(first.body) == note(0)
    again.remove(first)
    assert [numbers([Notification.from_json(again.next().body)])] == [[1]]
    assert again.stats().depth == 2


def test_one_slot_per_living_process_of_a_name(tmp_path):
    first = Slot.claim(tmp_path, "nova-api")
    second = Slot.claim(tmp_path, "nova-api")  # another worker of the same program
    assert (first.path.name, second.path.name) == ("nova-api.sqlite", "nova-api.2.sqlite")
    first.release()  # as its death does
    assert Slot.claim(tmp_path, "nova-api").path == first.path
    Spool(second.path, Limits(1, 1024)).close()
    assert leftovers(tmp_path, "nova-api") == [second.path]
    assert leftovers(tmp_path, "nova-compute") == []
    spool = Spool(Slot.claim(tmp_path / "new", "nova-api").path, Limits(1, 1024))
    spool.offer("{}")
    files = [spool.path, *(spool.path.with_name(spool.path.name + s) for s in ("-wal", "-shm"))]
    assert [stat.S_IMODE(f.stat().st_mode) for f in files] == [0o600] * 3  # notifications
    assert stat.S_IMODE(spool.path.parent.stat().st_mode) == 0o700  # are the service's own


def test_full_under_block_notify_waits_for_room_and_says_so_once(tmp_path, caplog):
    broker = Broker()
    box = outbox(tmp_path, broker, Limits(max_messages=3, max_bytes=1 << 20))
    caplog.set_level(logging.WARNING)
    box.put(note(0))
    assert broker.in_hand.acquire(timeout=WAIT)  # the sender has 0, RabbitMQ is away
    box.put(note(1))
    box.put(note(2))
    blocked = [threading.Thread(target=box.put, args=(note(n),)) for n in (3, 4)]
    for thread in blocked:
        thread.start()
        thread.join(0.3)
    assert all(thread.is_alive() for thread in blocked)  # full: both wait
    assert box.stats().depth == 3

    broker.up()
    for thread in blocked:
        thread.join(WAIT)
    assert broker.wait_for(5)
    box.close(WAIT)
    assert sorted(numbers(broker.taken)) == [0, 1, 2, 3, 4]
    assert numbers(broker.taken)[:3] == [0, 1, 2]
    full = [r for r in caplog.records if "full" in r.getMessage()]
    assert len(full) == 1 and "notify() waits" in full[0].getMessage()
    assert read_spools(tmp_path) == []  # empty at close: removed


def test_full_under_drop_oldest_drops_the_oldest_not_in_hand_and_counts(tmp_path, caplog):
    broker = Broker()
    limits = Limits(max_messages=3, max_bytes=1 << 20, policy=Policy.DROP_OLDEST)
    box = outbox(tmp_path, broker, limits)
    caplog.set_level(logging.WARNING)
    box.put(note(0))
    assert broker.in_hand.acquire(timeout=WAIT)  # being sent: never dropped
    for n in range(1, 6):
        box.put(note(n))  # never waits
    stats = box.stats()
    assert (stats.depth, stats.dropped) == (3, 3)
    assert read_stats(stats.path).dropped == 3  # on disk, for `hybridmsg status`
    drops = [r.getMessage() for r in caplog.records if "dropped the oldest" in r.getMessage()]
    assert len(drops) == 3
    assert "(unique id" in drops[0] and "(3 dropped in all)" in drops[-1]

    broker.up()
    assert broker.wait_for(3)
    box.close(WAIT)
    assert numbers(broker.taken) == [0, 4, 5]


def test_the_byte_limit_counts_too_and_an_empty_spool_takes_anything(tmp_path):
    spool = Spool(tmp_path / "b.sqlite", Limits(max_messages=100, max_bytes=2048))
    assert spool.offer(note(0, size=4000).to_json()).stored  # larger than the limit
    assert not spool.offer(note(1).to_json()).stored
    spool.remove(spool.next())
    assert spool.offer(note(1, size=900).to_json()).stored
    assert not spool.offer(note(2, size=1200).to_json()).stored
    assert spool.offer(note(3, size=100).to_json()).stored


def test_a_notification_that_cannot_be_sent_is_dropped_and_counted(tmp_path, caplog):
    taken = []

    def publish(notification: Notification) -> None:
        if notification.message["payload"]["n"] == 1:
            raise ValueError("cannot serialize it")
        taken.append(notification)

    box = Outbox.open(tmp_path, Limits(10, 1 << 20), False, publish)
    for n in range(3):
        box.put(note(n))
    box.close(WAIT)
    assert numbers(taken) == [0, 2]
    assert any("Could not send test.n" in r.getMessage() for r in caplog.records)


def test_what_is_left_at_close_stays_for_the_next_start(tmp_path):
    broker = Broker()
    box = outbox(tmp_path, broker, Limits(10, 1 << 20))
    for n in range(3):
        box.put(note(n))
    box.close(0.1)  # RabbitMQ away: the sender stays stuck on 0
    assert [s.depth for s in read_spools(tmp_path)] == [3]
    broker.up()


def test_status_shows_what_waits_in_the_local_stacks_spools(tmp_path, capsys):
    stack = Stack(tmp_path / "state")
    stack.write(local_plan(Mode.HYBRID, ("nova", "glance"), spool_dir=stack.spool_dir))
    directory = Path(stack.plan().spool_directory("nova"))
    slot = Slot.claim(directory, "nova-compute")
    spool = Spool(slot.path, Limits(2, 1 << 20, Policy.DROP_OLDEST))
    for n in range(3):
        spool.offer(note(n).to_json())

    assert cli.main(["status", "--state-dir", str(stack.state_dir)]) == 1  # servers stopped
    out = capsys.readouterr().out
    assert "notification spools:\n  nova: nova-compute.sqlite: 2 waiting (" in out
    assert ", the oldest for 0." in out and ", 1 dropped" in out
    spool.close()


def test_status_of_a_stack_without_spools(tmp_path, capsys):
    stack = Stack(tmp_path / "state")
    stack.write(local_plan(Mode.RABBIT, ("nova",), spool_dir=stack.spool_dir))
    cli.main(["status", "--state-dir", str(stack.state_dir)])
    assert "spool" not in capsys.readouterr().out
    stack.write(local_plan(Mode.RABBIT, previous=stack.plan(), spool=True))
    cli.main(["status", "--state-dir", str(stack.state_dir)])
    assert "notification spools: none open, nothing waiting" in capsys.readouterr().out


def test_up_keeps_the_choice_of_spooling_until_told_otherwise():
    args = cli.build_parser().parse_args(["up", "--mode", "rabbit", "--spool-notifications"])
    assert args.spool_notifications is True
    assert cli.build_parser().parse_args(["up"]).spool_notifications is None
    rabbit = local_plan(Mode.RABBIT, ("nova",), spool=True)
    assert rabbit.spools and local_plan(Mode.RABBIT, previous=rabbit).spools
    hybrid = local_plan(Mode.HYBRID, previous=rabbit, spool=False)
    assert not hybrid.spools and not local_plan(Mode.HYBRID, previous=hybrid).spools


def test_a_forked_child_lets_go_of_its_parents_slot(tmp_path):
    broker = Broker()
    box = outbox(tmp_path, broker, Limits(10, 1 << 20))
    parent_slot = box.path
    to_child, from_parent = os.pipe()
    from_child, to_parent = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a forked worker that opens its own outbox
        try:
            box.abandon()
            own = Slot.claim(tmp_path, process_name())
            os.write(to_parent, own.path.name.encode())
            os.read(to_child, 1)  # hold it until the parent is done
        finally:
            os._exit(0)
    try:
        assert os.read(from_child, 100).decode() == f"{process_name()}.2.sqlite"
        broker.up()
        box.close(WAIT)  # the parent goes: its slot is free, the child's copy closed
        assert Slot.claim(tmp_path, process_name()).path == parent_slot
    finally:
        os.write(from_parent, b"x")
        os.waitpid(pid, 0)


def test_the_write_ahead_log_starts_over_after_each_thousand_commits(tmp_path):
    """An outage: only entries added. Without checkpoints the log grows by a page per
    entry; with them it starts over once the database file has the entries."""
    path = tmp_path / "w.sqlite"
    wal = tmp_path / "w.sqlite-wal"
    spool = Spool(path, Limits(100_000, 1 << 30))

    def thousand_more() -> int:
        size = path.stat().st_size
        for _ in range(1000):
            spool.offer("x" * 300)
        deadline = time.monotonic() + WAIT  # the 1000th commit asked for a checkpoint
        while path.stat().st_size <= size and time.monotonic() < deadline:
            time.sleep(0.01)
        assert path.stat().st_size > size, "no checkpoint copied the entries"
        with closing(sqlite3.connect(path)) as db:  # the checkpoint under way done: log restarts
            while db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0]:
                time.sleep(0.01)
        return wal.stat().st_size

    first = thousand_more()
    assert thousand_more() <= first * 1.1  # written over from its start, not appended
    spool.close()
