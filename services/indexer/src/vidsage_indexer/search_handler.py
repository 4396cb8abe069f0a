"""The indexer's search: requests on ``indexer.search_subject`` (queue group ``indexer``, so the
replicas share the load) answered over NATS request-reply with the contract of
:mod:`vidsage.contracts.search`; the gateway and the chat service ask through
:mod:`vidsage.search_client`. Text-similarity requests on ``indexer.similarity_subject`` (the
chat's citation check) are answered alike, with the same embedding model: one process holds the
model, and the chat service needs no torch (a check of 10 citations embeds 20 short texts:
45 ms median with all-MiniLM-L6-v2 on 2 heavily loaded cores, ``python -m benchmarks relevance``).

A reply is ``{"hits": [...]}`` or ``{"error": {...}}`` (``bad_request`` for an invalid request,
``owner_required`` for one that names no owner and does not ask for all owners, ``search_failed``
when the search raised); never no reply. The owner is a filter inside the vector store's query.
At most 16 searches run at once per process; each runs :func:`vidsage_indexer.search.search` (the
query embedding, the vector store, the matching sentences) on the compute pool. A similarity
request carries the texts it compares and reads nothing stored, so it names no owner; only the
chat service may send one (its NATS permissions).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, ValidationError

from vidsage.contracts import names
from vidsage.contracts.search import (
    SearchError,
    SearchHit,
    SearchReply,
    SearchRequest,
    SimilarityReply,
    SimilarityRequest,
)
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage_indexer import search
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.store import VectorStore

log = get_logger("vidsage.indexer")


@dataclass
class Subscriptions:
    """The handler's subscriptions (search and similarity): :meth:`unsubscribe` drops them all."""

    subs: list[Subscription]

    async def unsubscribe(self) -> None:
        for sub in self.subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def similarities(embedder: Embedder, pairs: list[tuple[str, str]]) -> list[float]:
    """Cosine similarity of each pair (blocking; each distinct text embedded once)."""
    texts = list(dict.fromkeys(t for pair in pairs for t in pair))
    vectors = dict(zip(texts, embedder.encode(texts), strict=True))
    return [
        round(float(sum(x * y for x, y in zip(vectors[a], vectors[b], strict=True))), 6) for a, b in pairs
    ]


class SearchHandler:
    """Answers search requests from one embedder and one vector store."""

    def __init__(self, rt: Runtime, embedder: Embedder, store: VectorStore) -> None:
        self.rt = rt
        self.embedder = embedder
        self.store = store
        self._slots = asyncio.Semaphore(16)
        self._tasks: set[asyncio.Task[None]] = set()

    async def subscribe(self) -> Subscriptions:
        """Start answering searches and similarity requests; unsubscribe, then :meth:`drain`, to stop."""

        def spawn(answer: Callable[[Msg], Coroutine[Any, Any, None]]) -> Callable[[Msg], Awaitable[None]]:
            async def on_request(msg: Msg) -> None:
                task = asyncio.create_task(answer(msg))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

            return on_request

        cfg, nc = self.rt.settings.indexer, self.rt.nc
        return Subscriptions(
            [
                await nc.subscribe(cfg.search_subject, queue=names.SEARCH_QUEUE, cb=spawn(self._answer)),
                await nc.subscribe(
                    cfg.similarity_subject, queue=names.SEARCH_QUEUE, cb=spawn(self._answer_similarity)
                ),
            ]
        )

    async def drain(self) -> None:
        """Wait for the searches in flight."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def search(self, request: SearchRequest) -> list[SearchHit]:
        return await self.rt.run_blocking(search.search, self.embedder, self.store, request)

    async def _answer(self, msg: Msg) -> None:
        async with self._slots:
            try:
                request = SearchRequest.model_validate_json(msg.data)
            except ValidationError as exc:
                reply = SearchReply(
                    error=SearchError(code="bad_request", message=f"invalid search request: {exc}")
                )
            else:
                if not request.scoped:
                    reply = SearchReply(
                        error=SearchError(
                            code="owner_required",
                            message="a search names the owner whose videos it searches (or all_owners)",
                        )
                    )
                    await _respond(msg, reply)
                    return
                try:
                    reply = SearchReply(hits=await self.search(request))
                except Exception as exc:
                    log.exception("search_failed")
                    reply = SearchReply(error=SearchError(code="search_failed", message=str(exc)))
            await _respond(msg, reply)

    async def _answer_similarity(self, msg: Msg) -> None:
        async with self._slots:
            reply: SimilarityReply
            try:
                request = SimilarityRequest.model_validate_json(msg.data)
            except ValidationError as exc:
                reply = SimilarityReply(
                    error=SearchError(code="bad_request", message=f"invalid similarity request: {exc}")
                )
            else:
                try:
                    scores = await self.rt.run_blocking(similarities, self.embedder, request.pairs)
                    reply = SimilarityReply(scores=scores)
                except Exception as exc:
                    log.exception("similarity_failed")
                    reply = SimilarityReply(error=SearchError(code="search_failed", message=str(exc)))
            await _respond(msg, reply)


async def _respond(msg: Msg, reply: BaseModel) -> None:
    with contextlib.suppress(Exception):
        await msg.respond(reply.model_dump_json(exclude_none=True).encode())
