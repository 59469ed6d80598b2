"""The client's address, believing ``X-Forwarded-For`` only from the configured reverse proxies.

Behind nginx every request comes from 127.0.0.1; without this, per-address limits (login throttling,
view and comment rate limits) would lump all clients together. The header is read from the right: each
trusted proxy appended the address it saw, so the first untrusted address is the real client, and
anything a client wrote into the header itself sits further left and is ignored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from kdrama_tui.server.keys import services

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: web.Request) -> str | None:
    remote = request.remote
    networks = _networks(tuple(services(request).settings.security.trusted_proxies))
    if not networks or remote is None or not _trusted(remote, networks):
        return remote
    hops = [h.strip() for value in request.headers.getall("X-Forwarded-For", []) for h in value.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # a garbled header: fall back to the proxy rather than trust junk
    return remote
