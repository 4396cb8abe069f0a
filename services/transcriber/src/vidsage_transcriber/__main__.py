"""``python -m vidsage_transcriber``: consume ``vidsage.video.ingested`` until SIGTERM/SIGINT.

The model loads once, before the first fetch; a missing model is a startup error that names
the setting to change. SIGTERM stops fetching, finishes the job in flight, then exits.
"""

from __future__ import annotations

import asyncio
import sys

from vidsage.logging import get_logger
from vidsage.runtime import open_runtime, run_worker, service_main
from vidsage.settings import Settings
from vidsage_transcriber.engine import Engine, ModelUnavailable
from vidsage_transcriber.worker import STAGE, TranscribeHandler

log = get_logger("vidsage.transcriber")


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    engine = Engine(settings.transcriber, settings.models_dir)
    await asyncio.get_running_loop().run_in_executor(None, engine.load)
    async with open_runtime("transcriber", settings, stop, worker=settings.transcriber) as rt:
        await run_worker(rt, STAGE, TranscribeHandler(rt, engine), settings.transcriber)


def main() -> int:
    try:
        return service_main("transcriber", serve)
    except ModelUnavailable as exc:
        sys.stderr.write(f"vidsage-transcriber: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
