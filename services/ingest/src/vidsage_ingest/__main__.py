"""``python -m vidsage_ingest``: consume ``vidsage.video.uploaded`` until SIGTERM/SIGINT.

Job folders a killed predecessor left in the work dir are removed first (:mod:`vidsage.workdirs`).
"""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, run_worker, service_main
from vidsage.settings import Settings
from vidsage.workdirs import clean_stale
from vidsage_ingest.worker import STAGE, IngestHandler


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    clean_stale("ingest", settings.ingest.work_dir)
    async with open_runtime("ingest", settings, stop, worker=settings.ingest) as rt:
        await run_worker(rt, STAGE, IngestHandler(rt), settings.ingest)


def main() -> int:
    return service_main("ingest", serve)


if __name__ == "__main__":
    raise SystemExit(main())
