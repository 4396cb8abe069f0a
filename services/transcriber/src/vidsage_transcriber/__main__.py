"""``python -m vidsage_transcriber``: consume ``vidsage.video.uploaded`` until SIGTERM/SIGINT.

Cold start, ordered so that the first transcript comes soonest: the model (faster-whisper's
import, the CTranslate2 replicas, the VAD session) starts loading in a thread at once, while NATS,
S3 and the consumer are opened; the worker then fetches without waiting for the model, so the
first job's download and audio decoding overlap the load (its VAD waits for it). The model loads
once per process, never per job. A missing model is a startup error that names the setting to
change, raised before anything is opened; a model that fails to load stops the worker (a job it
holds goes back to the queue) and exits with code 2. The heartbeat (readiness) starts once the
model is loaded. Transcription jobs of the OpenAI-compatible endpoint are taken beside the videos
(:mod:`vidsage_transcriber.jobs`), on the same model. SIGTERM stops fetching, finishes the jobs in
flight, then exits. Job folders a killed predecessor left in the temp dir are removed first
(:mod:`vidsage.workdirs`).
"""

from __future__ import annotations

import asyncio

from vidsage.runtime import open_runtime, run_worker, service_main
from vidsage.settings import Settings
from vidsage.workdirs import clean_stale
from vidsage_transcriber.batching import Scheduler
from vidsage_transcriber.engine import Engine
from vidsage_transcriber.jobs import TranscriptionJobs
from vidsage_transcriber.worker import STAGE, TranscribeHandler


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    clean_stale("transcriber", settings.transcriber.work_dir)
    engine = Engine(settings.transcriber, settings.models_dir)  # a missing model fails here
    async with (
        open_runtime(
            "transcriber", settings, stop, worker=settings.transcriber, ready=False, preload=engine.load
        ) as rt,
        Scheduler(engine, rt.run_blocking) as scheduler,
    ):
        worker = asyncio.create_task(
            run_worker(rt, STAGE, TranscribeHandler(rt, scheduler), settings.transcriber)
        )
        jobs = asyncio.create_task(TranscriptionJobs(rt, scheduler).run(stop))  # /v1/audio/transcriptions
        try:
            assert rt.preloaded is not None
            await rt.preloaded
        except BaseException:
            stop.set()  # no model: take no more work, let the job held go back to the queue
            await asyncio.gather(worker, jobs, return_exceptions=True)
            raise
        rt.ready()
        await asyncio.gather(worker, jobs)


def main() -> int:
    return service_main("transcriber", serve)


if __name__ == "__main__":
    raise SystemExit(main())
