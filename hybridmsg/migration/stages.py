"""The stages of moving RPC between RabbitMQ and a router. Pure: no I/O here.

A migration walks a line of four *positions*; every process of every service runs the
config of one position, and a *stage* moves them all to the next one by a rolling restart:

====  ==========================  =============================  ================
pos   RPC sent on                 RPC servers listen on          mode
====  ==========================  =============================  ================
0     RabbitMQ                    RabbitMQ                       ``rabbit``
1     RabbitMQ                    RabbitMQ and the router        (``dual://``)
2     the router                  the router and RabbitMQ        (``dual://``)
3     the router                  the router                     ``hybrid``
====  ==========================  =============================  ================

``--to hybrid`` walks 0 -> 3, ``--to rabbit`` walks back 3 -> 0, and either can start
from any position (a migration interrupted half way is resumed or reversed from where it
stands). Notifications stay on RabbitMQ at every position. What each stage proves before
the next may start is derived from the two positions it joins (:class:`Stage`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from hybridmsg.errors import PlanError
from hybridmsg.plan import BackendKind, Mode, Plan
from hybridmsg.services import (
    DUAL_SCHEME,
    DUAL_SECTION,
    ServiceConfig,
    parse_sides,
    render,
    service_config,
)


class Side(StrEnum):
    """One of the two backends RPC can be on during a migration."""

    RABBIT = "rabbit"
    ROUTER = "router"


@dataclass(frozen=True)
class Position:
    """Where every process sends RPC and where its RPC servers listen."""

    index: int
    send: Side
    listen: frozenset[Side]


POSITIONS = (
    Position(0, Side.RABBIT, frozenset({Side.RABBIT})),
    Position(1, Side.RABBIT, frozenset({Side.RABBIT, Side.ROUTER})),
    Position(2, Side.ROUTER, frozenset({Side.RABBIT, Side.ROUTER})),
    Position(3, Side.ROUTER, frozenset({Side.ROUTER})),
)
_END_OF = {Mode.RABBIT: 0, Mode.HYBRID: 3}


def position_of(mode: Mode) -> int:
    """The position a deployment in ``mode`` (not migrating) is at."""
    if mode not in _END_OF:
        raise PlanError(
            f"migrate moves RPC between rabbit and hybrid mode, not {mode} mode "
            "(router mode has no RabbitMQ for notifications); use rabbit or hybrid"
        )
    return _END_OF[mode]


@dataclass(frozen=True)
class Stage:
    """One rolling restart, from ``before`` to ``after`` (adjacent positions)."""

    number: int
    total: int
    before: Position
    after: Position

    @property
    def preflight(self) -> tuple[Side, ...]:
        """Backends servers start listening on: ``check`` them before anyone restarts."""
        return tuple(sorted(self.after.listen - self.before.listen))

    @property
    def drains_rabbit(self) -> bool:
        """Clients stop sending on RabbitMQ: wait until its RPC queues are empty."""
        return self.before.send is Side.RABBIT and self.after.send is not Side.RABBIT

    @property
    def abandons_rabbit(self) -> bool:
        """Servers stop listening on RabbitMQ: its RPC queues must be empty before, and
        still be after (a message found then names a process that still sends there)."""
        return Side.RABBIT in self.before.listen - self.after.listen

    @property
    def final(self) -> bool:
        return self.number == self.total

    def describe(self, names: dict[Side, str]) -> str:
        """``send on nats, listen on nats and rabbitmq`` with the backends' names."""
        listen = [self.after.send, *sorted(self.after.listen - {self.after.send})]
        return f"send RPC on {names[self.after.send]}, listen on " + " and ".join(
            names[side] for side in listen
        )

    def checks(self, names: dict[Side, str]) -> list[str]:
        """What this stage verifies, in order, in words (for --dry-run and progress)."""
        drain = "wait until every RPC queue on RabbitMQ has 0 messages"
        lines = [f"before: check {names[side]} for every service" for side in self.preflight]
        if self.abandons_rabbit:
            lines.append(f"before: {drain}")
        lines.append("rolling restart of every process, one instance at a time")
        if self.drains_rabbit:
            lines.append(f"after: {drain}")
        if self.abandons_rabbit:
            lines.append("after: verify no RPC message was left on RabbitMQ meanwhile")
        if self.final:
            lines.append(f"after: check {names[self.after.send]} for every service")
        return lines


