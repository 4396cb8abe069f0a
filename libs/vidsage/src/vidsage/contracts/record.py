"""The video record: what the KV bucket ``videos`` holds per video and the API shows.

A record moves ``uploaded → ingesting → ingested → transcribing → transcribed → indexing →
ready``, or to ``failed`` with the stage and the reason. The transitions (:meth:`VideoRecord.begin`,
:meth:`~VideoRecord.finish`, :meth:`~VideoRecord.fail`) are pure and idempotent: applying one the
record has already passed changes nothing. :class:`vidsage.catalog.Catalog` stores records with
compare-and-set.

Stages may run side by side (ingest and transcribe both start from ``vidsage.video.uploaded``):
``stages`` shows each one's own state, and ``status`` is derived from them in pipeline order
(:func:`derived_status`). It only moves forward, may skip a value (``ingesting → transcribing``
when the transcriber was already at work), and keeps its meaning: from ``ingested`` on the
thumbnail exists, from ``transcribed`` on the transcript too, and ``ready`` means every stage is
done.
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
NEEDS: dict[str, tuple[Stage, ...]] = {"ingest": (), "transcribe": (), "index": ("transcribe",)}
"""The stages each stage needs done before it can start: ingest and transcribe both start from the
upload (``vidsage.video.uploaded``), index from the transcript (``vidsage.video.transcribed``)."""
_STAGE_STATUS: dict[str, tuple[Status, Status]] = {
    "ingest": (Status.INGESTING, Status.INGESTED),
    "transcribe": (Status.TRANSCRIBING, Status.TRANSCRIBED),
    "index": (Status.INDEXING, Status.READY),
}


def status_rank(status: Status) -> int:
    return _ORDER.index(status) if status is not Status.FAILED else len(_ORDER)


def derived_status(stages: dict[str, StageState]) -> Status:
    """The status that the stages' states spell, in pipeline order: the running status of the first
    stage that is not done (the done status of the stage before it while it is only pending), or
    ``ready`` when every stage is done. Failure is not derived: :meth:`VideoRecord.fail` sets it.

    Each stage's state only moves forward (pending → running → done), so this status does too.
    """
    previous = Status.UPLOADED
    for stage in STAGES:
        running, done = _STAGE_STATUS[stage]
        state = stages[stage].state if stage in stages else "pending"
        if state == "done":
            previous = done
            continue
        return running if state == "running" else previous
    return previous


class StageState(BaseModel):
    state: Literal["pending", "running", "done", "failed"] = "pending"
    attempts: int = 0
    progress: float | None = Field(default=None, description="Percent done while running.")
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: dict[str, float] | None = Field(
        default=None,
        description="Seconds spent in each step of the stage's run (download, decode, vad, "
        "inference...), set when it finishes.",
    )


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
    retries: int = Field(default=0, ge=0, description="Times the video was re-run after a failure.")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    # -- transitions (pure; each returns None when there is nothing to change) -----------------
    def awaits(self, stage: str) -> bool:
        """Whether this record waits for or runs ``stage``: neither ready nor failed, ``stage`` not
        done and the stages it needs (:data:`NEEDS`) done."""
        if self.status in (Status.READY, Status.FAILED) or self.stages[stage].state == "done":
            return False
        return all(self.stages[need].state == "done" for need in NEEDS[stage])

    @property
    def stage(self) -> str | None:
        """The first stage, in pipeline order, this record waits for or runs (None when ready or
        failed)."""
        return next((stage for stage in STAGES if self.awaits(stage)), None)

    def begin(self, stage: str, attempt: int) -> VideoRecord | None:
        """The stage runs (its delivery ``attempt``); None when it is done, already running this
        attempt, or the video failed."""
        state = self.stages[stage]
        if self.status is Status.FAILED or state.state == "done":
            return None
        if state.state == "running":
            return None if state.attempts == attempt else self._with_stage(stage, attempts=attempt)
        return self._with_stage(stage, state="running", attempts=attempt, started_at=utcnow())

    def finish(
        self, stage: str, *, timings: dict[str, float] | None = None, **fields: Any
    ) -> VideoRecord | None:
        """The stage is done: set ``fields`` on the record and the stage's ``timings``; None when
        it is done already or the video failed."""
        if self.status is Status.FAILED or self.stages[stage].state == "done":
            return None
        record = self._with_stage(stage, state="done", progress=None, finished_at=utcnow(), timings=timings)
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

    def rewind(self, stage: str, *more: str) -> VideoRecord:
        """The record waiting for ``stage`` (and ``more``) again: those, the stages that need them and every
        stage not done pending, no error, ``retries`` counted, the status derived from the stages.
        For a retry of a failed video (from its failed stage) and for a repair (an artifact of
        ``stage`` is gone); the caller decides when that is right."""
        again = {stage, *more}
        again |= {s for s in STAGES if again & set(NEEDS[s])}
        stages: dict[str, StageState] = {
            s: StageState() if s in again or state.state != "done" else state
            for s, state in self.stages.items()
        }
        return self.model_copy(
            update={
                "status": derived_status(stages),
                "stages": stages,
                "error": None,
                "retries": self.retries + 1,
                "updated_at": utcnow(),
            }
        )

    def _with_stage(self, stage: str, *, status: Status | None = None, **changes: Any) -> VideoRecord:
        """A copy with ``stages[stage]`` changed; the status is ``status`` when given (a failure),
        else derived from the stages, never moving back."""
        stages = dict(self.stages)
        stages[stage] = self.stages[stage].model_copy(update=changes)
        if status is None:
            derived = derived_status(stages)
            status = derived if status_rank(derived) > status_rank(self.status) else self.status
        return self.model_copy(update={"stages": stages, "updated_at": utcnow(), "status": status})
