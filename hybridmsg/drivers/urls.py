"""Transport URL checks shared by every hybridmsg driver.

One-line errors that name the problem and never the password: an unknown query option,
a bad flag value, a missing host, a port out of range.
"""

from __future__ import annotations

from oslo_messaging import transport as oslo_transport

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def bad_url(url, scheme: str, why: str) -> oslo_transport.InvalidTransportURL:
    return oslo_transport.InvalidTransportURL(url, f"Invalid {scheme}:// transport URL: {why}")


def query_options(url, scheme: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The URL's query options, refusing any outside ``allowed``."""
    query = dict(url.query or {})
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        supported = ", ".join(allowed)
        raise bad_url(url, scheme, f"unknown option {unknown[0]!r}; supported: {supported}")
    return query


def flag(url, scheme: str, name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise bad_url(url, scheme, f"{name}={value!r} must be 1/0, true/false or yes/no")


def host_ports(url, scheme: str, default_port: int) -> list[tuple[str, int]]:
    """(host, port) of every host of the URL; IPv6 hosts come back bracketed."""
    example = f"{scheme}://user:password@host:{default_port}/vhost"
    if not url.hosts:
        raise bad_url(url, scheme, f"no host; use {example}")
    result = []
    for host in url.hosts:
        if not host.hostname:
            raise bad_url(url, scheme, f"a host is empty; use {example}")
        port = host.port or default_port
        if not 0 < port < 65536:
            raise bad_url(url, scheme, f"port {port} is out of range 1-65535")
        hostname = f"[{host.hostname}]" if ":" in host.hostname else host.hostname
        result.append((hostname, port))
    return result
