"""The public event contract: subjects and payloads of the ``vidsage.video.*`` events.

Every event is JSON with ``schema_version``, ``event_id``, ``video_id``, ``occurred_at``,
``owner`` and its own fields. Subscribers must ignore fields they do not know; a breaking
change bumps ``schema_version``. ``vidsage schemas export`` writes these models as JSON Schema
and an AsyncAPI document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vidsage.contracts import names
from vidsage.contracts.ids import new_id

SCHEMA_VERSION: Final = 1


class EventType(StrEnum):
    UPLOADED = "uploaded"
    INGESTED = "ingested"
    TRANSCRIBED = "transcribed"
    INDEXED = "indexed"
    FAILED = "failed"
    DELETED = "deleted"

    @property
    def subject(self) -> str:
        return names.event_subject(self.value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventError(ValueError):
    """A message that is not a valid vidsage event (malformed JSON, wrong fields, unknown subject)."""


class Event(BaseModel):
    """Fields common to every event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: ClassVar[EventType]

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(default_factory=new_id, description="Unique id of this event (UUIDv7).")
    video_id: str = Field(min_length=1, max_length=64, description="The video this event is about.")
    occurred_at: datetime = Field(default_factory=utcnow, description="When it happened (UTC).")
    owner: str = Field(description="Owner of the video.")

    @property
    def subject(self) -> str:
        return self.type.subject

    @property
    def msg_id(self) -> str:
        """JetStream de-duplication id: one event of each type per video."""
        return f"{self.video_id}:{self.type.value}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class VideoUploaded(Event):
    """A validated upload is stored; ingest (thumbnail) and the transcriber take it from here, side
    by side."""

    type: ClassVar[EventType] = EventType.UPLOADED
    source_key: str = Field(description="Object key of the uploaded file.")
    filename: str = Field(description="Original file name (display only).")
    size: int = Field(ge=0, description="Size in bytes.")
    mime: str = Field(description="Content type decided from the content.")
    format: Literal["mp4", "mov", "avi"]
    duration_s: float = Field(ge=0, description="Duration measured at upload.")


class VideoIngested(Event):
    """Probe and thumbnail (and, when ingest is set to extract it, the audio) are done."""

    type: ClassVar[EventType] = EventType.INGESTED
    source_key: str
    thumbnail_key: str
    audio_key: str | None = Field(
        description="16 kHz mono WAV, when ingest is set to extract it (ingest.extract_audio, off by "
        "default: the transcriber decodes the source itself); null otherwise and when the video has "
        "no audio."
    )
    duration_s: float = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    fps: float | None = None
    video_codec: str
    audio_codec: str | None = None
    has_audio: bool


class VideoTranscribed(Event):
    """The transcript artifacts are stored."""

    type: ClassVar[EventType] = EventType.TRANSCRIBED
    transcript_key: str
    srt_key: str
    vtt_key: str
    language: str | None = None
    segment_count: int = Field(ge=0)
    duration_s: float = Field(ge=0)


class VideoIndexed(Event):
    """The transcript is searchable; the video is ready."""

    type: ClassVar[EventType] = EventType.INDEXED
    passage_count: int = Field(ge=0)


class VideoFailed(Event):
    """A stage gave up on the video."""

    type: ClassVar[EventType] = EventType.FAILED
    stage: str = Field(description="ingest, transcribe or index.")
    reason: str = Field(
        description="Why, in at most 200 characters, without internal addresses, object keys, file paths "
        "or credentials (the full text is in the service's log)."
    )
    attempts: int = Field(ge=0, description="Deliveries made before giving up.")


class VideoDeleted(Event):
    """The video and its objects are gone; services drop what they hold for it."""

    type: ClassVar[EventType] = EventType.DELETED
    prefix: str = Field(description="Object key prefix that was removed.")


EVENT_MODELS: dict[EventType, type[Event]] = {
    model.type: model
    for model in (VideoUploaded, VideoIngested, VideoTranscribed, VideoIndexed, VideoFailed, VideoDeleted)
}


def parse_event(subject: str, data: bytes) -> Event:
    """Decode the event carried on ``subject``; raises :class:`EventError` when it is not valid."""
    prefix = names.EVENT_SUBJECT_PREFIX + "."
    if not subject.startswith(prefix):
        raise EventError(f"not a vidsage event subject: {subject!r}")
    try:
        model = EVENT_MODELS[EventType(subject[len(prefix) :])]
    except ValueError as exc:
        raise EventError(f"unknown event subject: {subject!r}") from exc
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise EventError(f"invalid {model.__name__} payload: {exc.error_count()} error(s): {exc}") from exc


class Progress(BaseModel):
    """Ephemeral progress of a stage, on core NATS ``vidsage.progress.<video_id>``."""

    model_config = ConfigDict(extra="ignore")

    video_id: str
    stage: str
    percent: float = Field(ge=0, le=100)
    at: datetime = Field(default_factory=utcnow)

    @property
    def subject(self) -> str:
        return names.progress_subject(self.video_id)
