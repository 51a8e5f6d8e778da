"""The ``dual://`` driver: RPC on two transports at once, for a live migration between them.

A service whose ``[DEFAULT] transport_url = dual://`` sends on one transport and its RPC
servers listen on two::

    [hybridmsg_dual]
    send_url = nats://nova:PW@10.0.0.5:4222/nova         # call, cast, fanout go here
    also_listen_url = rabbit://nova:PW@10.0.0.4:5672/nova  # servers listen here as well

Each inner transport is the real driver of its URL (oslo's ``rabbit://``, this project's
``nats://``), loaded through the ``oslo.messaging.drivers`` entry points exactly as oslo
loads any driver, so the service itself is unchanged: it is restarted with new config.

Why this is exactly-once: every message is sent on one transport only, and each listener
receives from each transport what that transport delivers to it; the two never carry the
same message. A reply goes back through the transport its request arrived on (each
incoming message replies through its own driver). The RabbitMQ RPC listeners it opens
take traffic over from plain ``rabbit://`` servers and hand back what they read after
``stop()`` (:mod:`hybridmsg.drivers.rabbit_handover`), so restarts lose nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import oslo_messaging
from oslo_config import cfg
from stevedore import driver as stevedore_driver

from hybridmsg.drivers import rabbit_handover
from hybridmsg.drivers.shim import BaseDriver, Listener
from hybridmsg.services import DUAL_SCHEME, DUAL_SECTION

LOG = logging.getLogger(__name__)
GROUP = DUAL_SECTION
SCHEME = DUAL_SCHEME
#: how long ``start()`` waits for RabbitMQ to register the RPC consumers
CONSUMERS_TIMEOUT = 10.0

OPTS = [
    cfg.StrOpt(
        "send_url",
        secret=True,
        help="Transport URL that calls, casts, fanouts (and notifications sent through this "
        "transport) go to; RPC servers listen on it too.",
    ),
    cfg.StrOpt(
        "also_listen_url",
        secret=True,
        help="A second transport URL that RPC servers and notification listeners also "
        "listen on, while clients move from one transport to the other.",
    ),
]


def _load_driver(conf, text: str, default_exchange, allowed_remote_exmods) -> BaseDriver:
    """The real driver of transport URL ``text``, loaded as oslo loads drivers."""
    url = oslo_messaging.TransportURL.parse(conf, text)
    scheme = url.transport.split("+")[0]
    if scheme == SCHEME:
        raise oslo_messaging.InvalidTransportURL(
            SCHEME + "://", f"[{GROUP}] URLs must name a real transport, not {SCHEME}://"
        )
    manager = stevedore_driver.DriverManager(
        "oslo.messaging.drivers",
        scheme,
        invoke_on_load=True,
        invoke_args=[conf, url],
        invoke_kwds={
            "default_exchange": default_exchange,
            "allowed_remote_exmods": allowed_remote_exmods,
        },
    )
    return manager.driver


class DualListener(Listener):
    """One oslo listener over the listeners of both transports: started, stopped and
    cleaned up together, every message handed to the same callback."""

    def __init__(self, listeners: list[Listener], batch_size: int, batch_timeout):
        super().__init__(batch_size, batch_timeout)
        self._listeners = listeners

    def start(self, on_incoming_callback: Callable) -> None:
        super().start(on_incoming_callback)
        for listener in self._listeners:
            listener.start(on_incoming_callback)
        # ready means consuming: the instance this one replaces may be stopped next
        for listener in self._listeners:
            if not rabbit_handover.await_consuming(listener, CONSUMERS_TIMEOUT):
                LOG.warning(
                    "RabbitMQ has not registered the RPC consumers after %g s", CONSUMERS_TIMEOUT
                )

    def stop(self) -> None:
        for listener in self._listeners:
            listener.stop()
        super().stop()

    def cleanup(self) -> None:
        for listener in self._listeners:
            listener.cleanup()


class DualDriver(BaseDriver):
    """Sends on ``send_url``'s transport; listens on it and on ``also_listen_url``'s."""

    def __init__(self, conf, url, default_exchange=None, allowed_remote_exmods=None):
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        conf.register_opts(OPTS, group=GROUP)
        group = conf[GROUP]
        if not group.send_url:
            raise oslo_messaging.InvalidTransportURL(
                SCHEME + "://", f"transport_url {SCHEME}:// needs [{GROUP}] send_url; set it"
            )
        urls = [group.send_url] + ([group.also_listen_url] if group.also_listen_url else [])
        self._drivers = [
            _load_driver(conf, text, default_exchange, allowed_remote_exmods) for text in urls
        ]
        self._sender = self._drivers[0]

    def require_features(self, requeue=False):
        for inner in self._drivers:
            inner.require_features(requeue=requeue)

    def send(
        self,
        target,
        ctxt,
        message,
        wait_for_reply=None,
        timeout=None,
        call_monitor_timeout=None,
        retry=None,
        transport_options=None,
    ):
        return self._sender.send(
            target,
            ctxt,
            message,
            wait_for_reply=wait_for_reply,
            timeout=timeout,
            call_monitor_timeout=call_monitor_timeout,
            retry=retry,
            transport_options=transport_options,
        )

    def send_notification(self, target, ctxt, message, version, retry=None):
        return self._sender.send_notification(target, ctxt, message, version, retry=retry)

    def listen(self, target, batch_size, batch_timeout):
        listeners = [d.listen(target, batch_size, batch_timeout) for d in self._drivers]
        for listener in listeners:
            rabbit_handover.take_over(listener)
            rabbit_handover.requeue_after_stop(listener)
        return DualListener(listeners, batch_size, batch_timeout)

    def listen_for_notifications(self, targets_and_priorities, pool, batch_size, batch_timeout):
        listeners = [
            d.listen_for_notifications(targets_and_priorities, pool, batch_size, batch_timeout)
            for d in self._drivers
        ]
        return DualListener(listeners, batch_size, batch_timeout)

    def cleanup(self) -> None:
        for inner in self._drivers:
            inner.cleanup()
