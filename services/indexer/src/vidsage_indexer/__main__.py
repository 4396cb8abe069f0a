"""``python -m vidsage_indexer``: index transcripts, drop deleted videos, answer searches.

The embedding model starts loading on the compute pool at once, while NATS and S3 are opened and
the vector store opens beside it (cold start); nothing is consumed before both are ready (the
heartbeat starts then). A missing model is a startup error naming the setting. SIGTERM stops fetching
and answering, finishes what it holds, flushes and closes the store.
"""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, run_worker, service_main
from vidsage.settings import Settings
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.indexer import Indexer
from vidsage_indexer.store import open_store
from vidsage_indexer.worker import STAGE


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    embedder = Embedder(settings.indexer, settings.models_dir)
    async with open_runtime(
        "indexer", settings, stop, worker=settings.indexer, ready=False, preload=embedder.load
    ) as rt:
        store = await rt.run_blocking(open_store, settings.indexer, settings.state_dir)
        try:
            assert rt.preloaded is not None
            await rt.preloaded
            await rt.run_blocking(store.ensure, embedder.dim)
            rt.ready()
            indexer = Indexer(rt, embedder, store)
            sub = await indexer.serve_search()
            try:
                await run_worker(rt, STAGE, indexer, settings.indexer)
            finally:
                await sub.unsubscribe()
                await indexer.drain()
        finally:
            await rt.run_blocking(store.close)


def main() -> int:
    return service_main("indexer", serve)


if __name__ == "__main__":
    raise SystemExit(main())
