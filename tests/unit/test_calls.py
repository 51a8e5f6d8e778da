"""Reply correlation and call deadlines, without a server."""

import threading
import time

import oslo_messaging as om
import pytest

from hybridmsg.drivers import envelope
from hybridmsg.drivers.calls import PendingCalls, wait_for_reply


def test_reply_reaches_its_caller_only():
    calls = PendingCalls()
    qa, qb = calls.register("a"), calls.register("b")
    calls.on_reply(envelope.encode_reply("b", result=2))
    calls.on_reply(envelope.encode_reply("a", result=1))
    assert wait_for_reply(qa, "a", 1, None).result == 1
    assert wait_for_reply(qb, "b", 1, None).result == 2


def test_late_and_malformed_replies_are_dropped():
    calls = PendingCalls()
    q = calls.register("a")
    calls.forget("a")
    calls.on_reply(envelope.encode_reply("a", result=1))
    calls.on_reply(b"garbage")
    assert q.empty() and len(calls) == 0


def test_timeout_raises_messaging_timeout():
    q = PendingCalls().register("a")
    started = time.monotonic()
    with pytest.raises(om.MessagingTimeout, match="call's timeout"):
        wait_for_reply(q, "a", 0.2, None)
    assert time.monotonic() - started >= 0.2


def test_heartbeats_extend_the_monitor_deadline_but_not_the_timeout():
    calls = PendingCalls()
    q = calls.register("a")
    stop = threading.Event()

    def beat():
        while not stop.wait(0.05):
            calls.on_reply(envelope.encode_heartbeat("a"))

    t = threading.Thread(target=beat)
    t.start()
    try:
        started = time.monotonic()
        with pytest.raises(om.MessagingTimeout, match="call's timeout"):
            wait_for_reply(q, "a", 2.0, 1.0)  # a busy machine may delay a beat: margin
        assert time.monotonic() - started >= 2.0
    finally:
        stop.set()
        t.join()


def test_missing_heartbeats_end_the_call_at_the_monitor_timeout():
    q = PendingCalls().register("a")
    with pytest.raises(om.MessagingTimeout, match="call monitor"):
        wait_for_reply(q, "a", 10, 0.2)


def test_send_failure_wakes_the_caller():
    calls = PendingCalls()
    q = calls.register("a")
    calls.fail("a", om.MessageDeliveryFailure("too big"))
    with pytest.raises(om.MessageDeliveryFailure, match="too big"):
        wait_for_reply(q, "a", 5, None)
