"""bridge: native I/O threads and waking callers, in plain and eventlet-patched processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import Future

import pytest

from hybridmsg.drivers import bridge

PATCHED_PROGRAM = r"""
import eventlet
eventlet.monkey_patch()
import json, threading, time
from eventlet import patcher
from hybridmsg.drivers import bridge

native = patcher.original("threading")
assert bridge.patched()
seen = {}

def io():
    seen["io_thread"] = native.get_native_id()
    time.sleep(0.3)  # green in name only: this OS thread sleeps, the hub does not
    done.set_result("from the I/O thread")
    deliver("callback")

done = bridge.future()
got = []
deliver = bridge.in_callers(lambda what: got.append((what, native.get_native_id())))
ticks = []
ticker = eventlet.spawn(lambda: [ticks.append(1) or eventlet.sleep(0.001) for _ in range(5)])
thread = bridge.io_thread(io, "test-io")
thread.start()
seen["result"] = bridge.wait(done, 10)
seen["ticks"] = len(ticks)
ticker.wait()
eventlet.sleep(0.05)
seen["hub_thread"] = native.get_native_id()
seen["callback"] = got
timed_out = bridge.future()
try:
    bridge.wait(timed_out, 0.05)
    seen["timeout"] = "none"
except TimeoutError:
    seen["timeout"] = "raised"
print(json.dumps(seen))
"""


def test_unpatched_futures_and_callbacks_are_the_plain_ones():
    assert not bridge.patched()
    assert type(bridge.future()) is Future
    def callback():
        return None

    assert bridge.in_callers(callback) is callback
    made = bridge.future()
    threading.Timer(0.01, made.set_result, args=(5,)).start()
    assert bridge.wait(made, 10) == 5
    with pytest.raises(TimeoutError):
        bridge.wait(bridge.future(), 0.01)


def test_in_a_patched_process_io_runs_on_its_own_os_thread_and_wakes_green_callers():
    import json

    run = subprocess.run([sys.executable, "-c", PATCHED_PROGRAM], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["io_thread"] != seen["hub_thread"]
    assert seen["result"] == "from the I/O thread"
    # the callback ran in the hub's OS thread, not the I/O thread that called it
    assert seen["callback"] == [["callback", seen["hub_thread"]]]
    assert seen["ticks"] == 5  # the other greenlet ran while the caller waited
    assert seen["timeout"] == "raised"
