"""``python -m vidsage_transcriber``: consume ``vidsage.video.ingested`` until SIGTERM/SIGINT.

The model loads once, before the first fetch (the heartbeat starts after it); a missing model is a
startup error that names the setting to change. Job folders a killed predecessor left in the temp
dir are removed first (:mod:`vidsage.workdirs`). SIGTERM stops fetching, finishes the job in
flight, then exits.
"""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, run_worker, service_main
from vidsage.settings import Settings
from vidsage.workdirs import clean_stale
from vidsage_transcriber.engine import Engine
from vidsage_transcriber.worker import STAGE, TranscribeHandler


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    clean_stale("transcriber")
    engine = Engine(settings.transcriber, settings.models_dir)
    async with open_runtime("transcriber", settings, stop, worker=settings.transcriber, ready=False) as rt:
        await rt.run_blocking(engine.load)
        rt.ready()
        await run_worker(rt, STAGE, TranscribeHandler(rt, engine), settings.transcriber)


def main() -> int:
    return service_main("transcriber", serve)


if __name__ == "__main__":
    raise SystemExit(main())
