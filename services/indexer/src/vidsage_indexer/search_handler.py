"""The indexer's search: requests on ``indexer.search_subject`` (queue group ``indexer``, so the
replicas share the load) answered over NATS request-reply with the contract of
:mod:`vidsage.contracts.search`; the gateway and the chat service ask through
:mod:`vidsage.search_client`.

A reply is ``{"hits": [...]}`` or ``{"error": {...}}`` (``bad_request`` for an invalid request,
``owner_required`` for one that names no owner and does not ask for all owners, ``search_failed``
when the search raised); never no reply. The owner is a filter inside the vector store's query.
At most 16 searches run at once per process; their blocking parts (the query embedding, the vector
store) run on the compute pool.
"""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from vidsage.contracts import names
from vidsage.contracts.search import SearchError, SearchHit, SearchReply, SearchRequest, moment_link
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.store import VectorStore
from vidsage_indexer.store.sparse import encode_query

log = get_logger("vidsage.indexer")


class SearchHandler:
    """Answers search requests from one embedder and one vector store."""

    def __init__(self, rt: Runtime, embedder: Embedder, store: VectorStore) -> None:
        self.rt = rt
        self.embedder = embedder
        self.store = store
        self._slots = asyncio.Semaphore(16)
        self._tasks: set[asyncio.Task[None]] = set()

    async def subscribe(self) -> Subscription:
        """Start answering; unsubscribe, then :meth:`drain`, to stop."""

        async def on_request(msg: Msg) -> None:
            task = asyncio.create_task(self._answer(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        subject = self.rt.settings.indexer.search_subject
        return await self.rt.nc.subscribe(subject, queue=names.SEARCH_QUEUE, cb=on_request)

    async def drain(self) -> None:
        """Wait for the searches in flight."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def search(self, request: SearchRequest) -> list[SearchHit]:
        rt = self.rt
        dense = await rt.run_blocking(self.embedder.encode_query, request.q)
        hits = await rt.run_blocking(
            lambda: self.store.search(
                dense,
                encode_query(request.q),
                limit=request.limit,
                video_id=request.video_id,
                owner=request.owner,
            )
        )
        return [
            SearchHit(
                video_id=h.video_id,
                filename=h.filename,
                start=h.start,
                end=h.end,
                text=h.text,
                score=h.score,
                segment_ids=list(h.segment_ids),
                link=moment_link(h.video_id, h.start),
            )
            for h in hits
        ]

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
                    with contextlib.suppress(Exception):
                        await msg.respond(reply.model_dump_json(exclude_none=True).encode())
                    return
                try:
                    reply = SearchReply(hits=await self.search(request))
                except Exception as exc:
                    log.exception("search_failed")
                    reply = SearchReply(error=SearchError(code="search_failed", message=str(exc)))
            with contextlib.suppress(Exception):
                await msg.respond(reply.model_dump_json(exclude_none=True).encode())
