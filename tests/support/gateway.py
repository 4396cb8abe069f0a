"""The gateway in-process (aiohttp's test server) on free loopback ports, for the integration tests
and the benchmarks: the real application, with the parser limits of the real runner."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from vidsage.runtime import Runtime
from vidsage.settings import Settings
from vidsage_gateway.app import create_app
from vidsage_gateway.auth import AUTH, Authenticator
from vidsage_gateway.keys import RUNTIME
from vidsage_gateway.server import GatewayRunner


class GatewayTestServer(TestServer):
    """aiohttp's ``TestServer`` served like ``python -m vidsage_gateway`` serves: with
    :class:`~vidsage_gateway.server.GatewayRunner` (JSON errors for unparsable requests)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return GatewayRunner(self.app, **kwargs)


@dataclass
class RunningGateway:
    server: GatewayTestServer
    app: web.Application

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return str(self.server.make_url("")).rstrip("/")

    @property
    def rt(self) -> Runtime:
        return self.app[RUNTIME]

    @property
    def auth(self) -> Authenticator:
        return self.app[AUTH]


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    """A started gateway (NATS, S3, the key watch all open); closed on exit."""
    app = create_app(settings)
    server = GatewayTestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield RunningGateway(server, app)
    finally:
        await server.close()
