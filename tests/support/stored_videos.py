"""A video part-way through the pipeline, written straight to S3, the catalog and JetStream: what
one stage leaves behind for the next. Used by the integration tests and the benchmarks.

Import as ``from tests.support.stored_videos import ...``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from vidsage.bus import publish_event
from vidsage.contracts import names
from vidsage.contracts.events import VideoTranscribed
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord
from vidsage.contracts.transcript import Segment, Transcript
from vidsage.media import VideoFormat, probe
from vidsage.redrive import uploaded_event
from vidsage.runtime import Runtime
from vidsage_gateway.intake import video_record


async def put_transcript(
    rt: Runtime,
    video_id: str,
    segments: list[Segment],
    *,
    duration_s: float | None = None,
    language_probability: float = 1.0,
) -> tuple[str, Transcript]:
    """Store ``transcript.json`` (English, Whisper base) for ``video_id``; its key and the transcript.
    The duration defaults to the end of the last segment."""
    key = f"videos/{video_id}/transcript.json"
    transcript = Transcript(
        video_id=video_id,
        language="en",
        language_probability=language_probability,
        duration_s=max((s.end for s in segments), default=0.0) if duration_s is None else duration_s,
        model="whisper-base",
        segments=segments,
        created_at="2026-11-24T00:00:00Z",  # type: ignore[arg-type]
    )
    await rt.storage.put_bytes(key, transcript.to_bytes(), content_type="application/json")
    return key, transcript


async def with_transcript(
    rt: Runtime,
    segments: list[Segment],
    filename: str,
    *,
    owner: str = "local",
    status: Status = Status.READY,
    size: int = 1,
    duration_s: float | None = None,
    language_probability: float = 1.0,
) -> str:
    """A video whose record already has ``status`` and a stored transcript (what chat reads); its id."""
    vid = new_id()
    key, transcript = await put_transcript(
        rt, vid, segments, duration_s=duration_s, language_probability=language_probability
    )
    await rt.catalog.create(
        VideoRecord(
            id=vid,
            owner=owner,
            filename=filename,
            size=size,
            mime="video/mp4",
            format="mp4",
            duration_s=transcript.duration_s,
            status=status,
            objects={"transcript": key},
        )
    )
    return vid


async def transcribed(
    rt: Runtime, segments: list[Segment], filename: str, owner: str = "local", *, announce: bool = True
) -> VideoRecord:
    """What the transcriber leaves behind: transcript.json, a transcribed record and (unless
    ``announce`` is false: call :func:`announce_transcribed` later) the event."""
    vid = new_id()
    key, transcript = await put_transcript(rt, vid, segments)
    record = VideoRecord(
        id=vid,
        owner=owner,
        filename=filename,
        size=1,
        mime="video/mp4",
        format="mp4",
        duration_s=transcript.duration_s,
        objects={"transcript": key, "srt": "s", "vtt": "v"},
    )
    record = record.begin("ingest", 1).finish("ingest").begin("transcribe", 1).finish("transcribe")  # type: ignore[union-attr]
    await rt.catalog.create(record)
    if announce:
        await announce_transcribed(rt, record, len(segments))
    return record


async def announce_transcribed(rt: Runtime, record: VideoRecord, segment_count: int) -> None:
    """Publish ``vidsage.video.transcribed`` for a record made by :func:`transcribed`."""
    await publish_event(
        rt.js,
        VideoTranscribed(
            video_id=record.id,
            owner=record.owner,
            transcript_key=record.objects["transcript"],
            srt_key="s",
            vtt_key="v",
            language="en",
            segment_count=segment_count,
            duration_s=record.duration_s,
        ),
    )


async def uploaded(
    rt: Runtime,
    video: Path,
    *,
    owner: str = "t",
    ingest_done: bool = True,
    source: bytes | None = None,
) -> VideoRecord:
    """What the gateway leaves behind for a real video file: the source object, a record with the
    upload's probe (duration, size, ``has_audio``...) and ``vidsage.video.uploaded``.

    ``ingest_done``: the record also shows ingest finished (a thumbnail key), as when ingest beat
    the transcriber to it, so a test of the transcriber alone sees the statuses of the whole
    pipeline. ``source``: store these bytes instead of the file (a corrupt upload).
    """
    fmt = VideoFormat(video.suffix.lstrip("."))
    info = probe(video, fmt)
    video_id = new_id()
    key = names.source_key(video_id, fmt.extension)
    if source is None:
        await rt.storage.put_file(key, video, content_type=fmt.mime)
    else:
        await rt.storage.put_bytes(key, source, content_type=fmt.mime)
    record = video_record(video_id, owner, video.name, video.stat().st_size, fmt, info, key)
    if ingest_done:
        record = record.begin("ingest", 1).finish(  # type: ignore[union-attr]
            "ingest", objects={**record.objects, "thumbnail": names.thumbnail_key(video_id)}
        )
        assert record is not None
    await rt.catalog.create(record)
    await publish_event(rt.js, uploaded_event(record))
    return record


async def wait_status(
    rt: Runtime, video: VideoRecord, *statuses: Status, seconds: float = 60, every_s: float = 0.05
) -> VideoRecord:
    """Poll ``video``'s record (under its owner) until it reaches one of ``statuses``."""
    for _ in range(int(seconds / every_s)):
        record = await rt.catalog.get(video.owner, video.id)
        assert record is not None
        if record.status in statuses:
            return record
        await asyncio.sleep(every_s)
    raise AssertionError(f"status stuck at {record.status}")


async def wait_ready(rt: Runtime, video: VideoRecord) -> VideoRecord:
    """The record once indexing is over: ``ready`` or ``failed`` (30 s at most)."""
    return await wait_status(rt, video, Status.READY, Status.FAILED, seconds=30)
