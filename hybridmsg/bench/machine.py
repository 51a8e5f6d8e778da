"""What a bench ran on: processors, memory, kernel and the versions that matter."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = ("oslo.messaging", "kombu", "nats-py", "uvloop", "python-qpid-proton", "eventlet")


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib(meminfo: str) -> float:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(servers: dict[str, str]) -> dict:
    """nproc, CPU model, memory, kernel, Python, packages and ``servers`` (name -> version)."""
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(Path("/proc/cpuinfo").read_text()),
        "memory_gib": _memory_gib(Path("/proc/meminfo").read_text()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "servers": servers,
    }


def machine_text(info: dict) -> str:
    """One paragraph for docs/benchmarks.md."""
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    servers = ", ".join(f"{k} {v}" for k, v in info["servers"].items())
    return (
        f"{info['nproc']} processors ({info['cpu']}), {info['memory_gib']} GiB memory, "
        f"Linux {info['kernel']}, Python {info['python']}; {packages}; servers: {servers}."
    )
