"""The ingest stage: ``vidsage.video.uploaded`` → thumbnail (and, when set to, audio) in S3 →
``vidsage.video.ingested``. The transcriber consumes the same upload side by side and decodes the
audio itself, so the thumbnail never delays the transcript.

The stage skeleton (:mod:`vidsage.stage`) does the rest: a redelivered message for a video that is
already ingested re-publishes the event (JetStream drops the duplicate within its window) and
changes nothing else; a video deleted while it was processed loses what was written here.
"""

from __future__ import annotations

import time
from pathlib import Path

from vidsage.bus import PermanentError
from vidsage.contracts import names
from vidsage.contracts.events import Event, VideoUploaded
from vidsage.contracts.record import VideoRecord
from vidsage.media import MediaError, VideoFormat
from vidsage.redrive import ingested_event
from vidsage.stage import Stage, StageOutput
from vidsage.workdirs import job_dir
from vidsage_ingest.process import IngestResult, process_video

STAGE = "ingest"


class IngestHandler(Stage[VideoUploaded, IngestResult]):
    stage = STAGE
    event_type = VideoUploaded

    async def work(self, event: VideoUploaded, record: VideoRecord) -> StageOutput[IngestResult]:
        rt, cfg = self.rt, self.rt.settings.ingest
        fmt = VideoFormat(event.format)
        timings: dict[str, float] = {}
        with job_dir("ingest", cfg.work_dir) as tmp:
            work = Path(tmp)
            source = work / f"{names.SOURCE_STEM}.{fmt.extension}"
            started = time.perf_counter()
            await rt.storage.download_file(event.source_key, source)
            timings["download"] = time.perf_counter() - started
            try:
                result = await rt.run_blocking(
                    process_video,
                    source,
                    fmt,
                    work,
                    thumbnail_width=cfg.thumbnail_width,
                    sample_rate=cfg.audio_sample_rate,
                    max_pixels=cfg.max_frame_pixels,
                    audio=cfg.extract_audio,
                    timings=timings,
                )
            except MediaError as exc:
                raise PermanentError(f"{exc.code}: {exc.message}") from exc
            started = time.perf_counter()
            objects = {"thumbnail": names.thumbnail_key(event.video_id)}
            await rt.storage.put_file(objects["thumbnail"], result.thumbnail, content_type="image/jpeg")
            if result.audio is not None:
                objects["audio"] = names.audio_key(event.video_id)
                await rt.storage.put_file(objects["audio"], result.audio, content_type="audio/wav")
            timings["write"] = time.perf_counter() - started

        p = result.probe
        return StageOutput(
            result,
            fields={
                "duration_s": round(p.duration_s, 3),
                "width": p.width,
                "height": p.height,
                "fps": p.fps,
                "video_codec": p.video_codec,
                "audio_codec": p.audio_codec,
                "has_audio": p.has_audio,
            },
            objects=objects,
            log={
                "duration_s": p.duration_s,
                "width": p.width,
                "height": p.height,
                "has_audio": p.has_audio,
                "thumbnail": result.thumbnail_size,
            },
            timings=timings,
        )

    async def done_event(self, record: VideoRecord, result: IngestResult | None) -> Event:
        return ingested_event(record)

    async def discard(self, event: VideoUploaded, output: StageOutput[IngestResult] | None) -> None:
        if output is not None:
            await self.rt.storage.delete_prefix(names.objects_prefix(event.video_id))
