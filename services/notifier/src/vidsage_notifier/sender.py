"""One HTTP attempt of a webhook delivery, bounded: a connect timeout and a total one (a slow
receiver fails the attempt, it never holds a worker), a cap on requests in flight over all
endpoints, no redirects followed (a 3xx is a failed attempt), and only addresses that
:mod:`vidsage.webhook_targets` allows, checked at every attempt and then connected to: the
connector's resolver is :func:`~vidsage.webhook_targets.resolve_checked` itself, so a name
re-pointed at a private address after registration (DNS rebinding) is refused when connecting.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from vidsage.settings import NotifierSettings
from vidsage.webhook_targets import TargetPolicy, TargetRefused, parse_target, resolve_checked

MAX_ERROR_CHARS = 200
READ_AT_MOST = 64 * 1024
"""Bytes of a receiver's answer read (and dropped) before the connection is released."""


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver: only addresses the policy allows (else ``OSError``, a failed connect)."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            found = await resolve_checked(host, port, self.policy)
        except TargetRefused as exc:
            raise OSError(exc.message) from None
        return [
            ResolveResult(
                hostname=host, host=address, port=port, family=fam, proto=0, flags=socket.AI_NUMERICHOST
            )
            for fam, address in found
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    ms: float


class Sender:
    """The notifier's HTTP client (one per process); ``async with`` opens and closes it."""

    def __init__(self, settings: NotifierSettings, policy: TargetPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self._slots = asyncio.Semaphore(settings.http_concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Sender:
        connector = aiohttp.TCPConnector(
            resolver=CheckedResolver(self.policy), limit=self.settings.http_concurrency, use_dns_cache=False
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self.settings.timeout_s, sock_connect=self.settings.connect_timeout_s
            ),
            auto_decompress=False,
            trust_env=False,  # never through a proxy from the environment: it would connect, not us
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """POST ``body``; never raises for the receiver's sake (its failure is the outcome)."""
        assert self._session is not None, "use Sender as an async context manager"
        started = time.perf_counter()

        def done(status: int | None, error: str | None) -> Outcome:
            ms = round((time.perf_counter() - started) * 1000, 1)
            ok = error is None and status is not None and 200 <= status < 300
            return Outcome(ok, status, None if error is None else error[:MAX_ERROR_CHARS], ms)

        try:
            target = parse_target(url)
            await resolve_checked(target.host, target.port, self.policy)  # a clear reason up front
        except TargetRefused as exc:
            return done(None, exc.message)
        async with self._slots:
            try:
                async with self._session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "application/json", **headers},
                    allow_redirects=False,
                ) as resp:
                    await resp.content.read(READ_AT_MOST)
                    status = resp.status
            except TimeoutError:
                return done(None, f"no answer within {self.settings.timeout_s:g} s")
            except aiohttp.ClientConnectorError as exc:
                return done(None, f"cannot connect: {exc.os_error.strerror or exc.os_error}")
            except aiohttp.ClientResponseError as exc:  # a malformed answer; its str() holds the URL,
                # whose path or query may be the receiver's token: the reason without it
                return done(None, f"{type(exc).__name__}: {exc.message}")
            except aiohttp.ClientError as exc:
                return done(None, f"{type(exc).__name__}: {exc}")
        if 300 <= status < 400:
            return done(status, f"redirect not followed (HTTP {status})")
        if not 200 <= status < 300:
            return done(status, f"HTTP {status}")
        return done(status, None)
