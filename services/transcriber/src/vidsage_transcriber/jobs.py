"""Transcription jobs of the gateway's OpenAI-compatible endpoint (``POST /v1/audio/transcriptions``),
run beside the videos on the same loaded model and the same inference workers.

**Why a JetStream work queue, not core request-reply.** A job is a message on the work-queue stream
``VIDSAGE_JOBS`` (subject ``vidsage.jobs.transcribe``), taken by the durable pull consumer
``transcriber-jobs`` that every transcriber shares, and answered on the gateway's inbox named in
the job (:mod:`vidsage.contracts.transcription`):

- a transcriber *pulls* a job only when it has a free slot (``transcriber.jobs_concurrency``, also
  the consumer's ``max_ack_pending``): jobs go to the replicas that have room, where a queue group
  would hand them to a random replica however busy its inference workers are;
- a transcriber that dies mid-job stops its ``in_progress`` heartbeats, so the job goes to another
  replica after ``transcriber.jobs_ack_wait_s`` (``jobs_max_deliver`` = 2 deliveries in all); with
  request-reply the caller would only see a timeout;
- with no transcriber running (KEDA scaled the pool to zero) the job waits in the stream (its lag
  is visible to a scaler) instead of failing at once with "no responders";
- the requester's patience bounds everything: the job carries a ``deadline`` (the gateway's
  ``transcription_timeout_s``), a job taken after it is dropped unanswered, and one still running
  at it is abandoned. Nothing is ever retried after its requester stopped waiting, and the stream
  drops untaken jobs after 15 minutes.

A job reads the temporary object (``transcriptions/<job>/audio.<ext>``), decodes its audio
(:func:`vidsage.media.decode_audio`, the format sniffed by the gateway), goes through the VAD and
the :class:`~vidsage_transcriber.batching.Scheduler` with its own language, prompt, temperature and
word-timestamp options, and answers with the segments. A file that cannot be decoded is answered
with a 400 error at once; the gateway deletes the temporary object in every case (a job whose
object is already gone ended on the gateway's side: it is dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Literal

import nats.errors
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import api
from pydantic import ValidationError

from vidsage.contracts import names
from vidsage.contracts.transcription import JobError, ReplySegment, TranscriptionJob, TranscriptionReply
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.settings import TranscriberSettings
from vidsage.storage import ObjectNotFound
from vidsage.transient import is_transient
from vidsage.workdirs import job_dir
from vidsage_transcriber.batching import Scheduler
from vidsage_transcriber.engine import SAMPLE_RATE

log = get_logger("vidsage.transcriber.jobs")


class JobRefused(Exception):
    """The file cannot be transcribed (the request's fault): answered with a 400."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _JobGone(Exception):
    """The temporary object is gone: the request ended (answered, timed out, client left)."""


def jobs_consumer_config(cfg: TranscriberSettings) -> api.ConsumerConfig:
    """The shared durable consumer of the transcribers on the jobs stream."""
    return api.ConsumerConfig(
        durable_name=names.TRANSCRIBE_JOBS_CONSUMER,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=cfg.jobs_ack_wait_s,
        max_deliver=cfg.jobs_max_deliver,
        max_ack_pending=cfg.jobs_concurrency,
        filter_subject=names.TRANSCRIBE_JOB_SUBJECT,
    )


class TranscriptionJobs:
    """Takes transcription jobs from the jobs stream until ``stop``; finishes the ones it holds."""

    def __init__(self, rt: Runtime, scheduler: Scheduler) -> None:
        self.rt = rt
        self.scheduler = scheduler
        self.engine = scheduler.engine
        self.cfg = rt.settings.transcriber
        self.done = 0

    async def _consumer(self, stop: asyncio.Event) -> bool:
        """Create (or update) the jobs consumer; while the stream is missing (a provisioner from
        before the jobs stream, mid-upgrade), wait for it without holding up the video work."""
        logged = False
        while not stop.is_set():
            try:
                await self.rt.js.add_consumer(names.JOBS_STREAM, jobs_consumer_config(self.cfg))
                return True
            except nats.js.errors.NotFoundError:
                if not logged:
                    log.warning("jobs_stream_missing", stream=names.JOBS_STREAM, note="run the provisioner")
                    logged = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        js = self.rt.js
        if not await self._consumer(stop):
            return
        sub = await js.pull_subscribe_bind(names.TRANSCRIBE_JOBS_CONSUMER, stream=names.JOBS_STREAM)
        slots = asyncio.Semaphore(self.cfg.jobs_concurrency)
        tasks: set[asyncio.Task[None]] = set()
        log.info(
            "jobs_started", consumer=names.TRANSCRIBE_JOBS_CONSUMER, concurrency=self.cfg.jobs_concurrency
        )
        try:
            while not stop.is_set():
                await slots.acquire()
                msgs: list[Msg] = []
                if not stop.is_set():
                    try:
                        msgs = await sub.fetch(1, timeout=self.cfg.fetch_timeout_s)
                    except (TimeoutError, nats.errors.TimeoutError):
                        pass
                    except Exception as exc:  # bus trouble: keep the loop alive, back off a little
                        log.warning("jobs_fetch_failed", error=str(exc) or type(exc).__name__)
                        await asyncio.sleep(1)
                if not msgs:
                    slots.release()
                    continue
                task = asyncio.create_task(self._process(msgs[0], slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            log.info("jobs_stopped", done=self.done)

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(max(self.cfg.jobs_ack_wait_s / 3, 0.5))
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _process(self, msg: Msg, slots: asyncio.Semaphore) -> None:
        try:
            await self._settle(msg)
        except Exception as exc:  # ack/term/publish failed (bus gone): JetStream redelivers, or not
            log.error("job_settle_failed", error=str(exc) or type(exc).__name__)
        finally:
            slots.release()

    async def _settle(self, msg: Msg) -> None:
        try:
            job = TranscriptionJob.model_validate_json(msg.data)
        except ValidationError as exc:
            log.error("job_malformed", errors=exc.error_count())
            await msg.term()
            return
        attempt = msg.metadata.num_delivered or 1
        structlog.contextvars.bind_contextvars(job_id=job.job_id, owner=job.owner, attempt=attempt)
        left = job.deadline - time.time()
        if left <= 0:
            log.info("job_expired")  # nobody waits for it any more
            await msg.term()
            return
        started = time.perf_counter()
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        try:
            reply = await asyncio.wait_for(self._transcribe(job), timeout=left)
        except TimeoutError:
            log.warning("job_abandoned_at_deadline")
            await msg.term()
            return
        except _JobGone:
            log.info("job_dropped_object_gone")
            await msg.term()
            return
        except JobRefused as exc:
            reply = TranscriptionReply(
                job_id=job.job_id, error=JobError(code=exc.code, message=exc.message, status=400)
            )
        except Exception as exc:
            if attempt < self.cfg.jobs_max_deliver and is_transient(exc):
                log.warning("job_failed_will_retry", error=f"{type(exc).__name__}: {exc}")
                await msg.nak(delay=1)
                return
            log.error("job_failed", error=f"{type(exc).__name__}: {exc}")
            status: Literal[500, 503] = 503 if is_transient(exc) else 500
            reply = TranscriptionReply(
                job_id=job.job_id,
                error=JobError(
                    code="transcription_failed", message="the transcription failed", status=status
                ),
            )
        finally:
            heartbeat.cancel()
        await self.rt.nc.publish(job.reply_to, reply.model_dump_json().encode())
        await msg.ack()
        self.done += 1
        log.info(
            "job_done",
            error=reply.error.code if reply.error else None,
            segments=len(reply.segments),
            audio_s=round(reply.duration_s, 1),
            seconds=round(time.perf_counter() - started, 2),
        )

    async def _transcribe(self, job: TranscriptionJob) -> TranscriptionReply:
        # imported here: PyAV and NumPy load while the process starts, not before it connects
        from vidsage.media import MediaError, decode_audio, media_format

        try:
            fmt = media_format(job.format)
        except ValueError:
            raise JobRefused("unsupported_type", f"unsupported file type {job.format!r}") from None
        with job_dir("transcriber", self.cfg.work_dir) as tmp:
            path = Path(tmp) / f"audio.{fmt.extension}"
            try:
                await self.rt.storage.download_file(job.object_key, path)
            except ObjectNotFound:
                raise _JobGone from None
            try:
                audio = await self.rt.run_blocking(decode_audio, path, fmt, sample_rate=SAMPLE_RATE)
            except MediaError as exc:
                raise JobRefused(exc.code, exc.message) from exc
        if audio is None:
            raise JobRefused("no_audio_stream", "the file contains no audio stream")
        duration = len(audio) / SAMPLE_RATE
        segments: list[ReplySegment] = []
        language = job.language
        if len(audio):
            plan = await self.rt.run_blocking(
                self.engine.prepare,
                audio,
                language=job.language,
                prompt=job.prompt,
                temperature=job.temperature,
                word_timestamps=job.word_timestamps,
            )
            result = await self.scheduler.transcribe(plan)
            language = result.language
            segments = [
                ReplySegment(**segment.model_dump(), **details, temperature=job.temperature)
                for segment, details in zip(result.segments, result.details, strict=True)
            ]
        return TranscriptionReply(
            job_id=job.job_id,
            language=language,
            duration_s=round(duration, 3),
            model=self.engine.model_name,
            segments=segments,
        )
