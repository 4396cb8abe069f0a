"""The transcription endpoint's failure paths over real servers (nats-server, S3) with the gateway
in-process, the real ``openai`` client, and a real transcriber's job runner with the offline model:
a transcriber that dies mid-job (the job goes to another), no transcriber in time (504), a client
that leaves, a file over the size limit, a video without sound, and the sweep of leftovers. Every
path leaves no temporary object behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest

from tests.support.auth import ADMIN_KEY, bearer
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.media import make_video
from tests.support.paths import MODELS
from tests.support.speech import SCRIPTS, speech_wav, word_error_rate
from vidsage.contracts import names
from vidsage.runtime import Runtime, open_runtime
from vidsage.settings import Settings
from vidsage_gateway.openai_audio import sweep
from vidsage_transcriber.batching import Scheduler
from vidsage_transcriber.engine import Engine
from vidsage_transcriber.jobs import TranscriptionJobs, jobs_consumer_config

from .conftest import make_settings

pytestmark = [pytest.mark.timeout(120), pytest.mark.needs_espeak, pytest.mark.needs_whisper]


@pytest.fixture
def osettings(nats_server, s3_server) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings(
        nats_server.url,
        s3_server.endpoint,
        models_dir=str(MODELS),
        gateway={"transcription_timeout_s": 60, "max_upload_bytes": 1024 * 1024},
        transcriber={"jobs_ack_wait_s": 1.5, "fetch_timeout_s": 0.2},
    )


@pytest.fixture
async def gateway(osettings: Settings) -> AsyncIterator[RunningGateway]:
    async with running_gateway(osettings) as gw:
        yield gw


def client(gw: RunningGateway, **extra: object) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=ADMIN_KEY, max_retries=0, **extra)  # type: ignore[arg-type]


async def temporary_objects(rt: Runtime) -> list[str]:
    return [o.key for o in await rt.storage.list_objects(names.TRANSCRIPTIONS_PREFIX)]


@contextlib.asynccontextmanager
async def transcriber(settings: Settings, engine: Engine) -> AsyncIterator[TranscriptionJobs]:
    stop = asyncio.Event()
    async with (
        open_runtime("transcriber", settings, stop, wait_s=5) as rt,
        Scheduler(engine, rt.run_blocking) as scheduler,
    ):
        jobs = TranscriptionJobs(rt, scheduler)
        task = asyncio.create_task(jobs.run(stop))
        try:
            yield jobs
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


async def test_a_job_whose_transcriber_died_goes_to_another(
    gateway: RunningGateway, osettings: Settings, engine: Engine
) -> None:
    rt = gateway.rt
    await rt.js.add_consumer(names.JOBS_STREAM, jobs_consumer_config(osettings.transcriber))
    dead = await rt.js.pull_subscribe_bind(names.TRANSCRIBE_JOBS_CONSUMER, stream=names.JOBS_STREAM)
    async with client(gateway) as c:
        request = asyncio.create_task(
            c.audio.transcriptions.create(model="whisper-1", file=speech_wav("short"))
        )
        # a transcriber takes the job and dies: no answer, no ack, no heartbeat
        (taken,) = await dead.fetch(1, timeout=30)
        assert taken.metadata.num_delivered == 1
        await dead.unsubscribe()
        async with transcriber(osettings, engine) as jobs:
            result = await asyncio.wait_for(request, 60)
            assert jobs.done == 1
    assert word_error_rate(SCRIPTS["short"], result.text) < 0.25
    assert await temporary_objects(rt) == []
    info = await rt.js.stream_info(names.JOBS_STREAM)
    assert info.state.messages == 0  # acked: gone from the work queue


async def test_no_transcriber_in_time_is_504_and_the_late_job_is_dropped(
    nats_server,
    s3_server,
    engine: Engine,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(
        nats_server.url,
        s3_server.endpoint,
        models_dir=str(MODELS),
        gateway={"transcription_timeout_s": 1},
        transcriber={"fetch_timeout_s": 0.2},
    )
    async with running_gateway(settings) as gw, client(gw) as c:
        with pytest.raises(openai.APIStatusError) as caught:
            await c.audio.transcriptions.create(model="whisper-1", file=speech_wav("short"))
        assert caught.value.status_code == 504
        assert caught.value.body == {  # type: ignore[comparison-overlap]
            "message": "the transcription did not finish in time; try again",
            "type": "server_error",
            "param": None,
            "code": "transcription_timeout",
        }
        assert await temporary_objects(gw.rt) == []
        # a transcriber that comes later drops the job unanswered: nobody waits for it
        async with transcriber(settings, engine) as jobs:
            for _ in range(100):
                if (await gw.rt.js.stream_info(names.JOBS_STREAM)).state.messages == 0:
                    break
                await asyncio.sleep(0.1)
            assert (await gw.rt.js.stream_info(names.JOBS_STREAM)).state.messages == 0
            assert jobs.done == 0


async def test_a_client_that_leaves_leaves_nothing(gateway: RunningGateway) -> None:
    wav = speech_wav("short").read_bytes()
    form = aiohttp.FormData()
    form.add_field("model", "whisper-1")
    form.add_field("file", wav, filename="a.wav", content_type="audio/wav")
    async with aiohttp.ClientSession(headers=bearer(ADMIN_KEY)) as session:
        request = asyncio.create_task(session.post(f"{gateway.url}/v1/audio/transcriptions", data=form))
        for _ in range(200):  # the file is stored, the job waits for a transcriber
            if await temporary_objects(gateway.rt):
                break
            await asyncio.sleep(0.05)
        assert await temporary_objects(gateway.rt)
        request.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await request
    for _ in range(100):  # the gateway notices within a second
        if not await temporary_objects(gateway.rt):
            break
        await asyncio.sleep(0.1)
    assert await temporary_objects(gateway.rt) == []


async def test_over_the_size_limit_is_413(gateway: RunningGateway, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    head = speech_wav("short").read_bytes()[:4096]
    big.write_bytes(head + b"\0" * (1024 * 1024 + 1 - len(head)))
    async with client(gateway) as c:
        with pytest.raises(openai.APIStatusError) as caught:
            await c.audio.transcriptions.create(model="whisper-1", file=big)
    assert caught.value.status_code == 413
    assert caught.value.body["code"] == "too_large"  # type: ignore[index]
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert await temporary_objects(gateway.rt) == []


async def test_a_video_without_sound_is_a_bad_request(gateway: RunningGateway, tmp_path: Path) -> None:
    silent = make_video(tmp_path / "silent.mp4", "mp4", duration_s=1.0, audio=False)
    async with client(gateway) as c:
        with pytest.raises(openai.BadRequestError) as caught:
            await c.audio.transcriptions.create(model="whisper-1", file=silent)
    assert caught.value.body["code"] == "no_audio_stream"  # type: ignore[index]
    assert caught.value.body["param"] == "file"  # type: ignore[index]
    assert await temporary_objects(gateway.rt) == []


async def test_the_sweep_removes_old_leftovers_only(gateway: RunningGateway) -> None:
    rt = gateway.rt
    old = names.transcription_key("old-job", "wav")
    await rt.storage.put_bytes(old, b"left by a gateway that died", content_type="audio/wav")
    await rt.storage.put_bytes(names.source_key("v1", "mp4"), b"a library video", content_type="video/mp4")
    await asyncio.sleep(2.1)
    fresh = names.transcription_key("fresh-job", "wav")
    await rt.storage.put_bytes(fresh, b"a request in progress", content_type="audio/wav")
    assert await sweep(rt, max_age_s=2.0) == 1
    assert await temporary_objects(rt) == [fresh]
    assert await rt.storage.stat(names.source_key("v1", "mp4")) is not None