def stages(start: int, end: int) -> list[Stage]:
    """The stages from position ``start`` to position ``end`` (none when equal)."""
    step = 1 if end >= start else -1
    path = [POSITIONS[i] for i in range(start, end + step, step)]
    total = len(path) - 1
    return [
        Stage(n + 1, total, before, after)
        for n, (before, after) in enumerate(zip(path, path[1:], strict=False))
    ]


def side_names(wide: Plan) -> dict[Side, str]:
    """Display names of the two sides: the backend kinds of the plan."""
    assert wide.rabbitmq is not None and wide.router is not None
    return {Side.RABBIT: str(wide.rabbitmq.kind), Side.ROUTER: str(wide.router.kind)}


def plan_on(wide: Plan, side: Side) -> Plan:
    """The plain plan whose RPC is on ``side``, from the plan with both backends."""
    if wide.rabbitmq is None or wide.router is None:
        raise PlanError("a migration needs a plan with both RabbitMQ and a router")
    if side is Side.ROUTER:
        return replace(wide, mode=Mode.HYBRID)
    return replace(wide, mode=Mode.RABBIT, router=None)


def snippet(wide: Plan, service: str, position: Position, *, masked: bool = False) -> str:
    """The config snippet of ``service`` at ``position``: a plain one at either end,
    a ``dual://`` one (with its ``[hybridmsg_dual]`` section) in between."""
    configs = {
        side: service_config(plan_on(wide, side), service, masked=masked)
        for side in position.listen
    }
    return position_snippet(position, configs, side_names(wide))


def position_snippet(
    position: Position, configs: dict[Side, ServiceConfig], names: dict[Side, str]
) -> str:
    """The snippet at ``position`` from the service's plain config on each side it listens
    on (``configs``); ``names``: the backends' names, for the comment."""
    send = configs[position.send]
    others = position.listen - {position.send}
    if not others:
        return render(send)
    (other,) = others
    also = configs[other]
    # driver options (e.g. TLS) of both transports: each inner driver reads its own group
    options = send.options + tuple(o for o in also.options if o not in send.options)
    return render(replace(send, rpc_url=f"{DUAL_SCHEME}://", options=options)) + "\n".join(
        [
            "",
            f"# migration position {position.index} of 3: send RPC on {names[position.send]}, "
            f"also listen on {names[other]}",
            f"[{DUAL_SECTION}]",
            f"send_url = {send.rpc_url}",
            f"also_listen_url = {also.rpc_url}",
            "",
        ]
    )


def position_in(text: str, service: str) -> Position:
    """The position a service's snippet ``text`` is at (what its processes run), read from
    where it sends RPC and where its RPC servers listen."""
    configs = parse_sides(service, text)
    if not configs[0].notifies:
        raise PlanError(
            f"the snippet of {service} drops notifications (router mode): a migration moves "
            "RPC between rabbit and hybrid mode only"
        )
    sides = [_side_of(config.rpc_url) for config in configs]
    for position in POSITIONS:
        if position.send is sides[0] and sorted(position.listen) == sorted(sides):
            return position
    schemes = " and ".join(config.rpc_url.partition(":")[0] for config in configs)
    raise PlanError(
        f"the snippet of {service} has RPC on {schemes}: no position of a migration between "
        "rabbit and hybrid mode; write it with site.yml or hybridmsg up"
    )


def _side_of(url: str) -> Side:
    return Side.RABBIT if url.startswith(f"{BackendKind.RABBITMQ.scheme}://") else Side.ROUTER
