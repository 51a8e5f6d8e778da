"""Hand RabbitMQ RPC traffic from an old server instance to its replacement, losing nothing.

oslo.messaging 18.x's ``rabbit://`` RPC server acknowledges a request the moment it reads
it. Its ``stop()`` ends the polling thread but leaves the consumers registered at the
broker until ``wait()`` closes the connection, so RabbitMQ goes on delivering; whatever
is read while the connection closes is acknowledged and never handled. Under load every
graceful restart of an RPC server loses a few requests (measured: 15 of 80 casts over 3
restarts of one server). ``dual://`` applies two remedies to the RabbitMQ listeners it
opens during a migration:

* :func:`requeue_after_stop` -- a request read after ``stop()`` is handed back to the
  queue (``basic.reject``, requeue) instead of being acknowledged and dropped.
* :func:`take_over` -- its consumers register with a higher priority (``x-priority``)
  than plain ``rabbit://`` servers have, so once a ``dual://`` instance consumes a queue
  RabbitMQ delivers to it alone and the plain instance it replaces can stop with nothing
  in flight; :func:`await_consuming` returns once the broker knows those consumers.

Everything here reaches into oslo.messaging's private listener and connection objects;
pyproject.toml pins the supported range, and the migration test checks the result.
"""

from __future__ import annotations

import time

from hybridmsg.drivers.shim import PollStyleListenerAdapter, RpcAMQPListener

#: ``x-priority`` of the consumers of a ``dual://`` RPC server (plain servers have 0)
PRIORITY = 1


class _RequeueAfterStop(RpcAMQPListener):
    """oslo's RPC listener, except that a request read once ``stop()`` began goes back to
    its queue for another server."""

    def __call__(self, message):
        if self._shutdown.is_set():
            message.requeue()
            return
        super().__call__(message)


def _rpc_listener(listener) -> RpcAMQPListener | None:
    if not isinstance(listener, PollStyleListenerAdapter):
        return None
    inner = listener._poll_style_listener
    return inner if isinstance(inner, RpcAMQPListener) else None


def requeue_after_stop(listener) -> None:
    """Make an oslo ``rabbit://`` RPC listener requeue what it reads after ``stop()``."""
    inner = _rpc_listener(listener)
    if inner is not None and type(inner) is RpcAMQPListener:
        inner.__class__ = _RequeueAfterStop


def _with_priority(consumer) -> None:
    """Give ``consumer`` (an oslo impl_rabbit Consumer) ``x-priority``, also after a
    reconnect redeclares its queue."""
    declare = consumer.declare

    def declare_with_priority(conn) -> None:
        declare(conn)
        _set_priority(consumer.queue)

    consumer.declare = declare_with_priority
    if consumer.queue is not None:
        _set_priority(consumer.queue)


def _set_priority(queue) -> None:
    queue.consumer_arguments = {**(queue.consumer_arguments or {}), "x-priority": PRIORITY}


def take_over(listener) -> None:
    """Register an oslo ``rabbit://`` RPC listener's consumers with ``x-priority``; call
    it before the listener starts (its consumers register on the first poll)."""
    inner = _rpc_listener(listener)
    if inner is not None:
        for consumer in inner.conn._consumers:
            _with_priority(consumer)


def await_consuming(listener, timeout: float) -> bool:
    """Wait until a started ``rabbit://`` RPC listener's consumers are registered at the
    broker; False if they are not within ``timeout`` seconds."""
    inner = _rpc_listener(listener)
    if inner is None:
        return True
    deadline = time.monotonic() + timeout
    while inner.conn._new_tags:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
