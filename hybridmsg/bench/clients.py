"""The oslo.messaging side of the bench: a client, RPC servers and notifications.

Everything goes through oslo.messaging's public API on the global ``cfg.CONF``, so the
same code measures ``rabbit://`` (oslo's own driver) and ``nats://`` (ours).
"""

from __future__ import annotations

from collections.abc import Callable

import oslo_messaging as om
from oslo_config import cfg

CALL_TIMEOUT = 30.0
Progress = Callable[[int], None]


class OsloClient:
    """``call``/``cast`` to one server of a topic, ``fanout`` to all, ``notify`` a listener."""

    def __init__(self, url: str, topic: str) -> None:
        self._transport = om.get_rpc_transport(cfg.CONF, url=url)
        self._client = om.get_rpc_client(
            self._transport, om.Target(topic=topic), timeout=CALL_TIMEOUT
        )
        self._prepared: dict[str, om.RPCClient] = {}
        self._fanout = self._client.prepare(fanout=True)
        self._notifier: om.Notifier | None = None
        self._url = url

    def _to(self, server: str):
        prepared = self._prepared.get(server)
        if prepared is None:
            prepared = self._prepared[server] = self._client.prepare(server=server)
        return prepared

    def call(self, server: str) -> object:
        return self._to(server).call({}, "echo", value=1)

    def cast(self, server: str) -> None:
        self._to(server).cast({}, "bump")

    def fanout(self) -> None:
        self._fanout.cast({}, "fan")

    def flush(self) -> None:
        """Casts are handed to the wire when ``cast`` returns: nothing to wait for."""

    def notify(self, topic: str) -> None:
        """An info notification on ``topic`` (the notifier is made on first use)."""
        if self._notifier is None:
            transport = om.get_notification_transport(cfg.CONF, url=self._url)
            self._notifier = om.Notifier(
                transport, publisher_id="bench", driver="messaging", topics=[topic]
            )
        self._notifier.info({}, "bench.event", {"n": 1})

    def close(self) -> None:
        self._transport.cleanup()
        if self._notifier is not None:
            self._notifier.transport.cleanup()


def early_cast_client(url: str, topic: str) -> OsloClient:
    """An ``amqp://`` client whose casts return once they left the client with the
    router's credit (``[oslo_messaging_amqp] casts_wait_for_outcome = False``)."""
    from hybridmsg.drivers.amqp1 import opts

    cfg.CONF.register_opts(opts.OPTS, group=opts.GROUP)
    cfg.CONF.set_override("casts_wait_for_outcome", False, group=opts.GROUP)
    try:
        return OsloClient(url, topic)  # the driver reads its options when it is made
    finally:
        cfg.CONF.clear_override("casts_wait_for_outcome", group=opts.GROUP)


class _Endpoint:
    """The RPC methods of a bench server; casts and fanouts are counted."""

    def __init__(self, count: Callable[[str], None]) -> None:
        self._count = count

    def echo(self, ctxt: dict, value: object) -> object:
        return value

    def bump(self, ctxt: dict) -> None:
        self._count("cast")

    def fan(self, ctxt: dict) -> None:
        self._count("fanout")


class _NotifyEndpoint:
    def __init__(self, count: Callable[[str], None]) -> None:
        self._count = count

    def info(self, ctxt, publisher_id, event_type, payload, metadata) -> None:
        self._count("notify")


class OsloServers:
    """RPC servers ``Target(topic, name)`` on one transport, or one notification listener."""

    def __init__(
        self, url: str, topic: str, names: list[str], count: Callable[[str], None], notify: bool
    ) -> None:
        self._url = url
        self._topic = topic
        self._names = names
        self._count = count
        self._notify = notify
        self._transport = None
        self._servers: list = []

    @property
    def started(self) -> int:
        return len(self._servers)

    @property
    def transport(self):
        """The transport its servers use, once started (``fake://`` reaches only itself)."""
        return self._transport

    def start(self, progress: Progress) -> None:
        """Start the servers one by one, reporting progress (a refusal raises)."""
        if self._notify:
            self._transport = om.get_notification_transport(cfg.CONF, url=self._url)
            listener = om.get_notification_listener(
                self._transport,
                [om.Target(topic=self._topic)],
                [_NotifyEndpoint(self._count)],
                executor="threading",
            )
            listener.start()
            self._servers.append(listener)
            return
        self._transport = om.get_rpc_transport(cfg.CONF, url=self._url)
        endpoint = _Endpoint(self._count)
        for name in self._names:
            server = om.get_rpc_server(
                self._transport,
                om.Target(topic=self._topic, server=name),
                [endpoint],
                executor="threading",
            )
            server.start()
            self._servers.append(server)
            progress(len(self._servers))

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        for server in self._servers:
            server.wait()
        if self._transport is not None:
            self._transport.cleanup()
