"""``python -m vidsage_transcriber``: the transcriber service (its work lands in a later issue)."""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, service_main, wait_not_implemented
from vidsage.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    async with open_runtime("transcriber", settings, stop, worker=settings.transcriber) as rt:
        await wait_not_implemented(
            rt, "transcription lands in issue 3; ingested videos wait in the 'transcriber' consumer"
        )


def main() -> int:
    return service_main("transcriber", serve)


if __name__ == "__main__":
    raise SystemExit(main())
