"""The transcribe stage: ``vidsage.video.uploaded`` → transcript artifacts → ``transcribed``.

The transcriber starts from the upload, side by side with ingest (the thumbnail does not gate the
transcript): it downloads the source once, decodes its audio once, in memory
(:func:`vidsage.media.decode_audio`, no WAV through S3), runs the VAD once, then hands the windows
to the :class:`~vidsage_transcriber.batching.Scheduler`.

- A video without audio (known from the upload's probe) gets an empty transcript without a
  download; silence gives an empty transcript too. Neither is a failure.
- Progress (percent of audio done) goes to ``vidsage.progress.<video_id>`` and, throttled, to the
  record's ``stages.transcribe.progress`` so ``GET /status`` shows it.
- Seconds per step (download, decode, VAD, features, queue, encoder, language, decoder, alignment,
  word rules, writes) go to ``stages.transcribe.timings`` and the ``transcribe_done`` log line.
- Idempotent: artifacts have fixed keys, and the stage skeleton (:mod:`vidsage.stage`) makes the
  transition compare-and-set and a redelivery of a transcribed video only re-publish the
  (deduplicated) event.
- A source whose audio cannot be decoded fails the video at once (the upload's probe passed, so
  it never will decode); other errors are retried, and fail the video after ``max_deliver``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from vidsage.bus import PermanentError
from vidsage.contracts import names
from vidsage.contracts.events import Event, Progress, VideoUploaded, utcnow
from vidsage.contracts.record import StageState, VideoRecord
from vidsage.contracts.transcript import RENDERERS, Transcript, normalize_segments, split_long_segments
from vidsage.logging import get_logger
from vidsage.redrive import transcribed_event
from vidsage.runtime import Runtime
from vidsage.stage import Stage, StageOutput
from vidsage.workdirs import job_dir
from vidsage_transcriber.batching import Scheduler
from vidsage_transcriber.engine import SAMPLE_RATE, Result

log = get_logger("vidsage.transcriber")

STAGE = "transcribe"
_CONTENT_TYPES = {"transcript": "application/json", "srt": "application/x-subrip", "vtt": "text/vtt"}


class ProgressReporter:
    """Carries percent-done from the inference workers to the bus and the record, throttled."""

    def __init__(self, rt: Runtime, owner: str, video_id: str, interval_s: float) -> None:
        self._rt = rt
        self._owner = owner
        self._video_id = video_id
        self._interval = interval_s
        self._loop = asyncio.get_running_loop()
        self._latest = 0.0
        self._sent = -1.0
        self._highest = -1.0
        """The highest percent published: progress never goes back (the final 100 % is published
        directly, and the loop may wake after it with an older value)."""
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def update(self, percent: float) -> None:
        """Thread-safe: called as windows are decoded."""
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
        if message.percent <= self._highest:
            return
        self._highest = message.percent
        await self._send(message)

    async def _send(self, message: Progress) -> None:
        await self._rt.nc.publish(message.subject, message.model_dump_json().encode())

        def change(r: VideoRecord) -> VideoRecord | None:
            stage = r.stages[STAGE]
            if stage.state != "running" or (stage.progress or 0) >= message.percent:
                return None
            stages = {**r.stages, STAGE: StageState(**{**stage.model_dump(), "progress": message.percent})}
            return r.model_copy(update={"stages": stages, "updated_at": utcnow()})

        await self._rt.catalog.update(self._owner, self._video_id, change)


def _bodies(transcript: Transcript) -> dict[str, bytes]:
    """The stored objects' bytes (JSON, SRT, VTT): CPU work for a long transcript, off the event loop."""
    return {
        "transcript": transcript.to_bytes(),
        "srt": RENDERERS["srt"](transcript).encode(),
        "vtt": RENDERERS["vtt"](transcript).encode(),
    }


class TranscribeHandler(Stage[VideoUploaded, int]):
    """The stage's result is the transcript's segment count."""

    stage = STAGE
    event_type = VideoUploaded

    def __init__(self, rt: Runtime, scheduler: Scheduler) -> None:
        super().__init__(rt)
        self.scheduler = scheduler
        self.engine = scheduler.engine
        self.cfg = rt.settings.transcriber

    async def work(self, event: VideoUploaded, record: VideoRecord) -> StageOutput[int]:
        timings: dict[str, float] = {}
        result = await self._transcribe(event, record, timings)
        timings.update(result.timings)
        transcript = Transcript(
            video_id=event.video_id,
            language=result.language,
            language_probability=result.language_probability,
            duration_s=round(result.duration_s, 3) if result.duration_s else event.duration_s,
            model=self.engine.model_name,
            segments=normalize_segments(
                split_long_segments(result.segments, max_duration_s=self.cfg.max_segment_s),
                result.duration_s or event.duration_s,
            ),
            created_at=utcnow(),
        )
        objects = names.transcript_keys(event.video_id)
        started = time.perf_counter()
        bodies = await self.rt.run_blocking(_bodies, transcript)
        await asyncio.gather(
            *(
                self.rt.storage.put_bytes(key, bodies[kind], content_type=_CONTENT_TYPES[kind])
                for kind, key in objects.items()
            )
        )
        timings["write"] = time.perf_counter() - started
        return StageOutput(
            len(transcript.segments),
            fields={"language": transcript.language},
            objects=objects,
            log={
                "language": transcript.language,
                "segments": len(transcript.segments),
                "audio_s": round(result.duration_s, 1),
            },
            timings=timings,
        )

    async def done_event(self, record: VideoRecord, result: int | None) -> Event:
        if result is None:  # a redelivery: count the stored transcript's segments
            stored = Transcript.from_bytes(await self.rt.storage.get_bytes(record.objects["transcript"]))
            result = len(stored.segments)
        return transcribed_event(record, result)

    async def discard(self, event: VideoUploaded, output: StageOutput[int] | None) -> None:
        for key in output.objects.values() if output is not None else ():
            with contextlib.suppress(Exception):
                await self.rt.storage.delete(key)

    async def _transcribe(
        self, event: VideoUploaded, record: VideoRecord, timings: dict[str, float]
    ) -> Result:
        # imported here: PyAV and NumPy load while the process starts, not before it connects
        from vidsage.media import MediaError, VideoFormat, decode_audio

        if record.has_audio is False:  # the upload's probe found no audio stream
            log.info("transcribe_no_audio")
            return Result(None, None, 0.0, [])
        fmt = VideoFormat(event.format)
        with job_dir("transcriber", self.cfg.work_dir) as tmp:
            source = Path(tmp) / f"{names.SOURCE_STEM}.{fmt.extension}"
            started = time.perf_counter()
            await self.rt.storage.download_file(event.source_key, source)
            downloaded = time.perf_counter()
            try:
                audio = await self.rt.run_blocking(decode_audio, source, fmt, sample_rate=SAMPLE_RATE)
            except MediaError as exc:
                raise PermanentError(f"{exc.code}: {exc.message}") from exc
            timings["download"] = downloaded - started
            timings["decode"] = time.perf_counter() - downloaded
        if audio is None or not len(audio):
            log.info("transcribe_no_audio")
            return Result(None, None, 0.0, [])
        plan = await self.rt.run_blocking(self.engine.prepare, audio)
        async with ProgressReporter(
            self.rt, event.owner, event.video_id, self.cfg.progress_interval_s
        ) as progress:
            result = await self.scheduler.transcribe(plan, progress.update)
            await progress.publish(100.0)
        return result
