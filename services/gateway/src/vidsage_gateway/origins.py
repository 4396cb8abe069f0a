"""Who is the gateway's own origin, and which other web origins may act with a browser's session.

Used for CSRF (a state-changing request authenticated by the session cookie must carry a matching
``Origin``), for signing in (``POST /api/session`` from a foreign page is refused) and for the chat
WebSocket. The own origin is the request's ``Host``; behind a reverse proxy listed in
``gateway.trusted_proxies``, ``X-Forwarded-Host`` and ``X-Forwarded-Proto`` are believed too (also
for the cookie's ``Secure`` flag).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def parse_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``10.0.0.0/8``, ``127.0.0.1``... as networks (a bad entry is a settings error upstream)."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def from_trusted_proxy(request: web.Request, trusted: Sequence[str]) -> bool:
    """True when the request comes straight from a configured reverse proxy."""
    if not trusted or not request.remote:
        return False
    try:
        address = ipaddress.ip_address(request.remote)
    except ValueError:  # a Unix socket or an unusual transport
        return False
    return any(address in net for net in parse_networks(tuple(trusted)))


def _forwarded(request: web.Request, header: str) -> str | None:
    value = request.headers.get(header)
    return value.split(",")[0].strip().lower() if value else None


def is_https(request: web.Request, trusted: Sequence[str]) -> bool:
    """Did the browser talk HTTPS (to this gateway, or to the trusted proxy in front of it)?"""
    if request.secure:
        return True
    return from_trusted_proxy(request, trusted) and _forwarded(request, "X-Forwarded-Proto") == "https"


def own_hosts(request: web.Request, trusted: Sequence[str]) -> set[str]:
    """The host[:port] values the gateway is reached at, as far as this request tells."""
    hosts = {request.host.lower()} if request.host else set()
    if from_trusted_proxy(request, trusted):
        forwarded = _forwarded(request, "X-Forwarded-Host")
        if forwarded:
            hosts.add(forwarded)
    return hosts


def origin_allowed(origin: str | None, hosts: Iterable[str], allowed: Sequence[str]) -> bool:
    """``origin`` (an ``Origin`` header) is one of the gateway's own hosts over http(s), or listed in
    ``allowed`` (``*``: any). A missing Origin is decided by the caller."""
    if origin is None:
        return False
    if "*" in allowed or origin.rstrip("/") in (o.rstrip("/") for o in allowed):
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() in {h.lower() for h in hosts if h}
