"""Taking turns over a queue group's members: the view from tables, the roll call against a
fake publish in a real asyncio loop (no server)."""

import asyncio

import pytest

from hybridmsg.drivers.nats.addressing import member, roll_call
from hybridmsg.drivers.nats.rotation import Rotation, View

M = [f"S.{i:032x}" for i in range(4)]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # each step: ("add"|"remove", member) or ("next", None); expected: what each next gave
        ([("next", None)], [None]),
        ([("add", M[0]), ("next", None), ("next", None)], [M[0], M[0]]),
        ([("add", M[0]), ("add", M[1]), ("add", M[0])] + [("next", None)] * 3,
         [M[0], M[1], M[0]]),
        # removing one already passed keeps the turn on the member that was next
        ([("add", M[0]), ("add", M[1]), ("add", M[2]), ("next", None), ("next", None),
          ("remove", M[0]), ("next", None), ("next", None)], [M[0], M[1], M[2], M[1]]),
        # removing the member whose turn it is passes the turn on
        ([("add", M[0]), ("add", M[1]), ("add", M[2]), ("next", None), ("remove", M[1]),
          ("next", None), ("next", None)], [M[0], M[2], M[0]]),
        # removing the last one, whose turn it was: back to the first
        ([("add", M[0]), ("add", M[1]), ("next", None), ("remove", M[1]), ("next", None)],
         [M[0], M[0]]),
        ([("add", M[0]), ("remove", M[0]), ("remove", M[3]), ("next", None)], [None]),
        # a member that joins takes its turn after those already known
        ([("add", M[0]), ("add", M[1]), ("next", None), ("add", M[2]), ("next", None),
          ("next", None), ("next", None)], [M[0], M[1], M[2], M[0]]),
    ],
)
def test_view_takes_turns(steps, expected):
    view = View(learned=0.0)
    got = []
    for op, arg in steps:
        if op == "next":
            got.append(view.next())
        else:
            getattr(view, op)(arg)
    assert got == expected


@pytest.mark.parametrize(("now", "stale"), [(0.0, False), (4.9, False), (5.0, True), (9, True)])
def test_view_ages(now, stale):
    assert View(learned=0.0).stale(now, max_age=5.0) is stale


S = "p.v.any.e.t"
OTHER = "p.v.all.e.t"
REPLY = "p.v.reply.me"
A, B, C = (member(S, f"{i:032x}") for i in range(3))


class Wire:
    """What a rotation publishes and releases, with a loop to run it in."""

    def __init__(self, **timing):
        self.published: list[tuple[str, bytes, str]] = []
        self.released: list[str] = []
        self.rotation = Rotation(
            REPLY, self.publish, lambda s: s.startswith("p.v.any."), self.released.append,
            **timing,
        )

    async def publish(self, subject, body, reply):
        self.published.append((subject, body, reply))

    def answer(self, reply, who: str | None, status=None) -> bool:
        return self.rotation.answered(reply, (who or "").encode(), status)


async def until(condition, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 10))


def test_first_message_waits_for_the_roll_call_then_members_take_turns():
    async def main():
        wire = Wire(quiet=0.05)
        assert wire.rotation.must_wait(S)
        assert wire.rotation.must_wait(S)  # still learning: one roll call only
        await until(lambda: wire.published)
        [(subject, body, reply)] = wire.published
        assert (subject, body) == (roll_call(S), b"")
        assert reply.startswith(REPLY + ".w")
        assert wire.answer(reply, A) and wire.answer(reply, B)
        assert wire.released == []
        await until(lambda: wire.released == [S])
        assert not wire.rotation.must_wait(S)
        assert [wire.rotation.route(S) for _ in range(4)] == [A, B, A, B]
        # a late answer still joins the turn
        wire.answer(reply, C)
        assert [wire.rotation.route(S) for _ in range(3)] == [A, B, C]

    run(main())


def test_no_responders_means_no_members_and_releases_at_once():
    async def main():
        wire = Wire(quiet=60, limit=60)
        assert wire.rotation.must_wait(S)
        await until(lambda: wire.published)
        wire.answer(wire.published[0][2], None, status="503")
        assert wire.released == [S]
        assert wire.rotation.route(S) == S  # the queue group itself

    run(main())


def test_a_silent_roll_call_releases_at_its_limit():
    async def main():
        wire = Wire(quiet=60, limit=0.05)
        assert wire.rotation.must_wait(S)
        await until(lambda: wire.released == [S])
        assert wire.rotation.route(S) == S

    run(main())


def test_subjects_without_a_queue_group_never_wait_nor_roll_call():
    async def main():
        wire = Wire()
        assert not wire.rotation.must_wait(OTHER)
        assert wire.rotation.route(OTHER) == OTHER
        await asyncio.sleep(0.01)
        assert wire.published == []

    run(main())


def test_stale_view_is_refreshed_without_waiting_and_gone_members_leave():
    async def main():
        wire = Wire(quiet=0.01, max_age=0.05)
        wire.rotation.must_wait(S)
        await until(lambda: wire.published)
        reply = wire.published[0][2]
        wire.answer(reply, A)
        wire.answer(reply, B)
        await until(lambda: wire.released == [S])
        wire.rotation.gone(S, A)
        assert [wire.rotation.route(S) for _ in range(2)] == [B, B]
        await asyncio.sleep(0.06)
        assert not wire.rotation.must_wait(S)  # stale: asks again, but does not wait
        await until(lambda: len(wire.published) == 2)
        assert wire.published[1] == (roll_call(S), b"", reply)
        wire.answer(reply, C)
        assert [wire.rotation.route(S) for _ in range(2)] == [B, C]
        wire.answer(reply, None, status="503")  # everyone left since
        assert wire.rotation.route(S) == S

    run(main())


def test_answers_that_name_no_member_of_the_group_are_ignored():
    async def main():
        wire = Wire(quiet=0.01)
        wire.rotation.must_wait(S)
        await until(lambda: wire.published)
        reply = wire.published[0][2]
        assert wire.answer(reply, "p.v.notify.e.t")
        assert wire.answer(reply, member("p.v.any.e.other", "0" * 32))
        await until(lambda: wire.released == [S])
        assert wire.rotation.route(S) == S
        assert not wire.answer(REPLY + ".17", A)  # a call's token: not a roll call's
        assert wire.answer(REPLY + ".w99", A)  # an unknown roll call: taken, ignored
        assert wire.rotation.route(S) == S

    run(main())
