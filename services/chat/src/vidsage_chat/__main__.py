"""``python -m vidsage_chat``: the chat service (its work lands in a later issue)."""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, service_main, wait_not_implemented
from vidsage.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    async with open_runtime("chat", settings, stop) as rt:
        await wait_not_implemented(rt, "chat lands in issue 5")


def main() -> int:
    return service_main("chat", serve)


if __name__ == "__main__":
    raise SystemExit(main())
