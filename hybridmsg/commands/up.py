"""``hybridmsg up``: start the servers of a mode and write every service's and reader's
config."""

from __future__ import annotations

import argparse
from pathlib import Path

from hybridmsg.errors import UsageError
from hybridmsg.plan import TLS, BackendKind, Mode
from hybridmsg.readers import reader_config
from hybridmsg.services import service_config
from hybridmsg.stack import Stack, TLSChoice


def tls_choice(args: argparse.Namespace) -> TLSChoice | None:
    """What the TLS options ask for; None: keep the deployment's (TLS for a new one)."""
    files = (args.ca_file, args.cert_file, args.key_file)
    if any(files) and not all(files):
        raise UsageError("give --ca-file, --cert-file and --key-file together")
    if args.tls is False:
        if any(files) or args.mutual_tls:
            raise UsageError("--no-tls takes no TLS files and no --mutual-tls; drop them")
        return TLSChoice(enabled=False)
    if all(files):
        if args.mutual_tls:
            raise UsageError("--mutual-tls needs the local CA; drop your own TLS files")
        ca, cert, key = (str(Path(f).absolute()) for f in files)
        return TLSChoice(own=TLS(ca, cert, key))
    if args.tls or args.mutual_tls:
        return TLSChoice(mutual=args.mutual_tls)
    return None


def run(args: argparse.Namespace) -> int:
    stack = Stack(args.state_dir)
    plan = stack.up(
        mode=Mode(args.mode) if args.mode else None,
        services=args.services,
        router=BackendKind(args.router),
        tls=tls_choice(args),
        readers=args.readers,
        nodes=args.nodes,
        spool=args.spool_notifications,
    )
    rpc, notifications = plan.rpc_backend.kind, plan.notification_backend
    print(
        f"\n{plan.mode} mode: RPC on {rpc}, notifications "
        + (f"on {notifications.kind}" if notifications else "dropped (noop)")
    )
    tls = plan.tls
    print(
        "TLS: "
        + ("off (plain connections)" if tls is None else f"on, CA {tls.ca_file}")
        + (", client certificates required" if tls and tls.mutual else "")
    )
    for name in plan.service_names:
        config = service_config(plan, name, masked=True)
        print(f"  {name:<10} rpc {config.rpc_url}")
        if config.notification_url:
            print(f"  {'':<10} notify {config.notification_url}")
    for name in plan.reader_names:
        config = reader_config(plan, name, masked=True)
        if not config.urls:
            print(f"  {name:<10} reader: nothing to read ({plan.mode} mode keeps no notifications)")
        for service, url in config.urls:
            print(f"  {name:<10} reads {service} {url}")
            name = ""
    if plan.spools:
        print(f"notifications spooled in {plan.spool_directory('SERVICE')}/")
    print(f"configs in {stack.services_dir}/ (or: hybridmsg config NAME)")
    return 0
