"""The ``Host`` allow-list (DNS rebinding).

A web page on another site can make a browser send requests to a gateway it cannot name, by
pointing its own host name at the gateway's address (DNS rebinding): the requests then carry
``Host: attacker.example`` and, for a WebSocket, a matching ``Origin``, which passes any
same-origin check. The gateway therefore serves only the host names it is configured to be
reached by (``gateway.allowed_hosts``; by default the loopback names, which is what ``make run``
serves; the chart adds the ingress host, the route's hostnames and the in-cluster service names),
and answers any other ``Host`` with 421 ``host_not_allowed`` before authentication, routing or
the WebSocket upgrade.

Entries are host names or addresses without a port (the port is not checked): ``localhost``,
``127.0.0.1``, ``::1``; ``.example.com`` matches ``example.com`` and every subdomain; ``*``
matches any host (turns the check off). The probe and scrape endpoints (``/healthz``,
``/readyz``, ``/metrics``) answer any host: kubelets and Prometheus address pods by IP, and
those endpoints are no browser's business. Behind a reverse proxy listed in
``gateway.trusted_proxies``, a ``X-Forwarded-Host`` must be allowed too.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from vidsage_gateway import origins
from vidsage_gateway.errors import ApiError
from vidsage_gateway.keys import RUNTIME

ANY_HOST_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Endpoints that answer whatever ``Host`` is sent (probes and scrapes address pods by IP)."""


def host_name(host: str) -> str:
    """``Host`` header value without its port, lower case: ``[::1]:8080`` → ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal
        return host[1 : host.find("]")] if "]" in host else host
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and ":" not in name else host


def host_allowed(host: str | None, allowed: Sequence[str]) -> bool:
    """Is ``host`` (a ``Host`` header value, port allowed) matched by an entry of ``allowed``?"""
    if not host:
        return False
    name = host_name(host).rstrip(".")
    for entry in allowed:
        entry = entry.strip().lower()
        if entry == "*" or name == entry.rstrip("."):
            return True
        if entry.startswith(".") and (name == entry[1:] or name.endswith(entry)):
            return True
    return False


def check_host(request: web.Request) -> None:
    """Raise 421 ``host_not_allowed`` unless the request's host is an allowed one."""
    if request.path in ANY_HOST_PATHS:
        return
    cfg = request.app[RUNTIME].settings.gateway
    hosts = [request.host]
    if origins.from_trusted_proxy(request, cfg.trusted_proxies):
        forwarded = request.headers.get("X-Forwarded-Host")
        if forwarded:
            hosts.append(forwarded.split(",")[0])
    if not all(host_allowed(h, cfg.allowed_hosts) for h in hosts):
        raise ApiError(
            421,
            "host_not_allowed",
            "this gateway does not serve that host name (see gateway.allowed_hosts)",
        )
