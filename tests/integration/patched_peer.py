"""Many transports of one driver in one eventlet-patched process, as services run them.

Usage: ``python -m tests.integration.patched_peer URL``. The process is monkey-patched
first. It opens three transports of URL's driver (RPC servers on one, an RPC client on
another, a notifier on a third), serves with the eventlet executor, sends calls (from many
green threads at once), casts, fanouts and notifications, and prints one JSON line of what
arrived where. Every wait is bounded.
"""

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

import oslo_messaging as om  # noqa: E402
from oslo_config import cfg  # noqa: E402

from tests.integration.oslo_peer import NotificationRecorder, Recorder  # noqa: E402

CALLS, CASTS, FANOUTS, NOTES = 60, 40, 10, 40
WAIT = 30.0


def main(url: str) -> dict:
    topic = f"patched-{uuid.uuid4().hex[:8]}"
    servers_side = om.get_rpc_transport(cfg.CONF, url=url)
    client_side = om.get_rpc_transport(cfg.CONF, url=url)
    notify_side = om.get_notification_transport(cfg.CONF, url=url)
    recorders = [Recorder("a"), Recorder("b")]
    servers = [
        om.get_rpc_server(servers_side, om.Target(topic=topic, server=r.name), [r],
                          executor="eventlet")
        for r in recorders
    ]
    notes = NotificationRecorder()
    listener = om.get_notification_listener(
        servers_side, [om.Target(topic=topic)], [notes], executor="eventlet"
    )
    for server in (*servers, listener):
        server.start()
    try:
        rpc = om.get_rpc_client(client_side, om.Target(topic=topic), timeout=WAIT)
        pool = eventlet.GreenPool(12)
        replies = list(pool.imap(lambda i: rpc.call({}, "echo", value=i)["value"],
                                 range(CALLS)))
        for i in range(CASTS):
            rpc.cast({}, "record", value=f"cast-{i}")
        fanout = rpc.prepare(fanout=True)
        for i in range(FANOUTS):
            fanout.cast({}, "record", value=f"fanout-{i}")
        notifier = om.Notifier(notify_side, publisher_id="peer", driver="messaging",
                               topics=[topic])
        for i in range(NOTES):
            notifier.info({}, "peer.note", {"n": i})
        handled = CASTS + FANOUTS * len(recorders)
        each = [r.wait_casts(FANOUTS, WAIT) for r in recorders]
        all_casts = all(each) and _wait(lambda: _casts(recorders) >= handled)
        notes.wait_for(NOTES, WAIT)
        return {
            "replies": sorted(replies) == list(range(CALLS)),
            "casts_everywhere": all_casts,
            "casts": sum(_count(r, "cast-") for r in recorders),
            "fanouts": [_count(r, "fanout-") for r in recorders],
            "notifications": len(notes.events),
        }
    finally:
        for server in (*servers, listener):
            server.stop()
            server.wait()
        for transport in (servers_side, client_side, notify_side):
            transport.cleanup()


def _count(recorder: Recorder, prefix: str) -> int:
    return sum(n for value, n in recorder.casts.items() if str(value).startswith(prefix))


def _casts(recorders) -> int:
    return sum(sum(r.casts.values()) for r in recorders)


def _wait(done, timeout: float = WAIT) -> bool:
    deadline = eventlet.hubs.get_hub().clock() + timeout
    while not done():
        if eventlet.hubs.get_hub().clock() > deadline:
            return False
        eventlet.sleep(0.05)
    return True


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])), flush=True)
