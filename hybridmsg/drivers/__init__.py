"""oslo.messaging drivers that carry RPC through a message router.

``routed`` and its helpers are the wire-agnostic core (addressing contract, reply
correlation, deadlines, listeners); each wire (``nats``, later ``amqp1``) supplies only a
:class:`~hybridmsg.drivers.link.Link` and its addressing.
"""
