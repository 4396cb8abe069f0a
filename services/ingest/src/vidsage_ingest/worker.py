"""The ingest handler: ``vidsage.video.uploaded`` → artifacts in S3 → ``vidsage.video.ingested``.

Idempotent: a redelivered message for a video that is already ingested re-publishes the event
(JetStream drops the duplicate within its window) and changes nothing else.
"""

from __future__ import annotations

import asyncio
import tempfile
from functools import partial
from pathlib import Path

from vidsage.bus import PermanentError, publish_event
from vidsage.contracts.events import Event, VideoIngested, VideoUploaded
from vidsage.contracts.record import Status, VideoRecord
from vidsage.logging import get_logger
from vidsage.media import MediaError, VideoFormat
from vidsage.runtime import Runtime
from vidsage_ingest.process import process_video

log = get_logger("vidsage.ingest")

STAGE = "ingest"


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


class IngestHandler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg = rt.settings.ingest

    async def __call__(self, event: Event, attempt: int) -> None:
        assert isinstance(event, VideoUploaded)
        rt = self.rt
        record, proceed = await rt.begin_stage(event.video_id, STAGE, attempt)
        if not proceed:
            if record is not None and record.stages[STAGE].state == "done":
                await publish_event(rt.js, ingested_event(record))
            return

        fmt = VideoFormat(event.format)
        prefix = f"videos/{event.video_id}/"
        with tempfile.TemporaryDirectory(prefix="vidsage-ingest-", dir=self.cfg.work_dir) as tmp:
            work = Path(tmp)
            source = work / f"source.{fmt.extension}"
            await rt.storage.download_file(event.source_key, source)
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(
                    None,
                    partial(
                        process_video,
                        source,
                        fmt,
                        work,
                        thumbnail_width=self.cfg.thumbnail_width,
                        sample_rate=self.cfg.audio_sample_rate,
                    ),
                )
            except MediaError as exc:
                raise PermanentError(f"{exc.code}: {exc.message}") from exc
            objects = {"thumbnail": prefix + "thumbnail.jpg"}
            await rt.storage.put_file(objects["thumbnail"], result.thumbnail, content_type="image/jpeg")
            if result.audio is not None:
                objects["audio"] = prefix + "audio.wav"
                await rt.storage.put_file(objects["audio"], result.audio, content_type="audio/wav")

        p = result.probe

        def finish(r: VideoRecord) -> VideoRecord | None:
            return r.finish(
                STAGE,
                duration_s=round(p.duration_s, 3),
                width=p.width,
                height=p.height,
                fps=p.fps,
                video_codec=p.video_codec,
                audio_codec=p.audio_codec,
                has_audio=p.has_audio,
                objects={**r.objects, **objects},
            )

        record, changed = await rt.catalog.update(event.video_id, finish)
        if record is None:
            # Deleted while we worked: remove what we wrote (the delete's sweep may have run already).
            await rt.storage.delete_prefix(prefix)
            log.info("ingest_discarded_deleted")
            return
        if record.status is Status.FAILED:
            return
        await publish_event(rt.js, ingested_event(record))
        log.info(
            "ingest_done",
            duration_s=p.duration_s,
            width=p.width,
            height=p.height,
            has_audio=p.has_audio,
            thumbnail=result.thumbnail_size,
            changed=changed,
        )
