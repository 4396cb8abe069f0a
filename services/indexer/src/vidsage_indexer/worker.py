"""The indexer: ``transcribed`` → passages → embeddings → vector store → ``indexed`` (status
``ready``); ``deleted`` → the video's points removed; search requests answered over NATS.

Point ids are deterministic (``passage_id(video_id, index)``), so a redelivery or a re-index
replaces points instead of adding copies; a re-index that yields fewer passages drops the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from vidsage.bus import publish_event
from vidsage.contracts.events import Event, VideoDeleted, VideoIndexed, VideoTranscribed
from vidsage.contracts.record import Status
from vidsage.contracts.search import SearchError, SearchHit, SearchReply, SearchRequest, moment_link
from vidsage.contracts.transcript import Transcript
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.passages import build_passages
from vidsage_indexer.store import Passage, VectorStore, passage_id
from vidsage_indexer.store.sparse import encode_document, encode_query

log = get_logger("vidsage.indexer")

STAGE = "index"


class Indexer:
    """Handles the indexer's events and its search requests; blocking work runs in executors."""

    def __init__(self, rt: Runtime, embedder: Embedder, store: VectorStore) -> None:
        self.rt = rt
        self.embedder = embedder
        self.store = store
        self.cfg = rt.settings.indexer
        self._search_slots = asyncio.Semaphore(16)
        self._tasks: set[asyncio.Task[None]] = set()

    async def _blocking(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # -- events ---------------------------------------------------------------------------------
    async def __call__(self, event: Event, attempt: int) -> None:
        if isinstance(event, VideoDeleted):
            await self._blocking(self.store.delete_video, event.video_id)
            log.info("index_deleted")
        elif isinstance(event, VideoTranscribed):
            await self._index(event, attempt)

    async def _index(self, event: VideoTranscribed, attempt: int) -> None:
        rt = self.rt
        record, proceed = await rt.begin_stage(event.video_id, STAGE, attempt)
        if not proceed or record is None:  # proceed implies a record
            if record is None:
                await self._blocking(self.store.delete_video, event.video_id)
            elif record.stages[STAGE].state == "done":
                count = await self._blocking(self.store.count, event.video_id)
                indexed = VideoIndexed(video_id=record.id, owner=record.owner, passage_count=count)
                await publish_event(rt.js, indexed)
            return

        transcript = Transcript.from_bytes(await rt.storage.get_bytes(event.transcript_key))
        drafts = build_passages(transcript.segments, max_words=self.cfg.passage_max_words)
        passages = [
            Passage(
                id=passage_id(record.id, d.index),
                video_id=record.id,
                owner=record.owner,
                filename=record.filename,
                start=d.start,
                end=d.end,
                text=d.text,
                segment_ids=d.segment_ids,
            )
            for d in drafts
        ]
        dense = await self._blocking(self.embedder.encode, [p.text for p in passages])  # [] for none
        sparse = [encode_document(p.text) for p in passages]
        if await self._blocking(self.store.count, record.id) > len(passages):
            # A re-index with fewer passages (or none): start the video over so no stale point remains.
            await self._blocking(self.store.delete_video, record.id)
        await self._blocking(self.store.upsert, passages, dense, sparse)

        record, changed = await rt.catalog.update(record.id, lambda r: r.finish(STAGE))
        if record is None:
            await self._blocking(self.store.delete_video, event.video_id)
            return
        if record.status is Status.FAILED:
            return
        await publish_event(
            rt.js, VideoIndexed(video_id=record.id, owner=record.owner, passage_count=len(passages))
        )
        log.info("index_done", passages=len(passages), changed=changed)

    # -- search ---------------------------------------------------------------------------------
    async def serve_search(self) -> Subscription:
        """Answer search requests (queue group ``indexer``: replicas share the load)."""

        async def on_request(msg: Msg) -> None:
            task = asyncio.create_task(self._answer(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return await self.rt.nc.subscribe(self.cfg.search_subject, queue="indexer", cb=on_request)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def search(self, request: SearchRequest) -> list[SearchHit]:
        dense = await self._blocking(self.embedder.encode_query, request.q)
        hits = await self._blocking(
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
        async with self._search_slots:
            try:
                request = SearchRequest.model_validate_json(msg.data)
            except ValidationError as exc:
                reply = SearchReply(
                    error=SearchError(code="bad_request", message=f"invalid search request: {exc}")
                )
            else:
                try:
                    reply = SearchReply(hits=await self.search(request))
                except Exception as exc:
                    log.exception("search_failed")
                    reply = SearchReply(error=SearchError(code="search_failed", message=str(exc)))
            with contextlib.suppress(Exception):
                await msg.respond(reply.model_dump_json(exclude_none=True).encode())
