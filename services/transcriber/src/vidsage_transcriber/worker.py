"""The transcribe stage: ``vidsage.video.ingested`` → transcript artifacts → ``transcribed``.

- A video without audio gets an empty transcript and proceeds (not a failure).
- Progress (percent of audio done) goes to ``vidsage.progress.<video_id>`` and, throttled, to the
  record's ``stages.transcribe.progress`` so ``GET /status`` shows it.
- Idempotent: artifacts have fixed keys, and the stage skeleton (:mod:`vidsage.stage`) makes the
  transition compare-and-set and a redelivery of a transcribed video only re-publish the
  (deduplicated) event.
- A corrupt audio object raises; the worker retries it and fails the video after ``max_deliver``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from vidsage.contracts import names
from vidsage.contracts.events import Event, Progress, VideoIngested, utcnow
from vidsage.contracts.record import StageState, Status, VideoRecord
from vidsage.contracts.transcript import RENDERERS, Transcript, normalize_segments, split_long_segments
from vidsage.logging import get_logger
from vidsage.redrive import transcribed_event
from vidsage.runtime import Runtime
from vidsage.stage import Stage, StageOutput
from vidsage.workdirs import job_dir
from vidsage_transcriber.engine import Engine, Result

log = get_logger("vidsage.transcriber")

STAGE = "transcribe"
_CONTENT_TYPES = {"transcript": "application/json", "srt": "application/x-subrip", "vtt": "text/vtt"}


class ProgressReporter:
    """Carries percent-done from the inference thread to the bus and the record, throttled."""

    def __init__(self, rt: Runtime, owner: str, video_id: str, interval_s: float) -> None:
        self._rt = rt
        self._owner = owner
        self._video_id = video_id
        self._interval = interval_s
        self._loop = asyncio.get_running_loop()
        self._latest = 0.0
        self._sent = -1.0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def update(self, percent: float) -> None:
        """Thread-safe: called from the executor for every finished segment."""
        self._loop.call_soon_threadsafe(self._set, percent)

    def _set(self, percent: float) -> None:
        self._latest = max(self._latest, percent)

    async def __aenter__(self) -> ProgressReporter:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        # The flag, not only the cancel, ends the loop: on Python 3.11 a cancel that lands as a
        # NATS reply arrives can be lost inside asyncio.wait_for, and the best-effort publish
        # below swallows what it turns into; the loop would then never end (a job hung at 100 %).
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._interval)
            if self._closed:
                return
            if self._latest != self._sent:
                self._sent = self._latest
                with contextlib.suppress(Exception):  # progress is best effort
                    await self.publish(self._sent)

    async def publish(self, percent: float) -> None:
        message = Progress(video_id=self._video_id, stage=STAGE, percent=round(percent, 1))
        await self._rt.nc.publish(message.subject, message.model_dump_json().encode())

        def change(r: VideoRecord) -> VideoRecord | None:
            stage = r.stages[STAGE]
            if r.status is not Status.TRANSCRIBING or (stage.progress or 0) >= message.percent:
                return None
            stages = {**r.stages, STAGE: StageState(**{**stage.model_dump(), "progress": message.percent})}
            return r.model_copy(update={"stages": stages, "updated_at": utcnow()})

        await self._rt.catalog.update(self._owner, self._video_id, change)


class TranscribeHandler(Stage[VideoIngested, int]):
    """The stage's result is the transcript's segment count."""

    stage = STAGE
    event_type = VideoIngested

    def __init__(self, rt: Runtime, engine: Engine) -> None:
        super().__init__(rt)
        self.engine = engine
        self.cfg = rt.settings.transcriber

    async def work(self, event: VideoIngested, record: VideoRecord) -> StageOutput[int]:
        result = await self._transcribe(event)
        transcript = Transcript(
            video_id=event.video_id,
            language=result.language,
            language_probability=result.language_probability,
            duration_s=round(max(result.duration_s, 0.0), 3) if event.audio_key else event.duration_s,
            model=self.engine.model_name,
            segments=normalize_segments(
                split_long_segments(result.segments, max_duration_s=self.cfg.max_segment_s),
                result.duration_s or event.duration_s,
            ),
            created_at=utcnow(),
        )
        objects = names.transcript_keys(event.video_id)
        bodies = {
            "transcript": transcript.to_bytes(),
            "srt": RENDERERS["srt"](transcript).encode(),
            "vtt": RENDERERS["vtt"](transcript).encode(),
        }
        for kind, key in objects.items():
            await self.rt.storage.put_bytes(key, bodies[kind], content_type=_CONTENT_TYPES[kind])
        return StageOutput(
            len(transcript.segments),
            fields={"language": transcript.language},
            objects=objects,
            log={
                "language": transcript.language,
                "segments": len(transcript.segments),
                "audio_s": round(result.duration_s, 1),
            },
        )

    async def done_event(self, record: VideoRecord, result: int | None) -> Event:
        if result is None:  # a redelivery: count the stored transcript's segments
            stored = Transcript.from_bytes(await self.rt.storage.get_bytes(record.objects["transcript"]))
            result = len(stored.segments)
        return transcribed_event(record, result)

    async def discard(self, event: VideoIngested, output: StageOutput[int] | None) -> None:
        for key in output.objects.values() if output is not None else ():
            with contextlib.suppress(Exception):
                await self.rt.storage.delete(key)

    async def _transcribe(self, event: VideoIngested) -> Result:
        if not event.audio_key:
            log.info("transcribe_no_audio")
            return Result(None, None, 0.0, [])
        with job_dir("transcriber") as tmp:
            audio = Path(tmp) / names.AUDIO_FILE
            await self.rt.storage.download_file(event.audio_key, audio)
            async with ProgressReporter(
                self.rt, event.owner, event.video_id, self.cfg.progress_interval_s
            ) as progress:
                result = await self.rt.run_blocking(self.engine.transcribe, audio, progress.update)
                await progress.publish(100.0)
        return result
