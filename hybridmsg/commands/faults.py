"""``hybridmsg faults``: kill and restart the servers under load, rabbit and hybrid mode
side by side (on servers of its own, so a running stack is never touched); with
``--nodes N``, kill one node of each N-node cluster in turn."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from hybridmsg.faults.load import LoadSpec
from hybridmsg.faults.runner import run_all
from hybridmsg.faults.scenario import CLUSTER_SCENARIOS, SCENARIOS, Phases
from hybridmsg.plan import Mode


def run(args: argparse.Namespace) -> int:
    directory = Path(tempfile.mkdtemp(prefix="hybridmsg-faults-"))
    spec = LoadSpec(args.threads, args.rate, args.timeout, args.notify_interval)
    phases = Phases(args.before, args.outage, args.after)
    modes = [Mode.RABBIT, Mode.HYBRID]
    scenarios = CLUSTER_SCENARIOS if args.nodes > 1 else SCENARIOS
    try:
        run_all(directory, modes, scenarios, phases, spec, lambda line: print(line, flush=True),
                args.nodes)
    except BaseException:
        print(f"logs kept in {directory}", flush=True)  # the error itself: one line, on stderr
        raise
    shutil.rmtree(directory, ignore_errors=True)
    return 0
