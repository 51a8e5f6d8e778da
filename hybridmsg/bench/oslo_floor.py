"""oslo.messaging's own floor for a fanout: no wire at all, oslo's in-memory ``fake://``.

A fanout to N RPC servers in one process costs oslo one executor hand-off per server
(each server has its executor; a worker thread wakes, dispatches and returns), whatever
carries the message there. This measures that floor, in one process, with the same
endpoint and counting as the bench's peers::

    python -m hybridmsg.bench.oslo_floor [SERVERS] [ROUNDS]

and prints the median time from a fanout until every server handled it. The bench's
"fanout to all" at 1,000 servers runs 250 servers in each of 4 processes on the same
cores: compare it with this figure for 250.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import oslo_messaging as om

from hybridmsg.bench.clients import OsloServers
from hybridmsg.bench.peer import Counters, server_name

TOPIC = "floor"
TIMEOUT = 60.0


def fanout_floor(servers: int, rounds: int) -> list[float]:
    """Milliseconds from each of ``rounds`` fanouts until all ``servers`` handled it."""
    counters = Counters()
    names = [server_name(i) for i in range(servers)]
    group = OsloServers("fake://", TOPIC, names, counters.add, notify=False)
    group.start(lambda started: None)
    fanout = om.get_rpc_client(group.transport, om.Target(topic=TOPIC, fanout=True))
    times = []
    for done in range(1, rounds + 1):
        started = time.perf_counter()
        fanout.cast({}, "fan")
        if counters.wait("fanout", done * servers, TIMEOUT) < done * servers:
            raise SystemExit(f"a fanout reached fewer than {servers} servers in {TIMEOUT} s")
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hybridmsg.bench.oslo_floor",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("servers", type=int, nargs="?", default=250)
    parser.add_argument("rounds", type=int, nargs="?", default=7)
    args = parser.parse_args(argv)
    if args.servers < 1 or args.rounds < 1:
        parser.error("SERVERS and ROUNDS must be at least 1")
    servers, rounds = args.servers, args.rounds
    times = fanout_floor(servers, rounds)
    print(f"fake:// fanout to {servers} servers in one process: "
          f"median {statistics.median(times):.1f} ms over {rounds} rounds", flush=True)
    os._exit(0)  # fake:// servers take a poll timeout each to stop: nothing to clean up


if __name__ == "__main__":
    main()
