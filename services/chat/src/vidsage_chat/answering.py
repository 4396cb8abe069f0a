"""The chat service's answering: one :class:`~vidsage.contracts.chat.ChatRequest` in, numbered
chunks to its reply inbox out (:class:`Replier`), grounded in the video or the library.

Everything is the requesting tenant's (``request.owner``): the video is read under that owner (another
tenant's id is not found), the library search is filtered by it inside the vector store, and the
conversation memory is keyed by it.

- **One video**: the whole transcript (a 3-minute video fits in any context) with timestamps, as
  delimited untrusted data; the model cites ``[mm:ss]``; citations are mapped to real segments.
- **The library**: passages retrieved through the indexer's search, labelled per video.
- **No API key**: extractive mode (:mod:`vidsage_chat.extractive`): the sentence that answers,
  with its time, other moments only when they add something, or a plain "does not seem to cover
  this" below ``chat.min_relevance``; it says that it is quoted.
- **Follow-ups** in library chat look in the video the previous answer cited first
  (:mod:`vidsage_chat.followup`).
- **Citations of a language-model answer are checked for support** (:mod:`vidsage_chat.support`):
  each gets ``supported`` and ``support_score``, ``done`` counts the unsupported ones, and
  ``chat.drop_unsupported`` leaves them out.

The NATS side (subscriptions, concurrency, cancels, draining) is :mod:`vidsage_chat.serving`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from nats.aio.client import Client as NATS

from vidsage.contracts.chat import ChatChunk, ChatRequest, ChunkType, Citation, Mode
from vidsage.contracts.record import Status
from vidsage.contracts.search import (
    MAX_PAIR_TEXT_CHARS,
    MAX_PAIRS,
    MAX_QUERY_CHARS,
    SearchFailed,
    SearchHit,
    SearchRequest,
    SearchUnavailable,
    SimilarityRequest,
)
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.search_client import ask, similarity
from vidsage.storage import StorageUnavailable
from vidsage_chat.citations import Cited, library_cited, video_cited
from vidsage_chat.extractive import Transcript, compose
from vidsage_chat.followup import look_first_in
from vidsage_chat.llm import LLM, ChatFailure
from vidsage_chat.memory import Memory
from vidsage_chat.prompt import (
    LIBRARY_SYSTEM_PROMPT,
    VIDEO_SYSTEM_PROMPT,
    Message,
    build_messages,
    label_hits,
    passages_block,
    transcript_block,
)
from vidsage_chat.support import check

log = get_logger("vidsage.chat")


class Replier:
    """Numbered chunks to one reply inbox."""

    def __init__(self, nc: NATS, inbox: str) -> None:
        self.nc = nc
        self.inbox = inbox
        self.seq = 0
        self._sent_at = 0.0

    async def send(self, type_: ChunkType, **fields: Any) -> None:
        chunk = ChatChunk(seq=self.seq, type=type_, **fields)
        self.seq += 1  # numbered before the first await: chunks leave in their order
        self._sent_at = asyncio.get_running_loop().time()
        await self.nc.publish(self.inbox, chunk.model_dump_json(exclude_none=True).encode())

    async def keep_alive(self, interval_s: float) -> None:
        """Send ``alive`` whenever nothing was sent for ``interval_s`` (until cancelled), so the
        gateway notices within its chunk timeout when this process dies mid-answer."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.0, self._sent_at + interval_s - loop.time()))
            if loop.time() - self._sent_at >= interval_s:
                await self.send("alive")

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
        alive: asyncio.Task[None] | None = None
        try:
            await replier.send("accepted")
            alive = asyncio.create_task(replier.keep_alive(self.cfg.alive_interval_s))
            history, cited_video = await self.memory.context(
                request.owner, request.video_id, request.conversation_id
            )
            if request.video_id is not None:
                answer, citations = await self._video_answer(request, history, replier)
            else:
                answer, citations = await self._library_answer(request, history, cited_video, replier)
            unsupported = sum(c.supported is False for c in citations)
            if self.cfg.drop_unsupported:
                citations = [c for c in citations if c.supported is not False]
            # remembered before `done`, so a follow-up sent right after it sees this turn
            first_video = citations[0].video_id if citations else None
            await self.memory.append(
                request.owner, request.video_id, request.conversation_id, request.content, answer, first_video
            )
            await replier.send("done", citations=citations, unsupported=unsupported, mode=self.mode)
            log.info(
                "chat_answered",
                mode=self.mode,
                chars=len(answer),
                citations=len(citations),
                unsupported=unsupported,
            )
        except ChatFailure as failure:
            log.warning("chat_failed", code=failure.code, reason=failure.message)
            await replier.error(failure.code, failure.message, failure.status)
        except Exception:
            log.exception("chat_internal_error")
            await replier.error("internal", f"internal error; the message id is {request.message_id}")
        finally:
            if alive is not None:
                alive.cancel()

    async def _video_answer(
        self, request: ChatRequest, history: list[Message], replier: Replier
    ) -> tuple[str, list[Citation]]:
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
            return await self._extractive(request.owner, hits, replier, scope="video", with_title=False)
        try:
            transcript = await self.rt.load_transcript(record)
        except StorageUnavailable:
            raise ChatFailure("storage_unavailable", "object storage is unavailable; try again") from None
        if transcript is None:
            raise ChatFailure("not_found", "the video's transcript is missing")
        messages = build_messages(
            VIDEO_SYSTEM_PROMPT, transcript_block(transcript, record.filename), history, request.content
        )
        answer = await self._stream(messages, replier)
        cited = video_cited(answer, request.video_id, transcript.segments, record.filename)
        return answer, await self._checked(cited)

    async def _library_answer(
        self, request: ChatRequest, history: list[Message], cited_video: str | None, replier: Replier
    ) -> tuple[str, list[Citation]]:
        limit = self.cfg.context_passages if self.llm is not None else self.cfg.extractive_passages
        hits = await self._library_search(request, cited_video if history else None, limit)
        if self.llm is None:
            return await self._extractive(request.owner, hits, replier, scope="library", with_title=True)
        passages = label_hits(hits)
        messages = build_messages(LIBRARY_SYSTEM_PROMPT, passages_block(passages), history, request.content)
        answer = await self._stream(messages, replier)
        return answer, await self._checked(library_cited(answer, passages))

    async def _library_search(
        self, request: ChatRequest, cited_video: str | None, limit: int
    ) -> list[SearchHit]:
        """A follow-up looks in the video the previous answer cited first, then in the whole
        library when nothing there is relevant enough (see :mod:`vidsage_chat.followup`). Both
        searches are the requester's: the remembered video is from the requester's own
        conversation, and searched under the requester's owner all the same."""
        first = look_first_in(request.content, cited_video)
        if first is not None:
            try:
                hits = await self._search(request, first, limit)
            except ChatFailure:
                hits = []  # e.g. the video was deleted meanwhile
            if hits and hits[0].relevance >= self.cfg.min_relevance:
                return hits
        return await self._search(request, None, limit)

    async def _checked(self, cited: list[Cited]) -> list[Citation]:
        """The citations with their support check (see :mod:`vidsage_chat.support`)."""
        cfg = self.rt.settings.indexer

        async def meaning(pairs: list[tuple[str, str]]) -> list[float]:
            scores: list[float] = []
            trimmed = [(a[:MAX_PAIR_TEXT_CHARS], b[:MAX_PAIR_TEXT_CHARS]) for a, b in pairs]
            for i in range(0, len(trimmed), MAX_PAIRS):
                request = SimilarityRequest(pairs=trimmed[i : i + MAX_PAIRS])
                scores += await similarity(self.rt.nc, cfg.similarity_subject, request, cfg.search_timeout_s)
            return scores

        citations, used = await check(cited, meaning, self.cfg.support_threshold)
        if cited and not used:
            log.warning(
                "support_check_lexical_only", reason="the indexer did not answer the similarity request"
            )
        return citations

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
        self, owner: str, hits: list[SearchHit], replier: Replier, *, scope: str, with_title: bool
    ) -> tuple[str, list[Citation]]:
        """The offline answer (:func:`vidsage_chat.extractive.compose`), one token frame per part."""
        videos = dict.fromkeys(hit.video_id for hit in hits)  # each transcript read once, in order
        transcripts = {video_id: await self._transcript(owner, video_id) for video_id in videos}
        extract = compose(
            hits, transcripts, scope=scope, with_title=with_title, min_relevance=self.cfg.min_relevance
        )
        for part in extract.parts:
            await replier.send("token", content=part)
        return extract.text, extract.citations

    async def _transcript(self, owner: str, video_id: str) -> Transcript | None:
        """The video's transcript, for quoting; None if it cannot be read."""
        try:
            record = await self.rt.catalog.get(owner, video_id)
            transcript = await self.rt.load_transcript(record) if record is not None else None
        except StorageUnavailable:
            return None
        if transcript is None:
            return None
        return await self.rt.run_blocking(Transcript.of, transcript.segments)  # sentence split: CPU
