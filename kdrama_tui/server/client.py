"""The viewer's address, honouring X-Forwarded-For only from configured reverse proxies."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from kdrama_tui.server.keys import services


@lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: web.Request) -> str:
    """The peer address; behind a trusted proxy, the last X-Forwarded-For hop that is not a proxy."""
    remote = request.remote or ""
    networks = _networks(tuple(services(request).settings.streaming.trusted_proxies))
    if not networks or not _trusted(remote, networks):
        return remote[:45]
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:45]
    return remote[:45]
