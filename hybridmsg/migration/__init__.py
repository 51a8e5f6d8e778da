"""Live migration of RPC between RabbitMQ and a router: ``hybridmsg migrate``.

``stages`` is the pure model (positions, stages, their service configs and checks),
``verify`` the checks against running servers, ``runner`` the resumable engine.
"""
