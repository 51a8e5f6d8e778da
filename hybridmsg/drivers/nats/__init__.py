"""The ``nats://`` transport: routed RPC over a NATS server or cluster (nats-py)."""
