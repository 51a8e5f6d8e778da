"""Filters of hybridmsg.messaging: the plan of an inventory, and each service's
oslo.messaging settings from OpenStack-Ansible's oslomsg variables, both by the hybridmsg
package (which the controller needs, as the managed hosts do)."""

from __future__ import annotations

import functools
import json

from ansible.errors import AnsibleFilterError

try:
    from hybridmsg.errors import HybridmsgError
except ImportError:  # reported when a filter is used
    HybridmsgError = None

ROUTERS = ("nats", "qdrouterd")


def _require():
    if HybridmsgError is None:
        raise AnsibleFilterError(
            "the hybridmsg package is not installed for the Python that runs ansible: "
            "pip install hybridmsg next to ansible-core"
        )


def _address(hostvars, host):
    values = hostvars[host]
    return str(values.get("hybridmsg_address") or values.get("ansible_host") or host)


def addresses(hosts, hostvars):
    """The hybridmsg addresses (hybridmsg_address, else ansible_host) of ``hosts``."""
    return [_address(hostvars, host) for host in hosts or ()]


def _hosts(groups, settings, kind):
    return list(groups.get(settings[kind]["group"]) or ())


def router_kind(groups, settings):
    """The router whose inventory group has hosts (nats or qdrouterd), else ``""``."""
    present = [kind for kind in ROUTERS if _hosts(groups, settings, kind)]
    if len(present) > 1:
        names = " and ".join(settings[kind]["group"] for kind in present)
        raise AnsibleFilterError(f"groups {names} both have hosts; use one router")
    return present[0] if present else ""


#: per backend: the settings of a node (and the host variables that override them per host)
NODE_SETTINGS = {
    "cluster_port": {"rabbitmq": "hybridmsg_rabbitmq_dist_port",
                     "nats": "hybridmsg_nats_cluster_port",
                     "qdrouterd": "hybridmsg_qdrouterd_cluster_port"},
    "monitor_port": {"nats": "hybridmsg_nats_monitor_port"},
}


def _backend(kind, groups, hostvars, settings):
    """The Backend of ``kind``'s inventory group, or None when it has no hosts."""
    from hybridmsg.plan import Backend, BackendKind, Node

    options = settings[kind]
    hosts = _hosts(groups, settings, kind)
    if not hosts:
        return None
    nodes = []
    for host in hosts:
        address = _address(hostvars, host)
        ports = {key: hostvars[host].get(names.get(kind, "")) or options.get(key)
                 for key, names in NODE_SETTINGS.items()}
        name = ""
        if kind == "rabbitmq":
            name = hostvars[host].get("hybridmsg_rabbitmq_nodename") or f"rabbit@{address}"
        nodes.append(Node(address, int(options["port"]), name,
                          *(int(ports[key]) if ports[key] else None for key in NODE_SETTINGS)))
    epmd = options.get("epmd_port")
    return Backend(BackendKind(kind), tuple(nodes), str(options.get("cookie") or ""),
                   int(epmd) if epmd else None)


def plan(settings, groups, hostvars, variables, mode, services, tls=None):
    """The plan (JSON, passwords included) of the inventory's servers in ``mode``,
    validated.

    ``settings``: per backend (rabbitmq, nats, qdrouterd) its inventory group and ports;
    ``variables``: the oslomsg variables of the ``services``; ``tls``: TLS's arguments."""
    _require()
    from hybridmsg.oslomsg import inventory_plan
    from hybridmsg.plan import Mode

    mode = str(mode)
    if mode not in tuple(Mode):
        raise AnsibleFilterError(
            f"hybridmsg_mode {mode!r} is not one of {', '.join(Mode)}; fix it"
        )
    kind = router_kind(groups, settings)
    wanted = {"rabbitmq": mode != Mode.ROUTER, "router": mode != Mode.RABBIT}
    if wanted["rabbitmq"] and not _hosts(groups, settings, "rabbitmq"):
        raise AnsibleFilterError(
            f"hybridmsg_mode={mode} needs RabbitMQ hosts: inventory group "
            f"{settings['rabbitmq']['group']} is missing or empty; add it"
        )
    if wanted["router"] and not kind:
        groups_named = " or ".join(settings[k]["group"] for k in ROUTERS)
        raise AnsibleFilterError(
            f"hybridmsg_mode={mode} needs router hosts: inventory group {groups_named} is "
            "missing or empty; add one"
        )
    try:
        built = inventory_plan(
            mode, list(services), variables,
            _backend("rabbitmq", groups, hostvars, settings),
            _backend(kind, groups, hostvars, settings) if kind else None, _tls(tls),
        )
    except HybridmsgError as exc:
        raise AnsibleFilterError(str(exc)) from None
    # one string, so that no_log hides it whole (a dict would hide each of its values)
    return json.dumps(built.to_dict())


