"""Prove a deployment with real oslo.messaging traffic, service by service.

For each service, on its own transport URLs: an RPC ``call``, a ``cast`` and a ``fanout``
to two RPC servers (threading executor) in this process, and, when the mode keeps
notifications, one notification received by a listener. For each notification reader:
one notification of every service (sent with the service's URL) received by a listener
with the reader's URL on that service's vhost. Every step is bounded by a timeout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass

import oslo_messaging
from oslo_config import cfg

from hybridmsg.errors import CheckFailed
from hybridmsg.plan import mask_url
from hybridmsg.readers import CHECK_TOPIC, ReaderConfig
from hybridmsg.services import ServiceConfig

TOPIC = CHECK_TOPIC
SERVERS = ("check-1", "check-2")
STEPS = ("call", "cast", "fanout", "notify")


@dataclass(frozen=True)
class Outcome:
    """One step of one service: passed or not, how long it took (None: never ran), why not."""

    ok: bool
    ms: float | None
    error: str = ""


@dataclass(frozen=True)
class ServiceResult:
    """The outcomes of one service, by step; a step the mode does not have is absent."""

    service: str
    outcomes: tuple[tuple[str, Outcome], ...]

    @property
    def ok(self) -> bool:
        return all(outcome.ok for _, outcome in self.outcomes)


class _Recorder:
    """RPC and notification endpoint: answers ``ping``, remembers the tokens it sees."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._changed = threading.Condition()

    def ping(self, ctxt: dict, token: str) -> str:
        return token

    def record(self, ctxt: dict, token: str) -> None:
        with self._changed:
            self._seen.add(token)
            self._changed.notify_all()

    def info(self, ctxt, publisher_id, event_type, payload, metadata) -> None:
        self.record(ctxt, payload.get("token", ""))

    def wait_for(self, token: str, timeout: float, what: str = "message") -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: token in self._seen, timeout):
                raise TimeoutError(f"no {what} within {timeout:g} s")


def check_service(config: ServiceConfig, timeout: float) -> ServiceResult:
    """Run every step the mode has for one service; never raises for a failed step."""
    wanted = STEPS if config.notifies else STEPS[:-1]
    try:
        with ExitStack() as stack:
            steps, servers = _rpc_steps(stack, config.self_contained(config.rpc_url), timeout)
            if config.notification_url:
                listen = send = config.self_contained(config.notification_url)
                notify, listener = _notify_step(
                    stack, listen, send, config.notification_driver, timeout
                )
                steps["notify"], servers = notify, [*servers, listener]
            stack.enter_context(_running(servers, timeout))
            outcomes = tuple((name, _timed(step, timeout)) for name, step in steps.items())
    except Exception as exc:  # setup or teardown failed: so does every step, with the reason
        failed = Outcome(ok=False, ms=None, error=_reason(exc))
        outcomes = tuple((step, failed) for step in wanted)
    return ServiceResult(config.service, outcomes)


def reader_label(reader: str) -> str:
    """How a reader's row is named in the table."""
    return f"{reader} (reader)"


def check_reader(
    config: ReaderConfig, services: list[ServiceConfig], timeout: float
) -> ServiceResult:
    """The ``notify`` step of a reader: one notification of each service reaches it."""
    senders = {service.service: service for service in services}
    label = reader_label(config.reader)
    try:
        with ExitStack() as stack:
            steps, listeners = [], []
            for name, url in config.urls:
                sender = senders[name]
                assert sender.notification_url is not None  # the mode keeps notifications
                step, listener = _notify_step(
                    stack,
                    config.self_contained(url),
                    sender.self_contained(sender.notification_url),
                    sender.notification_driver,
                    timeout,
                    what=f"notification of {name}",
                )
                steps.append(step)
                listeners.append(listener)
            stack.enter_context(_running(listeners, timeout))

            def read_all() -> None:
                for step in steps:
                    step()

            outcome = _timed(read_all, timeout * max(len(steps), 1))
    except Exception as exc:
        outcome = Outcome(ok=False, ms=None, error=_reason(exc))
    return ServiceResult(label, (("notify", outcome),))


def check_all(
    configs: list[ServiceConfig],
    timeout: float,
    on_result: Callable[[ServiceResult], None] = lambda result: None,
) -> list[ServiceResult]:
    """Check every service in turn, reporting each result as soon as it is known."""
    results = []
    for config in configs:
        results.append(check_service(config, timeout))
        on_result(results[-1])
    return results


def format_row(result: ServiceResult | None, width: int) -> str:
    """One table row (the header when ``result`` is None)."""
    if result is None:
        return f"{'service':<{width}}" + "".join(f"{step:>12}" for step in STEPS)
    cells = dict(result.outcomes)
    row = f"{result.service:<{width}}"
    for step in STEPS:
        row += f"{_cell(cells.get(step)):>12}"
    return row


def failure_lines(result: ServiceResult) -> list[str]:
    """Why steps failed, one line per distinct reason: ``nova cast, fanout: reason``."""
    steps_by_reason: dict[str, list[str]] = {}
    for step, outcome in result.outcomes:
        if not outcome.ok:
            steps_by_reason.setdefault(outcome.error, []).append(step)
    return [
        f"{result.service} {', '.join(steps)}: {reason}"
        for reason, steps in steps_by_reason.items()
    ]


