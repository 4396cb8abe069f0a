"""Re-drive a video into a stage: rebuild the event that stage consumes from the record and publish
it again, under a ``Nats-Msg-Id`` of its own (the original one may still be in JetStream's
de-duplication window, which would drop it).

Used by the retry route (``POST /api/videos/<id>/retry``: re-run a failed video from its failed
stage) and by the reconciler (:mod:`vidsage.reconcile`: a record stuck with no live work). The
stage handlers are idempotent, so a re-drive of a video whose job is in fact still alive costs
only a second, harmless delivery.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from vidsage.bus import publish_event
from vidsage.contracts.events import Event, VideoIngested, VideoTranscribed, VideoUploaded
from vidsage.contracts.record import STAGES, VideoRecord
from vidsage.contracts.transcript import Transcript
from vidsage.storage import Storage


def uploaded_event(record: VideoRecord) -> VideoUploaded:
    return VideoUploaded(
        video_id=record.id,
        owner=record.owner,
        source_key=record.objects["source"],
        filename=record.filename,
        size=record.size,
        mime=record.mime,
        format=record.format,
        duration_s=record.duration_s,
    )


def ingested_event(record: VideoRecord) -> VideoIngested:
    return VideoIngested(
        video_id=record.id,
        owner=record.owner,
        source_key=record.objects["source"],
        thumbnail_key=record.objects["thumbnail"],
        audio_key=record.objects.get("audio"),
        duration_s=record.duration_s,
        width=record.width or 1,
        height=record.height or 1,
        fps=record.fps,
        video_codec=record.video_codec or "unknown",
        audio_codec=record.audio_codec,
        has_audio=bool(record.has_audio),
    )


def transcribed_event(record: VideoRecord, segment_count: int) -> VideoTranscribed:
    return VideoTranscribed(
        video_id=record.id,
        owner=record.owner,
        transcript_key=record.objects["transcript"],
        srt_key=record.objects["srt"],
        vtt_key=record.objects["vtt"],
        language=record.language,
        segment_count=segment_count,
        duration_s=record.duration_s,
    )


async def stage_input(storage: Storage, record: VideoRecord, stage: str) -> Event:
    """The event ``stage`` consumes, rebuilt from the record (and, for ``index``, the stored
    transcript's segment count). Raises ``KeyError`` when the record lacks an object the event
    names (the previous stage never finished)."""
    if stage in ("ingest", "transcribe"):  # the transcriber starts from the upload, beside ingest
        return uploaded_event(record)
    if stage == "index":
        transcript = Transcript.from_bytes(await storage.get_bytes(record.objects["transcript"]))
        return transcribed_event(record, len(transcript.segments))
    raise ValueError(f"unknown stage {stage!r}")


async def redrive(js: JetStreamContext, storage: Storage, record: VideoRecord, stage: str, tag: str) -> Event:
    """Publish ``stage``'s input event for ``record`` again with ``Nats-Msg-Id``
    ``<video_id>:<event>:<tag>``: the same tag is de-duplicated (two reconcilers that saw the same
    revision), a new one is not."""
    event = await stage_input(storage, record, stage)
    await _publish(js, event, tag)
    return event


async def _publish(js: JetStreamContext, event: Event, tag: str) -> None:
    await publish_event(js, event, msg_id=f"{event.msg_id}:{tag}")


async def redrive_awaited(
    js: JetStreamContext, storage: Storage, record: VideoRecord, tag: str
) -> list[Event]:
    """:func:`redrive` every stage ``record`` waits for (:meth:`VideoRecord.awaits`), each input
    event once: after a rewind, ingest and transcribe may both wait for the one ``uploaded``."""
    events: dict[str, Event] = {}
    for stage in STAGES:
        if record.awaits(stage):
            event = await stage_input(storage, record, stage)
            events.setdefault(event.type, event)
    for event in events.values():
        await _publish(js, event, tag)
    return list(events.values())
