"""A stand-in for an OpenStack service that reads only its hybridmsg snippet.

Usage: ``python -m tests.integration.snippet_service CONFIG_FILE``. Loads the snippet as a
service loads its config file (into the global ``cfg.CONF``), then makes a call, a cast
and, when the snippet keeps notifications, sends and receives notifications; prints one
JSON line of what worked. Every wait is bounded.
"""

import json
import sys
import threading

import oslo_messaging as om
from oslo_config import cfg

COUNT = 5


class Endpoint:
    def __init__(self):
        self.casts = threading.Semaphore(0)

    def echo(self, ctxt, value):
        return value

    def record(self, ctxt, value):
        self.casts.release()


class Notifications:
    def __init__(self):
        self.received = threading.Semaphore(0)

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.received.release()


def rpc_works(transport) -> dict:
    endpoint = Endpoint()
    server = om.get_rpc_server(
        transport, om.Target(topic="snippet", server="s"), [endpoint], executor="threading"
    )
    server.start()
    try:
        rpc = om.get_rpc_client(transport, om.Target(topic="snippet"), timeout=20)
        rpc.cast({}, "record", value=1)
        answer = rpc.call({}, "echo", value="ok")
        return {"call": answer, "cast": endpoint.casts.acquire(timeout=20)}
    finally:
        server.stop()
        server.wait()


def notifications_received(transport) -> int:
    endpoint = Notifications()
    listener = om.get_notification_listener(
        transport, [om.Target(topic="snippet")], [endpoint], executor="threading"
    )
    listener.start()
    try:
        notifier = om.Notifier(transport, publisher_id="snippet", topics=["snippet"])
        for i in range(COUNT):
            notifier.info({}, "snippet.test", {"i": i})
        return sum(endpoint.received.acquire(timeout=20) for _ in range(COUNT))
    finally:
        listener.stop()
        listener.wait()


def main() -> None:
    cfg.CONF(["--config-file", sys.argv[1]], project="snippet")
    result = {}
    rpc = om.get_rpc_transport(cfg.CONF)
    try:
        result.update(rpc_works(rpc))
    finally:
        rpc.cleanup()
    notify = om.get_notification_transport(cfg.CONF)  # registers the notification options
    try:
        if cfg.CONF.oslo_messaging_notifications.driver != ["noop"]:
            result["notifications"] = notifications_received(notify)
    finally:
        notify.cleanup()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
