"""The video catalog: one record per video in the JetStream KV bucket ``videos``.

Every change is a compare-and-set on the KV revision (:meth:`Catalog.update` re-reads and
retries on conflict), so two services never overwrite each other's fields. Stage transitions
are idempotent: applying a transition the record has already passed changes nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from vidsage.events import utcnow
from vidsage.ids import is_valid_id
from vidsage.kvkeys import live_keys


class Status(StrEnum):
    UPLOADED = "uploaded"
    INGESTING = "ingesting"
    INGESTED = "ingested"
    TRANSCRIBING = "transcribing"
    TRANSCRIBED = "transcribed"
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


_ORDER = [s for s in Status if s is not Status.FAILED]

Stage = Literal["ingest", "transcribe", "index"]
STAGES: tuple[Stage, ...] = ("ingest", "transcribe", "index")
_STAGE_STATUS: dict[str, tuple[Status, Status]] = {
    "ingest": (Status.INGESTING, Status.INGESTED),
    "transcribe": (Status.TRANSCRIBING, Status.TRANSCRIBED),
    "index": (Status.INDEXING, Status.READY),
}


def status_rank(status: Status) -> int:
    return _ORDER.index(status) if status is not Status.FAILED else len(_ORDER)


class StageState(BaseModel):
    state: Literal["pending", "running", "done", "failed"] = "pending"
    attempts: int = 0
    progress: float | None = Field(default=None, description="Percent done while running.")
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class FailureInfo(BaseModel):
    stage: str
    reason: str


class VideoRecord(BaseModel):
    """A video as the API shows it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    owner: str
    filename: str = Field(description="Original file name; display only.")
    size: int
    mime: str
    format: Literal["mp4", "mov", "avi"]
    duration_s: float
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    has_audio: bool | None = None
    language: str | None = None
    status: Status = Status.UPLOADED
    stages: dict[str, StageState] = Field(default_factory=lambda: {s: StageState() for s in STAGES})
    error: FailureInfo | None = None
    objects: dict[str, str] = Field(
        default_factory=dict, description="Object keys by kind (source, thumbnail...)."
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    # -- transitions (pure; each returns None when there is nothing to change) -----------------
    def begin(self, stage: str, attempt: int) -> VideoRecord | None:
        running, _done = _STAGE_STATUS[stage]
        if self.status is Status.FAILED or status_rank(self.status) >= status_rank(running):
            state = self.stages[stage]
            if self.status is running and state.attempts != attempt:
                return self._with_stage(stage, attempts=attempt)
            return None
        return self._with_stage(stage, status=running, state="running", attempts=attempt, started_at=utcnow())

    def finish(self, stage: str, **fields: Any) -> VideoRecord | None:
        _running, done = _STAGE_STATUS[stage]
        if self.status is Status.FAILED or status_rank(self.status) >= status_rank(done):
            return None
        record = self._with_stage(stage, status=done, state="done", progress=None, finished_at=utcnow())
        return record.model_copy(update=fields)

    def fail(self, stage: str, reason: str, attempts: int) -> VideoRecord | None:
        if self.status is Status.FAILED or self.status is Status.READY or self.stages[stage].state == "done":
            return None
        record = self._with_stage(
            stage, status=Status.FAILED, state="failed", error=reason, attempts=attempts
        )
        return record.model_copy(update={"error": FailureInfo(stage=stage, reason=reason)})

    def _with_stage(self, stage: str, *, status: Status | None = None, **changes: Any) -> VideoRecord:
        stages = dict(self.stages)
        stages[stage] = self.stages[stage].model_copy(update=changes)
        update: dict[str, Any] = {"stages": stages, "updated_at": utcnow()}
        if status is not None:
            update["status"] = status
        return self.model_copy(update=update)


class CatalogConflict(Exception):
    """A record kept changing under a compare-and-set update."""


class Catalog:
    """CRUD over the ``videos`` KV bucket with revision-checked updates."""

    def __init__(self, kv: KeyValue, *, max_retries: int = 16) -> None:
        self._kv = kv
        self._max_retries = max_retries

    async def create(self, record: VideoRecord) -> int:
        """Store a new record; fails if the id exists."""
        return await self._kv.create(record.id, record.to_bytes())

    async def get_entry(self, video_id: str) -> tuple[VideoRecord, int] | None:
        if not is_valid_id(video_id):
            return None
        try:
            entry = await self._kv.get(video_id)
        except NotFoundError:  # missing, deleted or purged
            return None
        if entry.value is None:
            return None
        return VideoRecord.model_validate_json(entry.value), entry.revision or 0

    async def get(self, video_id: str) -> VideoRecord | None:
        found = await self.get_entry(video_id)
        return found[0] if found else None

    async def update(
        self, video_id: str, change: Callable[[VideoRecord], VideoRecord | None]
    ) -> tuple[VideoRecord | None, bool]:
        """Apply ``change`` with compare-and-set; returns (record, changed).

        The record is None when the video does not exist (deleted meanwhile). ``change`` returns
        None to leave the record as it is; it may be called again after a conflict.
        """
        for attempt in range(self._max_retries):
            found = await self.get_entry(video_id)
            if found is None:
                return None, False
            record, revision = found
            new = change(record)
            if new is None:
                return record, False
            try:
                await self._kv.update(video_id, new.to_bytes(), last=revision)
            except KeyWrongLastSequenceError:
                # Lost the race: wait a random, growing moment so that contenders spread out
                # instead of colliding again in lockstep (which exhausts the retries).
                await asyncio.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
                continue
            return new, True
        raise CatalogConflict(f"record {video_id} kept changing; gave up after {self._max_retries} tries")

    async def delete(self, video_id: str) -> bool:
        """Remove the record and its history; False if it did not exist."""
        if await self.get_entry(video_id) is None:
            return False
        await self._kv.purge(video_id)
        return True

    async def ids(self) -> list[str]:
        """Every video id (one short-lived ordered consumer, see :mod:`vidsage.kvkeys`)."""
        return [k for k in await live_keys(self._kv) if is_valid_id(k)]

    async def list(self, *, limit: int, cursor: str | None = None) -> tuple[list[VideoRecord], str | None]:
        """Newest first (ids sort by creation time); ``cursor`` is the last id of the previous page."""
        ids = sorted(await self.ids(), reverse=True)
        if cursor:
            ids = [i for i in ids if i < cursor]
        records: list[VideoRecord] = []
        start = 0
        # A page's records are read at once; one deleted since the key listing is skipped and the
        # next id read in its place.
        while len(records) < limit and start < len(ids):
            batch = ids[start : start + limit - len(records)]
            start += len(batch)
            found = await asyncio.gather(*(self.get(video_id) for video_id in batch))
            records.extend(record for record in found if record is not None)
        more = bool(records) and any(i < records[-1].id for i in ids)
        return records, (records[-1].id if more else None)
