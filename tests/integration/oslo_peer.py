"""Helpers for driving oslo.messaging in tests: endpoints that record, servers, waits."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter

import oslo_messaging as om
from oslo_config import cfg


class Recorder:
    """An RPC endpoint that records what it handled, for exact counting."""

    def __init__(self, name: str):
        self.name = name
        self.casts: Counter = Counter()
        self.calls: Counter = Counter()
        self._cond = threading.Condition()

    def _note(self, counter: Counter, value) -> None:
        key = value if isinstance(value, str | int) else json.dumps(value, sort_keys=True)
        with self._cond:
            counter[key] += 1
            self._cond.notify_all()

    def echo(self, ctxt, value):
        self._note(self.calls, value)
        return {"server": self.name, "value": value}

    def record(self, ctxt, value):
        self._note(self.casts, value)

    def slow(self, ctxt, seconds):
        time.sleep(seconds)
        return self.name

    def fail(self, ctxt, kind):
        if kind == "value":
            raise ValueError("bad value from the endpoint")
        raise PeerError("a custom failure")

    def wait_casts(self, total: int, timeout: float = 10.0) -> bool:
        """True once at least ``total`` casts were handled, False at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(self.casts.values()) < total:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True


class PeerError(Exception):
    """An exception type whose module a test allows to be re-raised remotely."""


def snippet_conf(snippet) -> cfg.ConfigOpts:
    """A service's oslo.config as the service reads it: its snippet file, nothing else."""
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[str(snippet)])
    # oslo.messaging 18.3.1 registers its tracing options on cfg.CONF only
    conf.register_opt(cfg.BoolOpt("tracing_enabled", default=False), "oslo_messaging_tracing")
    return conf


@contextlib.contextmanager
def rpc_transport(url: str, **kwargs):
    transport = om.get_rpc_transport(cfg.CONF, url=url, **kwargs)
    try:
        yield transport
    finally:
        transport.cleanup()


@contextlib.contextmanager
def rpc_servers(transport, targets, endpoints, executor: str = "threading"):
    """Start one RPC server per (target, endpoint); stop and wait for them all on exit."""
    servers = [
        om.get_rpc_server(transport, target, [endpoint], executor=executor)
        for target, endpoint in zip(targets, endpoints, strict=True)
    ]
    for server in servers:
        server.start()
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
        for server in servers:
            server.wait()


class NotificationRecorder:
    """A notification endpoint that records (event_type, payload) pairs it received."""

    def __init__(self):
        self.events: list[tuple[str, dict]] = []
        self._cond = threading.Condition()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self._cond:
            self.events.append((event_type, payload))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True
