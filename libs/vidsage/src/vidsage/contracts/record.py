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
from vidsage.contracts.reasons import public_reason


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
    reason: str = Field(
        description="Why, in at most 200 characters, without internal addresses, object keys, file paths "
        "or credentials (the full text is in the service's log)."
    )


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
        """``failed`` at ``stage``; the reason is stored as :func:`~vidsage.contracts.reasons.public_reason`
        of it (short, no internal addresses, keys or paths: clients and subscribers read it)."""
        reason = public_reason(reason)
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
