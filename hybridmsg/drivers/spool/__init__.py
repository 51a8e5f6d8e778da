"""A local on-disk spool for notifications: ``notify()`` returns once the notification is
on local disk, a sender thread publishes from the spool in order and forgets an entry
only once RabbitMQ confirmed it.

* :mod:`.opts` -- the ``[hybridmsg_rabbit_once]`` options (directory, limits, policy);
* :mod:`.slots` -- which spool file a process owns (one per process name, locked);
* :mod:`.store` -- the spool itself: SQLite in WAL mode, oldest first, bounded;
* :mod:`.checkpoints` -- the thread that keeps the spool's write-ahead log short;
* :mod:`.outbox` -- the sender thread, the policy when full, and the log of the backlog;
* :mod:`.threads` -- which kind of thread does what in an eventlet-patched process.

Used by :mod:`hybridmsg.drivers.rabbit_once`; ``hybridmsg status`` reads the spools of
the local stack with :func:`.store.read_stats`.
"""
