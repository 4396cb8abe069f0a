"""The chat service's answering: one :class:`~vidsage.contracts.chat.ChatRequest` in, numbered
chunks to its reply inbox out (:class:`Replier`), grounded in the video or the library.

Everything is the requesting tenant's (``request.owner``): the video is read under that owner (another
tenant's id is not found), the library search is filtered by it inside the vector store, and the
conversation memory is keyed by it.

- **One video**: the whole transcript (a 3-minute video fits in any context) with timestamps, as
  delimited untrusted data; the model cites ``[mm:ss]``; citations are mapped to real segments.
- **The library**: passages retrieved through the indexer's search, labelled per video.
- **No API key**: extractive mode. The answer is the best-matching passages with their times,
  and it says that it is extractive.

The NATS side (subscriptions, concurrency, cancels, draining) is :mod:`vidsage_chat.serving`.
"""

from __future__ import annotations

from typing import Any

import structlog
from nats.aio.client import Client as NATS

from vidsage.contracts.chat import ChatChunk, ChatRequest, ChunkType, Citation, Mode
from vidsage.contracts.record import Status
from vidsage.contracts.search import (
    MAX_QUERY_CHARS,
    SearchFailed,
    SearchHit,
    SearchRequest,
    SearchUnavailable,
)
from vidsage.contracts.transcript import Segment, clock
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.search_client import ask
from vidsage.storage import StorageUnavailable
from vidsage_chat.citations import best_segment, library_citations, video_citations
from vidsage_chat.llm import LLM, ChatFailure
from vidsage_chat.memory import Memory
from vidsage_chat.prompt import (
    LIBRARY_SYSTEM_PROMPT,
    VIDEO_SYSTEM_PROMPT,
    build_messages,
    label_hits,
    passages_block,
    transcript_block,
)

log = get_logger("vidsage.chat")

EXTRACTIVE_INTRO = (
    "Extractive answer (no language model is configured): the passages of the {scope} "
    "that best match your question."
)
EXTRACTIVE_NOTHING = "Extractive answer (no language model is configured): nothing in the {scope} matches."


class Replier:
    """Numbered chunks to one reply inbox."""

    def __init__(self, nc: NATS, inbox: str) -> None:
        self.nc = nc
        self.inbox = inbox
        self.seq = 0

    async def send(self, type_: ChunkType, **fields: Any) -> None:
        chunk = ChatChunk(seq=self.seq, type=type_, **fields)
        self.seq += 1
        await self.nc.publish(self.inbox, chunk.model_dump_json(exclude_none=True).encode())

    async def error(self, code: str, message: str, status: str | None = None) -> None:
        await self.send("error", code=code, message=message, status=status)


