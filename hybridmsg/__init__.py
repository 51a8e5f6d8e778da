"""hybridmsg: router-based RPC for OpenStack beside RabbitMQ notifications."""

__version__ = "0.1.0"
