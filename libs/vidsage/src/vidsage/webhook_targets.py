"""Which webhook URLs may be called: the gateway checks a URL when it is registered, the notifier
again before every attempt (DNS may have changed since: rebinding), and then connects to the very
addresses it checked (its resolver is :func:`resolve_checked`).

A URL is ``http`` or ``https`` with a host name or an IP literal, no user info. Every address the
host resolves to must be a public (globally routable) one; loopback is allowed only with
``webhooks.allow_loopback`` (the tests, a local receiver), private and shared (RFC 1918, ULA, CGNAT)
ranges only with ``webhooks.allow_private``. Link-local (cloud metadata at 169.254.169.254),
multicast, unspecified and reserved addresses are never allowed. The standard library only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from vidsage.contracts.webhooks import MAX_URL_CHARS

if TYPE_CHECKING:
    from vidsage.settings import WebhookSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
RESOLVE_TIMEOUT_S = 5.0
"""A host name that takes longer to resolve is ``url_unresolvable`` (registration answers at once)."""


class TargetRefused(ValueError):
    """A webhook URL that may not be called; ``code`` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TargetPolicy:
    allow_loopback: bool = False
    allow_private: bool = False

    @classmethod
    def of(cls, settings: WebhookSettings) -> TargetPolicy:
        """The policy of ``webhooks.*``: the gateway's at registration and the notifier's before
        every attempt are the same one."""
        return cls(allow_loopback=settings.allow_loopback, allow_private=settings.allow_private)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def parse_target(url: str) -> Target:
    """The scheme, host and port of a webhook URL; :class:`TargetRefused` (``invalid_url``) if it
    is not an absolute http(s) URL without credentials, or its host is a number other than a
    dotted-quad IPv4 address."""
    if len(url) > MAX_URL_CHARS:
        raise TargetRefused("invalid_url", f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise TargetRefused("invalid_url", "the URL holds whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("invalid_url", f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("invalid_url", "the URL must start with https:// or http://")
    if not parts.hostname:
        raise TargetRefused("invalid_url", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("invalid_url", "the URL may not hold a user name or password")
    if parts.hostname.replace(".", "").isdigit() and not _is_ipv4(parts.hostname):
        # 127.1, 2130706433, 0177.0.0.1: the resolver maps them, but aiohttp never connects to them
        raise TargetRefused("invalid_url", "the URL's host is a number, not a dotted-quad IPv4 address")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def address_refusal(address: IPAddress, policy: TargetPolicy) -> str | None:
    """Why ``address`` may not be called under ``policy`` (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT):
        if policy.allow_private and not address.is_reserved:
            return None
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def check_address(address: IPAddress, policy: TargetPolicy) -> None:
    reason = address_refusal(address, policy)
    if reason is not None:
        raise TargetRefused("url_not_allowed", f"the URL's host is {reason}, which webhooks may not call")


async def resolve_checked(host: str, port: int, policy: TargetPolicy) -> list[tuple[int, str]]:
    """``(family, address)`` of ``host``, every one allowed by ``policy`` (else
    :class:`TargetRefused` ``url_not_allowed``); ``url_unresolvable`` if it has none."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, policy)
        return [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, str(literal))]
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused("url_unresolvable", f"the URL's host does not resolve ({exc})") from None
    except TimeoutError:
        raise TargetRefused(
            "url_unresolvable", f"the URL's host did not resolve in {RESOLVE_TIMEOUT_S:g} s"
        ) from None
    found: list[tuple[int, str]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        check_address(address, policy)  # every address: a name may not point at one that is refused
        if (family, str(address)) not in found:
            found.append((family, str(address)))
    if not found:
        raise TargetRefused("url_unresolvable", "the URL's host does not resolve")
    return found


async def check_url(url: str, policy: TargetPolicy) -> Target:
    """:func:`parse_target` and :func:`resolve_checked` together (what registration checks)."""
    target = parse_target(url)
    await resolve_checked(target.host, target.port, policy)
    return target
