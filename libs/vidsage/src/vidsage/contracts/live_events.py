"""The frames of the gateway's live status streams (Server-Sent Events): ``GET /api/events`` (every
video of the caller) and ``GET /api/videos/<id>/events`` (one video).

Each frame is an SSE message whose ``event:`` field is the frame's ``type`` and whose ``data:`` is
one line of JSON, a :class:`LiveEvent`:

- ``status``: the video's status changed (an event of the ``VIDSAGE`` stream: ``uploaded``,
  ``ingested``, ``transcribed``, ``indexed``, ``failed``); ``status`` is the record's status as the
  gateway read it right after the event (never behind the event; stages run side by side, so it
  may be ahead of it), ``event`` the stream event, ``stage`` and ``reason`` the failure's. On the
  per-video route the first frame is a ``status`` with ``event: null``: the status when the stream
  opened.
- ``progress``: a stage's percent done (``stage``, ``progress``), ephemeral: not replayed.
- ``deleted``: the video is gone (the per-video stream ends after it).
- ``open``: the first frame of ``/api/events`` (nothing else in it), so that the client holds an id
  to resume from even if nothing happens before it reconnects.
- ``reset``: the id the client resumed from is older than the stream keeps (or unknown): events
  may have been missed; refetch the state (``GET /api/videos``, ``.../status``), then carry on with
  the frames that follow.

``id:`` is the JetStream stream sequence of the event behind a frame (``status``, ``deleted``,
``open``, ``reset`` and the snapshot carry the stream position); ``progress`` frames carry none,
so a browser's ``Last-Event-ID`` stays the last event's. A client that reconnects with
``Last-Event-ID`` (or ``?last_event_id=``) gets every frame it missed, then the live ones, with
no gap and no duplicate.

Pure (pydantic only): the gateway, the client and the OpenAPI document read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vidsage.contracts.events import EventType, utcnow
from vidsage.contracts.record import Status

LiveEventType = Literal["status", "progress", "deleted", "open", "reset"]

FINAL_STATUSES = (Status.READY, Status.FAILED)

EVENT_STATUS: dict[EventType, Status] = {
    EventType.UPLOADED: Status.UPLOADED,
    EventType.INGESTED: Status.INGESTED,
    EventType.TRANSCRIBED: Status.TRANSCRIBED,
    EventType.INDEXED: Status.READY,
    EventType.FAILED: Status.FAILED,
}
"""The least status each stream event means (when the record cannot be read: it was deleted)."""


class LiveEvent(BaseModel):
    """The ``data:`` of one frame of a live status stream."""

    model_config = ConfigDict(extra="ignore")

    type: LiveEventType
    video_id: str | None = Field(default=None, description="The video (null in open and reset).")
    event: str | None = Field(
        default=None,
        description="The stream event behind a status or deleted frame (uploaded, ingested, transcribed, "
        "indexed, failed, deleted); null in the snapshot.",
    )
    status: Status | None = Field(default=None, description="The video's status (status frames).")
    stage: str | None = Field(
        default=None, description="The stage: of a progress frame, or the one that failed."
    )
    progress: float | None = Field(default=None, ge=0, le=100, description="Percent done (progress frames).")
    reason: str | None = Field(default=None, description="Why it failed (failed status), or why reset.")
    at: datetime = Field(default_factory=utcnow, description="When it happened (UTC).")

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)
