"""``python -m vidsage_indexer``: the indexer service (its work lands in a later issue)."""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, service_main, wait_not_implemented
from vidsage.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    async with open_runtime("indexer", settings, stop, worker=settings.indexer) as rt:
        await wait_not_implemented(
            rt, "indexing lands in issue 4; transcribed and deleted events wait in the 'indexer' consumer"
        )


def main() -> int:
    return service_main("indexer", serve)


if __name__ == "__main__":
    raise SystemExit(main())
