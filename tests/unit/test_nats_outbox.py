"""The outbox between caller threads and the I/O loop: order, cancellation, failures."""

import asyncio
import threading
from concurrent.futures import Future

import oslo_messaging as om
import pytest

from hybridmsg.drivers.nats.outbox import Outbox, Outgoing


def run_outbox(send, feed):
    """Run an outbox in a loop thread, feed it from this thread, return the loop's result."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: list[Outbox] = []
    done: list[asyncio.Event] = []

    async def main():
        box.append(Outbox(send))
        pump = box[0].start()
        done.append(asyncio.Event())
        started.set()
        await done[0].wait()
        pump.cancel()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        return feed(box[0])
    finally:
        loop.call_soon_threadsafe(done[0].set)
        thread.join(5)


def test_messages_leave_in_order_and_futures_resolve():
    sent: list[bytes] = []

    async def send(item):
        sent.append(item.body)

    def feed(outbox):
        futures = [Future() for _ in range(200)]
        for i, future in enumerate(futures):
            outbox.put(Outgoing("s", str(i).encode(), None, None, future))
        outbox.put(Outgoing("r", b"reply", None, None, None))
        for future in futures:
            assert future.result(5) is None
        return futures

    run_outbox(send, feed)
    assert sent[:200] == [str(i).encode() for i in range(200)]


def test_a_cancelled_message_never_leaves_and_failures_reach_their_sender():
    sent: list[bytes] = []
    gate = threading.Event()

    async def send(item):
        if item.body == b"slow":
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, 5)
        if item.body == b"bad":
            raise om.MessageDeliveryFailure("too big")
        sent.append(item.body)

    def feed(outbox):
        slow, late, bad = Future(), Future(), Future()
        outbox.put(Outgoing("s", b"slow", None, None, slow))
        outbox.put(Outgoing("s", b"late", None, None, late))
        outbox.put(Outgoing("s", b"bad", None, None, bad))
        assert late.cancel()  # its caller gave up while it waited behind "slow"
        gate.set()
        assert slow.result(5) is None
        with pytest.raises(om.MessageDeliveryFailure, match="too big"):
            bad.result(5)

    run_outbox(send, feed)
    assert sent == [b"slow"]


def test_fail_all_fails_what_is_still_queued():
    outbox = Outbox(send=None)
    pending = Future()
    outbox._queue.append(Outgoing("s", b"x", None, None, pending))
    outbox.fail_all("closing")
    with pytest.raises(om.MessageDeliveryFailure, match="closing"):
        pending.result(0)


def test_held_messages_wait_aside_in_order_and_leave_first_on_release():
    async def main():
        sent: list[bytes] = []
        holding = {"g"}

        async def send(item):
            sent.append(item.body)

        outbox = Outbox(send, hold=lambda item: item.subject in holding)
        pump = outbox.start()
        for subject, body in [("g", b"g1"), ("o", b"o1"), ("g", b"g2"), ("o", b"o2")]:
            outbox.put(Outgoing(subject, body, None, 1.0, Future()))
        while len(sent) < 2:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
        assert sent == [b"o1", b"o2"]
        outbox.put(Outgoing("g", b"g3", None, 1.0, Future()))  # queued, not yet taken
        holding.clear()
        outbox.release("g")
        while len(sent) < 5:
            await asyncio.sleep(0.001)
        pump.cancel()
        assert sent == [b"o1", b"o2", b"g1", b"g2", b"g3"]

    asyncio.run(asyncio.wait_for(main(), 10))


def test_fail_all_fails_held_messages_too():
    async def main():
        async def send(item):
            raise AssertionError("nothing may leave")

        outbox = Outbox(send, hold=lambda item: True)
        pump = outbox.start()
        held = Future()
        outbox.put(Outgoing("g", b"x", None, 1.0, held))
        while not outbox._held:
            await asyncio.sleep(0.001)
        outbox.fail_all("closing")
        pump.cancel()
        with pytest.raises(om.MessageDeliveryFailure, match="closing"):
            held.result(0)

    asyncio.run(asyncio.wait_for(main(), 10))
