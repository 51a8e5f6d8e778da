"""The one place that imports oslo.messaging's private driver API.

oslo.messaging does not promise stability for ``_drivers``; pyproject.toml pins the
supported range (>=18,<19), and keeping every such import here makes an upgrade a
one-file review.
"""

from oslo_messaging._drivers.base import (
    BaseDriver,
    IncomingMessage,
    Listener,
    RpcIncomingMessage,
)
from oslo_messaging._drivers.common import (
    deserialize_remote_exception,
    serialize_remote_exception,
)

__all__ = [
    "BaseDriver",
    "IncomingMessage",
    "Listener",
    "RpcIncomingMessage",
    "deserialize_remote_exception",
    "serialize_remote_exception",
]
