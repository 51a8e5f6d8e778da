"""A notifier in a process of its own, configured from a config file as a service is.

Usage: ``python -m tests.integration.spool_notifier CONFIG TOPIC FIRST COUNT MODE`` with
MODE ``threading`` or ``eventlet`` (the process is monkey-patched first, as eventlet
services are). It sends the notifications FIRST .. FIRST+COUNT-1 (payload ``{"n": N}``)
from one thread, prints ``accepted COUNT LONGEST_MS`` once every ``notify()`` returned,
waits for its standard input to close, cleans its transport up and prints ``stopped``.
"""

import sys

if sys.argv[5] == "eventlet":
    import eventlet

    eventlet.monkey_patch()

import time  # noqa: E402

import oslo_messaging as om  # noqa: E402
from oslo_config import cfg  # noqa: E402

from tests.integration.peer_stdin import wait_for_eof  # noqa: E402


def main() -> None:
    config, topic, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    cfg.CONF(["--config-file", config], project="spool-notifier")
    transport = om.get_notification_transport(cfg.CONF)
    notifier = om.Notifier(transport, "spool-notifier", topics=[topic])
    longest = 0.0
    for n in range(first, first + count):
        start = time.monotonic()
        notifier.info({}, "test.spooled", {"n": n})
        longest = max(longest, time.monotonic() - start)
    print("accepted", count, f"{longest * 1000:.2f}", flush=True)
    wait_for_eof()
    transport.cleanup()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
