"""``python -m vidsage_chat``: the chat service (see :mod:`vidsage_chat.serving`)."""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, service_main
from vidsage.settings import Settings
from vidsage_chat.serving import ChatService


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    async with open_runtime("chat", settings, stop) as rt:
        await ChatService(rt).run()


def main() -> int:
    return service_main("chat", serve)


if __name__ == "__main__":
    raise SystemExit(main())
