"""Filters of hybridmsg.messaging: the plan of an inventory, and each service's
oslo.messaging settings from OpenStack-Ansible's oslomsg variables, both by the hybridmsg
package (which the controller needs, as the managed hosts do)."""

from __future__ import annotations

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
    from hybridmsg.plan import TLS, Mode

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
        tls = TLS(**tls) if tls else None
        built = inventory_plan(
            mode, list(services), variables,
            _backend("rabbitmq", groups, hostvars, settings),
            _backend(kind, groups, hostvars, settings) if kind else None, tls,
        )
    except HybridmsgError as exc:
        raise AnsibleFilterError(str(exc)) from None
    except TypeError as exc:
        raise AnsibleFilterError(f"hybridmsg_tls: {exc}; give ca_file, cert_file, key_file "
                                 "(and client_dir for mutual TLS)") from None
    # one string, so that no_log hides it whole (a dict would hide each of its values)
    return json.dumps(built.to_dict())


def oslomsg_config(service, variables, mode):
    """``service``'s transport_url, notification driver and transport_url, and the ini
    snippet with them (hybridmsg's own renderer), from its oslomsg variables."""
    _require()
    from hybridmsg.oslomsg import service_settings
    from hybridmsg.services import render

    try:
        config = service_settings(variables, str(service), str(mode))
    except HybridmsgError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return {
        "transport_url": config.rpc_url,
        "notification_driver": config.notification_driver,
        "notification_transport_url": config.notification_url or "",
        "options": [list(option) for option in config.options],
        "snippet": render(config),
    }


def oslomsg_side(service, variables, name):
    """The ``name`` side (rpc or notify) of ``service``: transport, servers, port, userid,
    password, vhost (as mq_setup takes them)."""
    _require()
    from hybridmsg.oslomsg import side

    try:
        found = side(variables, str(service), str(name))
    except HybridmsgError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return {"transport": found.kind.scheme, "servers": list(found.servers), "port": found.port,
            "userid": found.userid, "password": found.password, "vhost": found.vhost}


class FilterModule:
    def filters(self):
        return {"plan": plan, "oslomsg_config": oslomsg_config, "addresses": addresses,
                "router_kind": router_kind, "oslomsg_side": oslomsg_side}
