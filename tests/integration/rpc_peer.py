"""An RPC server in its own process, for tests across processes and executors.

Usage: ``python -m tests.integration.rpc_peer URL TOPIC SERVER {threading,eventlet}``.
With ``eventlet`` the process is monkey-patched first, as eventlet services are. The peer
first calls itself (so the client side runs under the same executor model), prints
``ready <answer>`` and serves until its standard input closes.
"""

import sys

if sys.argv[4] == "eventlet":
    import eventlet

    eventlet.monkey_patch()

import json  # noqa: E402

import oslo_messaging as om  # noqa: E402
from oslo_config import cfg  # noqa: E402

from tests.integration.peer_stdin import wait_for_eof  # noqa: E402


class Endpoint:
    def __init__(self, name):
        self.name = name

    def echo(self, ctxt, value):
        return {"server": self.name, "value": value}


def main() -> None:
    url, topic, server, executor = sys.argv[1:5]
    transport = om.get_rpc_transport(cfg.CONF, url=url)
    rpc_server = om.get_rpc_server(
        transport, om.Target(topic=topic, server=server), [Endpoint(server)], executor=executor
    )
    rpc_server.start()
    own = om.get_rpc_client(transport, om.Target(topic=topic, server=server), timeout=10)
    answer = own.call({}, "echo", value="self")
    print("ready", json.dumps(answer), flush=True)
    wait_for_eof()
    rpc_server.stop()
    rpc_server.wait()
    transport.cleanup()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
