"""``python -m vidsage_indexer``: index transcripts, drop deleted videos, answer searches.

The embedding model loads and the vector store opens before anything is consumed; a missing
model is a startup error naming the setting. SIGTERM stops fetching and answering, finishes
what it holds, flushes and closes the store.
"""

from __future__ import annotations

import asyncio
import sys

from vidsage.logging import get_logger
from vidsage.runtime import open_runtime, run_worker, service_main
from vidsage.settings import Settings
from vidsage_indexer.embedder import Embedder, ModelUnavailable
from vidsage_indexer.store import open_store
from vidsage_indexer.worker import STAGE, Indexer

log = get_logger("vidsage.indexer")


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    embedder = Embedder(settings.indexer, settings.models_dir)
    await loop.run_in_executor(None, embedder.load)
    store = await loop.run_in_executor(None, open_store, settings.indexer, settings.state_dir)
    try:
        await loop.run_in_executor(None, store.ensure, embedder.dim)
        async with open_runtime("indexer", settings, stop, worker=settings.indexer) as rt:
            indexer = Indexer(rt, embedder, store)
            sub = await indexer.serve_search()
            try:
                await run_worker(rt, STAGE, indexer, settings.indexer)
            finally:
                await sub.unsubscribe()
                await indexer.drain()
    finally:
        await loop.run_in_executor(None, store.close)


def main() -> int:
    try:
        return service_main("indexer", serve)
    except ModelUnavailable as exc:
        sys.stderr.write(f"vidsage-indexer: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