class Answerer:
    """Answers chat requests: the language model (or extractive mode), memory, retrieval, citations."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg = rt.settings.chat
        self.llm = LLM(self.cfg) if self.cfg.llm_api_key is not None else None
        self.memory = Memory(rt.cache, self.cfg.history_messages, self.cfg.history_max_chars)

    @property
    def mode(self) -> Mode:
        return "llm" if self.llm is not None else "extractive"

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.close()

    async def answer(self, request: ChatRequest, replier: Replier, trace_id: str) -> None:
        """``accepted``, the answer's ``token`` chunks, then ``done`` with its citations, or one
        ``error``. Never raises, except when cancelled."""
        structlog.contextvars.bind_contextvars(
            trace_id=trace_id,
            video_id=request.video_id,
            conversation_id=request.conversation_id,
            message_id=request.message_id,
        )
        try:
            await replier.send("accepted")
            if request.video_id is not None:
                answer, citations = await self._video_answer(request, replier)
            else:
                answer, citations = await self._library_answer(request, replier)
            # remembered before `done`, so a follow-up sent right after it sees this turn
            await self.memory.append(
                request.owner, request.video_id, request.conversation_id, request.content, answer
            )
            await replier.send("done", citations=citations, mode=self.mode)
            log.info("chat_answered", mode=self.mode, chars=len(answer), citations=len(citations))
        except ChatFailure as failure:
            log.warning("chat_failed", code=failure.code, reason=failure.message)
            await replier.error(failure.code, failure.message, failure.status)
        except Exception:
            log.exception("chat_internal_error")
            await replier.error("internal", f"internal error; the message id is {request.message_id}")

    async def _video_answer(self, request: ChatRequest, replier: Replier) -> tuple[str, list[Citation]]:
        assert request.video_id is not None
        record = await self.rt.catalog.get(request.owner, request.video_id)
        if record is None:
            raise ChatFailure("not_found", "video not found")
        if record.status is not Status.READY:
            raise ChatFailure(
                "not_ready",
                f"the video is not ready for questions yet (status: {record.status.value})",
                status=record.status.value,
            )
        if self.llm is None:
            hits = await self._search(request, request.video_id, self.cfg.extractive_passages)
            return await self._extractive(request, hits, replier, scope="transcript", with_title=False)
        try:
            transcript = await self.rt.load_transcript(record)
        except StorageUnavailable:
            raise ChatFailure("storage_unavailable", "object storage is unavailable; try again") from None
        if transcript is None:
            raise ChatFailure("not_found", "the video's transcript is missing")
        history = await self.memory.history(request.owner, request.video_id, request.conversation_id)
        messages = build_messages(
            VIDEO_SYSTEM_PROMPT, transcript_block(transcript, record.filename), history, request.content
        )
        answer = await self._stream(messages, replier)
        return answer, video_citations(answer, request.video_id, transcript.segments)

    async def _library_answer(self, request: ChatRequest, replier: Replier) -> tuple[str, list[Citation]]:
        if self.llm is None:
            hits = await self._search(request, None, self.cfg.extractive_passages)
            return await self._extractive(request, hits, replier, scope="library", with_title=True)
        passages = label_hits(await self._search(request, None, self.cfg.context_passages))
        history = await self.memory.history(request.owner, None, request.conversation_id)
        messages = build_messages(LIBRARY_SYSTEM_PROMPT, passages_block(passages), history, request.content)
        answer = await self._stream(messages, replier)
        return answer, library_citations(answer, passages)

    async def _stream(self, messages: list[dict[str, str]], replier: Replier) -> str:
        assert self.llm is not None
        parts: list[str] = []
        async for text in self.llm.stream(messages):
            parts.append(text)
            await replier.send("token", content=text)
        return "".join(parts)

    async def _search(self, request: ChatRequest, video_id: str | None, limit: int) -> list[SearchHit]:
        """The passages of the requester's videos (the owner filters inside the vector store)."""
        cfg = self.rt.settings.indexer
        query = SearchRequest(
            q=request.content[:MAX_QUERY_CHARS], video_id=video_id, owner=request.owner, limit=limit
        )
        try:
            return await ask(self.rt.nc, cfg.search_subject, query, cfg.search_timeout_s)
        except SearchUnavailable as exc:
            raise ChatFailure("search_unavailable", str(exc)) from None
        except SearchFailed as exc:
            raise ChatFailure("internal", f"search failed: {exc.message}") from None

    async def _extractive(
        self, request: ChatRequest, hits: list[SearchHit], replier: Replier, *, scope: str, with_title: bool
    ) -> tuple[str, list[Citation]]:
        """Quote the best sentence of each retrieved passage, one token frame per quote; each
        quote is a citation of its segment (or of the passage, if its transcript is unreadable)."""
        videos = dict.fromkeys(hit.video_id for hit in hits)  # each transcript read once, in order
        segments = {video_id: await self._segments(request.owner, video_id) for video_id in videos}
        citations = [_sharpen(request.content, hit, segments[hit.video_id]) for hit in hits]
        if not hits:
            lines = [EXTRACTIVE_NOTHING.format(scope=scope)]
        else:
            lines = [EXTRACTIVE_INTRO.format(scope=scope)]
            for hit, cite in zip(hits, citations, strict=True):
                where = f"{hit.filename} {clock(cite.start)}" if with_title else clock(cite.start)
                lines.append(f"\n\n[{where}] {' '.join(cite.text.split())}")
        for line in lines:
            await replier.send("token", content=line)
        return "".join(lines), citations

    async def _segments(self, owner: str, video_id: str) -> dict[int, Segment]:
        """The video's transcript segments by id; empty if its transcript cannot be read."""
        try:
            record = await self.rt.catalog.get(owner, video_id)
            transcript = await self.rt.load_transcript(record) if record is not None else None
        except StorageUnavailable:
            return {}
        return {} if transcript is None else {s.id: s for s in transcript.segments}


def _sharpen(question: str, hit: SearchHit, by_id: dict[int, Segment]) -> Citation:
    """The segment of ``hit`` that shares the most words with the question (else the passage)."""
    segments = [by_id[i] for i in hit.segment_ids if i in by_id and by_id[i].text.strip()]
    if not segments:
        return Citation(video_id=hit.video_id, start=hit.start, end=hit.end, text=hit.text)
    best = best_segment(question, segments)
    return Citation(video_id=hit.video_id, start=best.start, end=best.end, text=best.text)
