"""The index stage: ``transcribed`` → passages → embeddings → vector store → ``indexed`` (status
``ready``); and ``deleted`` → the video's points removed. Search requests are answered by
:mod:`vidsage_indexer.search_handler`.

Point ids are deterministic (``passage_id(video_id, index)``), so a redelivery or a re-index
replaces points instead of adding copies; a re-index that yields fewer passages drops the rest.
The stage skeleton (:mod:`vidsage.stage`) does the begin / redelivery / finish / publish steps; a
video deleted before or while it is indexed loses its points.
"""

from __future__ import annotations

from vidsage.contracts.events import Event, VideoDeleted, VideoIndexed, VideoTranscribed
from vidsage.contracts.record import VideoRecord
from vidsage.contracts.transcript import Transcript
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.stage import Stage, StageOutput
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.passages import passage_config
from vidsage_indexer.search import prepare
from vidsage_indexer.store import VectorStore

log = get_logger("vidsage.indexer")

STAGE = "index"


class IndexHandler(Stage[VideoTranscribed, int]):
    """The indexer's consumer: indexes transcribed videos (the stage's result is the passage
    count) and drops the points of deleted ones. Blocking work runs on the compute pool."""

    stage = STAGE
    event_type = VideoTranscribed

    def __init__(self, rt: Runtime, embedder: Embedder, store: VectorStore) -> None:
        super().__init__(rt)
        self.embedder = embedder
        self.store = store
        self.cfg = rt.settings.indexer

    async def __call__(self, event: Event, attempt: int) -> None:
        if isinstance(event, VideoDeleted):
            await self.rt.run_blocking(self.store.delete_video, event.video_id)
            log.info("index_deleted")
        elif isinstance(event, VideoTranscribed):
            await self.run(event, attempt)

    async def work(self, event: VideoTranscribed, record: VideoRecord) -> StageOutput[int]:
        rt = self.rt
        data = await rt.storage.get_bytes(event.transcript_key)
        passages, dense, sparse = await rt.run_blocking(  # parsing a long transcript is CPU work too
            lambda: prepare(
                self.embedder,
                Transcript.from_bytes(data).segments,
                passage_config(self.cfg),
                video_id=record.id,
                owner=record.owner,
                filename=record.filename,
            )
        )
        if await rt.run_blocking(self.store.count, record.id) > len(passages):
            # A re-index with fewer passages (or none): start the video over so no stale point remains.
            await rt.run_blocking(self.store.delete_video, record.id)
        await rt.run_blocking(self.store.upsert, passages, dense, sparse)
        return StageOutput(len(passages), log={"passages": len(passages)})

    async def done_event(self, record: VideoRecord, result: int | None) -> Event:
        if result is None:  # a redelivery: count what the store holds
            result = await self.rt.run_blocking(self.store.count, record.id)
        return VideoIndexed(video_id=record.id, owner=record.owner, passage_count=result)

    async def discard(self, event: VideoTranscribed, output: StageOutput[int] | None) -> None:
        await self.rt.run_blocking(self.store.delete_video, event.video_id)