def _hybridmsg_filter(function):
    """``function`` with the hybridmsg package required and its errors as Ansible's."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        _require()
        try:
            return function(*args, **kwargs)
        except HybridmsgError as exc:
            raise AnsibleFilterError(str(exc)) from None

    return wrapped


@_hybridmsg_filter
def oslomsg_config(service, variables, mode):
    """``service``'s transport_url, notification driver and transport_url, and the ini
    snippet with them (hybridmsg's own renderer), from its oslomsg variables."""
    from hybridmsg.oslomsg import service_settings
    from hybridmsg.services import render

    config = service_settings(variables, str(service), str(mode))
    return {
        "transport_url": config.rpc_url,
        "notification_driver": config.notification_driver,
        "notification_transport_url": config.notification_url or "",
        "options": [list(option) for option in config.options],
        "snippet": render(config),
    }


@_hybridmsg_filter
def oslomsg_side(service, variables, name):
    """The ``name`` side (rpc or notify) of ``service``: transport, servers, port, userid,
    password, vhost (as mq_setup takes them)."""
    from hybridmsg.oslomsg import side

    found = side(variables, str(service), str(name))
    return {"transport": found.kind.scheme, "servers": list(found.servers), "port": found.port,
            "userid": found.userid, "password": found.password, "vhost": found.vhost}


def _tls(tls):
    """hybridmsg_tls as the plan's TLS (None when empty)."""
    from hybridmsg.plan import TLS

    try:
        return TLS(**tls) if tls else None
    except TypeError as exc:
        raise AnsibleFilterError(f"hybridmsg_tls: {exc}; give ca_file, cert_file, key_file "
                                 "(and client_dir for mutual TLS)") from None


@_hybridmsg_filter
def client_certificates(services, tls):
    """With mutual TLS (``client_dir`` in ``tls``), each service's certificate and key as
    its ``<service>_oslomsg_{rpc,notify}_ssl_cert_file`` and ``_ssl_key_file`` variables."""
    chosen = _tls(tls)
    if chosen is None or not chosen.mutual:
        return {}
    files = {}
    for service in services:
        cert, key = chosen.client_files(str(service))
        for name in ("rpc", "notify"):
            files[f"{service}_oslomsg_{name}_ssl_cert_file"] = cert
            files[f"{service}_oslomsg_{name}_ssl_key_file"] = key
    return files


#: the modes a migration moves between (upgrade.yml's hybridmsg_upgrade_to)
MIGRATION_MODES = ("hybrid", "rabbit")


@_hybridmsg_filter
def migration_stages(position, to, router):
    """The stages of hybridmsg's migration from ``position`` (0-3) to mode ``to``, as
    upgrade.yml runs them (``router``: the router's kind, for the words): each one's
    positions ``before`` and ``after``, and its checks ``first`` (before the restarts) and
    ``then`` (after them), each with the lines that ``show`` them, the sides to ``check``
    and the states RabbitMQ's RPC ``queues`` must reach."""
    from hybridmsg.migration.stages import Side, position_of, stages
    from hybridmsg.plan import Mode

    if str(to) not in MIGRATION_MODES:
        raise AnsibleFilterError(f"hybridmsg_upgrade_to {to!r} is not hybrid or rabbit; "
                                 "set one of them")
    names = {Side.RABBIT: "rabbitmq", Side.ROUTER: str(router)}
    planned = []
    for stage in stages(int(position), position_of(Mode(str(to)))):
        title = (f"stage {stage.number}/{stage.total} (position {stage.before.index} -> "
                 f"{stage.after.index}): {stage.describe(names)}")
        lines = stage.checks(names)
        planned.append({
            "before": stage.before.index, "after": stage.after.index,
            "describe": title,
            "first": {"show": [title, *lines],
                      "check": [side.value for side in stage.preflight],
                      "queues": ["drained"] if stage.abandons_rabbit else []},
            "then": {"show": [title, *(line for line in lines if line.startswith("after"))],
                     "check": [stage.after.send.value] if stage.final else [],
                     "queues": ["drained"] * stage.drains_rabbit
                     + ["empty"] * stage.abandons_rabbit},
        })
    return planned


@_hybridmsg_filter
def migration_snippet(service, sides, position):
    """``service``'s snippet at ``position`` (0-3) of a migration, from its oslomsg
    variables on each side: ``sides.rabbit`` as in rabbit mode, ``sides.router`` as in
    hybrid mode."""
    from hybridmsg.migration.stages import POSITIONS, Side, position_snippet
    from hybridmsg.oslomsg import OslomsgError, service_settings, side

    service = str(service)
    kinds = {name: side(sides[name.value], service, "rpc").kind for name in Side}
    if kinds[Side.RABBIT].is_router or not kinds[Side.ROUTER].is_router:
        raise OslomsgError(
            f"{service}'s RPC is on {kinds[Side.RABBIT]} in rabbit mode and on "
            f"{kinds[Side.ROUTER]} in hybrid mode: an upgrade moves it from RabbitMQ to the "
            f"router; leave {service}_oslomsg_rpc_transport, _servers and _port (and "
            "oslomsg_rpc_*) unset, so that the inventory's groups choose them"
        )
    modes = {Side.RABBIT: "rabbit", Side.ROUTER: "hybrid"}
    configs = {name: service_settings(sides[name.value], service, modes[name]) for name in Side}
    names = {name: kind.value for name, kind in kinds.items()}
    return position_snippet(POSITIONS[int(position)], configs, names)


@_hybridmsg_filter
def snippet_position(text, service):
    """The migration position (0-3) ``service``'s snippet ``text`` is at."""
    from hybridmsg.migration.stages import position_in

    return position_in(str(text), str(service)).index


class FilterModule:
    def filters(self):
        return {"plan": plan, "oslomsg_config": oslomsg_config, "addresses": addresses,
                "router_kind": router_kind, "oslomsg_side": oslomsg_side,
                "client_certificates": client_certificates, "migration_stages": migration_stages,
                "migration_snippet": migration_snippet, "snippet_position": snippet_position}
