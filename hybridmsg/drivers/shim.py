"""The one place that imports oslo.messaging's private driver API.

oslo.messaging does not promise stability for ``_drivers``; pyproject.toml pins the
supported range (>=18,<19), and keeping every such import here makes an upgrade a
short review (``rabbit_handover.py`` and ``rabbit_once.py`` also use attributes of the
``rabbit://`` listeners and messages imported here).
"""

from oslo_messaging._drivers.amqp import UNIQUE_ID
from oslo_messaging._drivers.amqpdriver import (
    NotificationAMQPIncomingMessage,
    NotificationAMQPListener,
    RpcAMQPListener,
)
from oslo_messaging._drivers.base import (
    BaseDriver,
    IncomingMessage,
    Listener,
    PollStyleListenerAdapter,
    RpcIncomingMessage,
)
from oslo_messaging._drivers.common import (
    PURPOSE_SEND,
    deserialize_remote_exception,
    serialize_remote_exception,
)
from oslo_messaging._drivers.impl_rabbit import RabbitDriver


def driver_of(transport) -> BaseDriver:
    """The driver under an oslo ``Transport`` (kept in its private ``_driver``)."""
    return transport._driver


__all__ = [
    "BaseDriver",
    "IncomingMessage",
    "Listener",
    "NotificationAMQPIncomingMessage",
    "NotificationAMQPListener",
    "PURPOSE_SEND",
    "PollStyleListenerAdapter",
    "RabbitDriver",
    "RpcAMQPListener",
    "RpcIncomingMessage",
    "UNIQUE_ID",
    "deserialize_remote_exception",
    "driver_of",
    "serialize_remote_exception",
]
