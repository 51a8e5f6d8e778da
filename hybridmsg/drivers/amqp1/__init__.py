"""The ``amqp://`` transport: routed RPC over AMQP 1.0 through Qpid Dispatch Router
(python-qpid-proton)."""
