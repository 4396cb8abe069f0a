"""The indexer process's two roles on one embedding model and one vector store: the event consumer
(:class:`~vidsage_indexer.worker.IndexHandler`: index transcribed videos, drop deleted ones) and the
search answerer (:class:`~vidsage_indexer.search_handler.SearchHandler`)."""

from __future__ import annotations

from vidsage.contracts.events import Event
from vidsage.runtime import Runtime
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.search_handler import SearchHandler, Subscriptions
from vidsage_indexer.store import VectorStore
from vidsage_indexer.worker import IndexHandler


class Indexer:
    """Pass it to :func:`vidsage.runtime.run_worker` as the handler; :meth:`serve_search` answers
    searches until the subscription is dropped and :meth:`drain` has waited for the last ones."""

    def __init__(self, rt: Runtime, embedder: Embedder, store: VectorStore) -> None:
        self.store = store
        self.events = IndexHandler(rt, embedder, store)
        self.searches = SearchHandler(rt, embedder, store)

    async def __call__(self, event: Event, attempt: int) -> None:
        await self.events(event, attempt)

    async def serve_search(self) -> Subscriptions:
        return await self.searches.subscribe()

    async def drain(self) -> None:
        await self.searches.drain()
