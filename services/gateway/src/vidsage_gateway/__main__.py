"""``python -m vidsage_gateway``: serve the gateway until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio

from aiohttp import web

from vidsage.logging import get_logger
from vidsage.runtime import service_main
from vidsage.settings import Settings
from vidsage_gateway.app import create_app
from vidsage_gateway.server import GatewayRunner

log = get_logger("vidsage.gateway")


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    app = create_app(settings, stop)
    runner = GatewayRunner(app, access_log=None, shutdown_timeout=15)
    await runner.setup()
    site = web.TCPSite(runner, settings.gateway.host, settings.gateway.port)
    await site.start()
    log.info("gateway_listening", url=f"http://{settings.gateway.host}:{settings.gateway.port}")
    await stop.wait()
    log.info("gateway_stopping")
    await runner.cleanup()


def main() -> int:
    return service_main("gateway", serve)


if __name__ == "__main__":
    raise SystemExit(main())
