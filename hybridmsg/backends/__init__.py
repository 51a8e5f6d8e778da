"""Backends: render each server's configuration and run it on this machine.

* :mod:`~hybridmsg.backends.nats` -- nats-server config rendering and a runner.
* :mod:`~hybridmsg.backends.rabbitmq` -- rabbitmq.conf and definitions rendering.
* :mod:`~hybridmsg.backends.rabbitmq_node` -- a private RabbitMQ node (run, stop, admin).
* :mod:`~hybridmsg.backends.process` -- child processes with pid files and readiness.
* :mod:`~hybridmsg.backends.ports` -- free/taken loopback ports.
* :mod:`~hybridmsg.backends.urls` -- transport URLs for the servers run here.

The local stack's servers share one message size limit, :data:`MAX_MESSAGE_SIZE`.
"""

#: The largest message (bytes of the body the driver sends) the stack's servers accept: RabbitMQ's
#: ``max_message_size`` and nats-server's ``max_payload``, so that what one backend carries
#: the other does too (e.g. during a migration). 8 MiB is nats-server's recommended
#: ceiling; RabbitMQ 3.10's own default is 128 MiB, 4.x's 16 MiB.
MAX_MESSAGE_SIZE = 8 * 1024 * 1024