def _cell(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    verdict = "ok" if outcome.ok else "FAIL"
    return verdict if outcome.ms is None else f"{verdict} {outcome.ms:.0f} ms"


def raise_on_failure(results: list[ServiceResult]) -> None:
    """CheckFailed naming the first failure (and how many there were), if any failed."""
    failures = [(r.service, step, o) for r in results for step, o in r.outcomes if not o.ok]
    if failures:
        service, step, outcome = failures[0]
        raise CheckFailed(
            f"{len(failures)} check(s) failed; first: {service} {step}: {outcome.error}"
        )


Step = Callable[[], None]


def _rpc_steps(stack: ExitStack, url: str, timeout: float) -> tuple[dict[str, Step], list]:
    """The call, cast and fanout steps, and the two RPC servers they need running."""
    token = uuid.uuid4().hex
    transport = stack.enter_context(_transport(oslo_messaging.get_rpc_transport, url, timeout))
    recorders = [_Recorder() for _ in SERVERS]
    servers = [
        oslo_messaging.get_rpc_server(
            transport,
            oslo_messaging.Target(topic=TOPIC, server=name),
            [recorder],
            executor="threading",
        )
        for name, recorder in zip(SERVERS, recorders, strict=True)
    ]
    client = oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic=TOPIC), timeout=timeout
    )
    one, fanout = client.prepare(server=SERVERS[0]), client.prepare(fanout=True)

    def call() -> None:
        answer = one.call({}, "ping", token=token)
        if answer != token:
            raise ValueError(f"call answered {answer!r}, not {token!r}")

    def cast() -> None:
        one.cast({}, "record", token=token + "-cast")
        recorders[0].wait_for(token + "-cast", timeout)

    def fan() -> None:
        fanout.cast({}, "record", token=token + "-fanout")
        for recorder in recorders:
            recorder.wait_for(token + "-fanout", timeout)

    return {"call": call, "cast": cast, "fanout": fan}, servers


def _notify_step(
    stack: ExitStack,
    listen_url: str,
    send_url: str,
    driver: str,
    timeout: float,
    what: str = "message",
) -> tuple[Step, object]:
    """The notify step (sent on ``send_url``, received on ``listen_url``), and the
    notification listener it needs running."""
    token = uuid.uuid4().hex
    get = oslo_messaging.get_notification_transport
    transport = stack.enter_context(_transport(get, listen_url, timeout))
    sending = transport
    if send_url != listen_url:
        sending = stack.enter_context(_transport(get, send_url, timeout))
    recorder = _Recorder()
    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=TOPIC)], [recorder], executor="threading"
    )
    notifier = oslo_messaging.Notifier(
        sending, publisher_id="hybridmsg.check", driver=driver, topics=[TOPIC]
    )

    def notify() -> None:
        notifier.info({}, "hybridmsg.check", {"token": token})
        recorder.wait_for(token, timeout, what)

    return notify, listener


@contextmanager
def _transport(get: Callable, url: str, timeout: float) -> Iterator[oslo_messaging.Transport]:
    transport = get(cfg.CONF, url=url)
    with _then(lambda: _bounded("transport cleanup", timeout, transport.cleanup)):
        yield transport


@contextmanager
def _running(servers: list, timeout: float) -> Iterator[None]:
    """Start ``servers``; afterwards stop them all, then wait for them all (in parallel)."""
    started: list = []

    def stop() -> None:
        _bounded("server stop", timeout, *(server.stop for server in started))
        _bounded("server wait", timeout, *(server.wait for server in started))

    with _then(stop):
        for server in servers:
            _bounded("server start", timeout, server.start)
            started.append(server)
        yield


@contextmanager
def _then(cleanup: Callable[[], object]) -> Iterator[None]:
    """Run ``cleanup`` after the block; its failure never hides the block's own."""
    try:
        yield
    except BaseException:
        with suppress(Exception):
            cleanup()
        raise
    cleanup()


def _timed(step: Callable[[], None], timeout: float) -> Outcome:
    started = time.monotonic()
    try:
        _bounded("step", 2 * timeout, step)
    except Exception as exc:
        return Outcome(False, (time.monotonic() - started) * 1000, _reason(exc))
    return Outcome(True, (time.monotonic() - started) * 1000)


def _bounded(what: str, timeout: float, *functions: Callable[[], object]) -> None:
    """Run ``functions`` at once, each in a daemon thread; TimeoutError if one overruns."""
    errors: list[BaseException] = []

    def target(function: Callable[[], object]) -> None:
        try:
            function()
        except BaseException as exc:  # handed to the waiting thread
            errors.append(exc)

    threads = [
        threading.Thread(target=target, args=(f,), name=f"hybridmsg-check {what}", daemon=True)
        for f in functions
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"{what} did not finish within {timeout:g} s")
    if errors:
        raise errors[0]


def _reason(exc: BaseException) -> str:
    text = mask_url(str(exc).splitlines()[0]) if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
