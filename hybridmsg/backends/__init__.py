"""Backends: render each server's configuration and run it on this machine.

* :mod:`~hybridmsg.backends.nats` -- nats-server config rendering and a runner.
* :mod:`~hybridmsg.backends.rabbitmq` -- rabbitmq.conf and definitions rendering.
* :mod:`~hybridmsg.backends.rabbitmq_node` -- a private RabbitMQ node (run, stop, admin).
* :mod:`~hybridmsg.backends.process` -- child processes with pid files and readiness.
* :mod:`~hybridmsg.backends.ports` -- free/taken loopback ports.
* :mod:`~hybridmsg.backends.urls` -- transport URLs for the servers run here.
"""
