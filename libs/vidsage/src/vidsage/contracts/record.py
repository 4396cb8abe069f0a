"""The video record: what the KV bucket ``videos`` holds per video and the API shows.

A record moves ``uploaded → ingesting → ingested → transcribing → transcribed → indexing →
ready``, or to ``failed`` with the stage and the reason. The transitions (:meth:`VideoRecord.begin`,
:meth:`~VideoRecord.finish`, :meth:`~VideoRecord.fail`) are pure and idempotent: applying one the
record has already passed changes nothing. :class:`vidsage.catalog.Catalog` stores records with
compare-and-set.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vidsage.contracts.events import utcnow


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
WAITING: dict[str, Status] = {
    "ingest": Status.UPLOADED,
    "transcribe": Status.INGESTED,
    "index": Status.TRANSCRIBED,
}
"""The status of a record waiting for each stage (the previous stage's done status)."""
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


def _new_stages() -> dict[str, StageState]:
    """Every stage pending: the ``stages`` of a new record."""
    return {s: StageState() for s in STAGES}


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
    stages: dict[str, StageState] = Field(default_factory=_new_stages)
    error: FailureInfo | None = None
    objects: dict[str, str] = Field(
        default_factory=dict, description="Object keys by kind (source, thumbnail...)."
    )
    retries: int = Field(default=0, ge=0, description="Times the video was re-run after a failure.")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    # -- transitions (pure; each returns None when there is nothing to change) -----------------
    @property
    def stage(self) -> str | None:
        """The stage this record is waiting for or running (None when ready or failed)."""
        for stage in STAGES:
            if self.status in (WAITING[stage], _STAGE_STATUS[stage][0]):
                return stage
        return None

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

    def rewind(self, stage: str) -> VideoRecord:
        """The record waiting for ``stage`` again: that stage and every later one pending, no
        error, ``retries`` counted. For a retry of a failed video (from its failed stage) and for a
        repair (an artifact of ``stage`` is gone); the caller decides when that is right."""
        later = STAGES[[str(s) for s in STAGES].index(stage) :]
        stages: dict[str, StageState] = {**self.stages, **{s: StageState() for s in later}}
        return self.model_copy(
            update={
                "status": WAITING[stage],
                "stages": stages,
                "error": None,
                "retries": self.retries + 1,
                "updated_at": utcnow(),
            }
        )

    def _with_stage(self, stage: str, *, status: Status | None = None, **changes: Any) -> VideoRecord:
        stages = dict(self.stages)
        stages[stage] = self.stages[stage].model_copy(update=changes)
        update: dict[str, Any] = {"stages": stages, "updated_at": utcnow()}
        if status is not None:
            update["status"] = status
        return self.model_copy(update=update)
