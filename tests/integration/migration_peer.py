"""One process of the migration workload: an unchanged oslo.messaging service.

Usage: ``python -m tests.integration.migration_peer ROLE CONFIG_FILE NAME [SERVERS]``.
The process reads its oslo.messaging config from CONFIG_FILE (a service snippet) exactly
as a service reads its config file, prints ``ready`` once it serves, runs until its
standard input closes, then stops gracefully and prints one JSON line of what it did.

* ``server`` -- an RPC server (threading executor) on topic ``work`` with server NAME;
  records the id of every call and cast it handled.
* ``client`` -- calls and casts continuously, each to the shared topic or, in turn, to one
  of SERVERS (comma-separated) by name, and sends notifications; records every id sent
  and every send that failed (a call also when its reply was wrong). Stopping lets
  in-flight calls finish.
* ``listener`` -- a notification listener on topic ``notifications``; records every id.
"""

import json
import os
import select
import sys
import threading
from collections.abc import Callable

import oslo_messaging as om
from oslo_config import cfg

TOPIC = "work"
NOTIFY_TOPIC = "notifications"
ANY = "any"  # the last part of the id of a message to the shared topic
PACE = 0.05  # seconds between two sends of one sending thread
CALL_TIMEOUT = 15


def wait_for_eof() -> None:
    while True:
        select.select([sys.stdin], [], [])
        if not os.read(sys.stdin.fileno(), 4096):
            return


class Handled:
    """RPC and notification endpoint that records the ids it handled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.casts: list[str] = []
        self.notifications: list[str] = []

    def echo(self, ctxt, id):
        with self.lock:
            self.calls.append(id)
        return id

    def record(self, ctxt, id):
        with self.lock:
            self.casts.append(id)

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.notifications.append(payload["id"])


def serve(conf: cfg.ConfigOpts, name: str, notifications: bool) -> dict:
    handled = Handled()
    if notifications:
        transport = om.get_notification_transport(conf)
        server = om.get_notification_listener(
            transport, [om.Target(topic=NOTIFY_TOPIC)], [handled], executor="threading"
        )
    else:
        transport = om.get_rpc_transport(conf)
        server = om.get_rpc_server(
            transport, om.Target(topic=TOPIC, server=name), [handled], executor="threading"
        )
    server.start()
    print("ready", flush=True)
    wait_for_eof()
    server.stop()
    server.wait()
    transport.cleanup()
    return {"calls": handled.calls, "casts": handled.casts, "notifications": handled.notifications}


def client(conf: cfg.ConfigOpts, name: str, servers: list[str]) -> dict:
    transport = om.get_rpc_transport(conf)
    notify_transport = om.get_notification_transport(conf)
    notifier = om.Notifier(notify_transport, publisher_id=name, topics=[NOTIFY_TOPIC])
    rpc = om.get_rpc_client(transport, om.Target(topic=TOPIC), timeout=CALL_TIMEOUT)
    targets = [rpc, *(rpc.prepare(server=server) for server in servers)]
    stop = threading.Event()
    sent: dict[str, list[str]] = {"calls": [], "casts": [], "notifications": []}
    failures: list[str] = []

    def call(i: int, id: str) -> None:
        answer = targets[i % len(targets)].call({}, "echo", id=id)
        if answer != id:
            failures.append(f"{id}: wrong reply {answer!r}")

    actions: dict[str, Callable[[int, str], None]] = {
        "calls": call,
        "casts": lambda i, id: targets[i % len(targets)].cast({}, "record", id=id),
        "notifications": lambda i, id: notifier.info({}, "work.done", {"id": id}),
    }

    def attempt(kind: str, i: int, id: str) -> None:
        try:
            actions[kind](i, id)
        except Exception as exc:
            failures.append(f"{id}: {type(exc).__name__}: {exc}")

    def loop(kind: str) -> None:
        i = 0
        while not stop.wait(PACE):
            k = i % len(targets)
            id = f"{name}:{kind}:{i}:{servers[k - 1] if k else ANY}"
            sent[kind].append(id)
            attempt(kind, i, id)
            i += 1

    threads = [threading.Thread(target=loop, args=(kind,)) for kind in actions]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    wait_for_eof()
    stop.set()
    for thread in threads:
        thread.join()
    transport.cleanup()
    # as a service stops: what its notification spool still holds is sent first (an exit
    # without it leaves them in the spool, for the next process that spools there)
    notify_transport.cleanup()
    return {"sent": sent, "failures": failures}


def main() -> None:
    role, config_file, name = sys.argv[1:4]
    conf = cfg.CONF  # as a service: oslo.messaging 18.3 reads some options from cfg.CONF only
    conf(["--config-file", config_file], project="migration-peer")
    if role == "client":
        result = client(conf, name, sys.argv[4].split(","))
    else:
        result = serve(conf, name, notifications=role == "listener")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
