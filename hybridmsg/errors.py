"""The one error tree of hybridmsg.

Every error a person can act on derives from :class:`HybridmsgError`; its message is one
line that says what is wrong and what to do, and never contains a password. The CLI maps
these to exit codes in one place and prints them without a traceback.
"""


class HybridmsgError(Exception):
    """Root of all hybridmsg errors; ``str(err)`` is the one-line message shown to users."""

    exit_code = 1


class UsageError(HybridmsgError):
    """Bad input from the user: arguments, plan files, transport URLs."""

    exit_code = 2


class BadTransportURL(UsageError):
    """A transport URL that cannot be used (scheme, host, port, query options)."""


class MissingBinary(HybridmsgError):
    """A server program (nats-server, rabbitmq-server, qdrouterd) is not installed."""

    exit_code = 3


class ServerStartError(HybridmsgError):
    """A server was started but did not become ready (port in use, bad config, crash)."""

    exit_code = 3


class PortInUse(ServerStartError):
    """A port the plan needs is already taken by another program."""


class CheckFailed(HybridmsgError):
    """``hybridmsg check`` saw at least one failure."""

    exit_code = 4


class PlanError(UsageError):
    """A deployment plan that cannot work as written (mode, backends, services)."""


class UnknownService(UsageError):
    """A service name that is not part of the plan."""


class NotDeployed(UsageError):
    """A command that needs a deployment found none in the state directory."""


class ServerCommandError(HybridmsgError):
    """An administration command against a running server (e.g. rabbitmqctl) failed."""

    exit_code = 3
