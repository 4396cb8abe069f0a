"""The transcriber over real servers with the real offline Whisper model and real speech
(espeak-ng): transcript quality, artifacts, empty audio, corrupt audio, redelivery, and the
process surviving SIGKILL and draining on SIGTERM."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import srt
import webvtt

from tests.support.env import service_env
from tests.support.paths import MODELS
from tests.support.speech import SCRIPTS, make_silent_video, speech_wav, word_error_rate
from tests.support.stored_videos import ingested, wait_status
from vidsage.contracts.events import VideoIngested
from vidsage.contracts.record import Status, VideoRecord
from vidsage.contracts.transcript import Transcript
from vidsage.media import VideoFormat, extract_audio
from vidsage.runtime import Runtime, open_runtime, run_worker
from vidsage.settings import Settings
from vidsage_transcriber.engine import Engine
from vidsage_transcriber.worker import STAGE, TranscribeHandler

from .conftest import make_settings

# espeak-ng's synthetic voice through Whisper base int8; measured well below this (see README).
WER_BOUND = 0.25

pytestmark = [pytest.mark.needs_espeak, pytest.mark.needs_whisper]


@pytest.fixture(scope="module")
def engine() -> Engine:
    settings = Settings(_env_file=None, models_dir=MODELS)
    e = Engine(settings.transcriber, settings.models_dir)
    e.load()
    return e


@pytest.fixture
def tsettings(nats_server, s3_server) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings(
        nats_server.url,
        s3_server.endpoint,
        models_dir=str(MODELS),
        transcriber={"max_deliver": 2, "backoff_s": 0.2, "ack_wait_s": 30, "progress_interval_s": 0.2},
    )


@pytest.fixture
async def transcriber(tsettings: Settings, engine: Engine) -> AsyncIterator[Runtime]:
    stop = asyncio.Event()
    async with open_runtime("transcriber", tsettings, stop, worker=tsettings.transcriber, wait_s=5) as rt:
        task = asyncio.create_task(
            run_worker(rt, STAGE, TranscribeHandler(rt, engine), tsettings.transcriber)
        )
        yield rt
        stop.set()
        await asyncio.wait_for(task, 60)


async def transcribed_events(rt: Runtime) -> int:
    info = await rt.js.stream_info("VIDSAGE", subjects_filter="vidsage.video.transcribed")
    return (info.state.subjects or {}).get("vidsage.video.transcribed", 0)


@pytest.mark.timeout(180)
async def test_speech_becomes_a_timestamped_transcript(transcriber: Runtime, tmp_path: Path) -> None:
    wav = speech_wav("short")
    record = await ingested(transcriber, wav, 14.0)
    progress: list[float] = []

    async def on_progress(msg) -> None:  # type: ignore[no-untyped-def]
        import json

        progress.append(json.loads(msg.data)["percent"])

    await transcriber.nc.subscribe(f"vidsage.progress.{record.id}", cb=on_progress)
    done = await wait_status(transcriber, record, Status.TRANSCRIBED, Status.FAILED)
    assert done.status is Status.TRANSCRIBED, done.error
    assert done.language == "en"
    assert done.stages["transcribe"].state == "done"

    t = Transcript.from_bytes(await transcriber.storage.get_bytes(done.objects["transcript"]))
    wer = word_error_rate(SCRIPTS["short"], t.text)
    assert wer < WER_BOUND, (wer, t.text)
    assert t.segments, "no segments"
    starts = [s.start for s in t.segments]
    assert starts == sorted(starts)
    assert all(0 <= s.start <= s.end <= t.duration_s + 0.01 for s in t.segments)
    assert [s.id for s in t.segments] == list(range(len(t.segments)))
    words = [w for s in t.segments for w in (s.words or [])]
    assert len(words) >= 10
    assert all(s.start - 0.01 <= w.start <= w.end <= s.end + 0.01 for s in t.segments for w in s.words or [])
    assert t.model == "whisper-base"

    subs = list(srt.parse((await transcriber.storage.get_bytes(done.objects["srt"])).decode()))
    assert len(subs) == len(t.segments)
    assert subs[0].start.total_seconds() == pytest.approx(t.segments[0].start, abs=0.001)
    vtt = webvtt.from_buffer(io.StringIO((await transcriber.storage.get_bytes(done.objects["vtt"])).decode()))
    assert len(vtt.captions) == len(t.segments)
    assert vtt.captions[-1].text.strip() == t.segments[-1].text.strip()

    assert progress, "no progress published"
    assert progress == sorted(progress)
    assert progress[-1] == 100.0


@pytest.mark.timeout(120)
async def test_no_audio_stream_gives_an_empty_transcript(transcriber: Runtime) -> None:
    record = await ingested(transcriber, None, 3.0)
    done = await wait_status(transcriber, record, Status.TRANSCRIBED, Status.FAILED)
    assert done.status is Status.TRANSCRIBED
    t = Transcript.from_bytes(await transcriber.storage.get_bytes(done.objects["transcript"]))
    assert t.segments == []
    assert t.duration_s == 3.0
    assert (await transcriber.storage.get_bytes(done.objects["vtt"])).decode().startswith("WEBVTT")


@pytest.mark.timeout(120)
async def test_silence_gives_an_empty_transcript(transcriber: Runtime, tmp_path: Path) -> None:
    video = make_silent_video(tmp_path / "silent.mp4", 4.0, "mp4")
    wav = tmp_path / "silent.wav"
    extract_audio(video, VideoFormat.MP4, wav)
    record = await ingested(transcriber, wav, 4.0)
    done = await wait_status(transcriber, record, Status.TRANSCRIBED, Status.FAILED)
    assert done.status is Status.TRANSCRIBED, done.error
    t = Transcript.from_bytes(await transcriber.storage.get_bytes(done.objects["transcript"]))
    assert t.text == ""


@pytest.mark.timeout(120)
async def test_corrupt_audio_fails_after_bounded_retries(transcriber: Runtime, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(3000))
    record = await ingested(transcriber, bad, 5.0)
    failed = await wait_status(transcriber, record, Status.FAILED, Status.TRANSCRIBED)
    assert failed.status is Status.FAILED
    assert failed.error is not None
    assert failed.error.stage == "transcribe"
    assert failed.stages["transcribe"].attempts == 2  # max_deliver
    assert "transcript" not in failed.objects


@pytest.mark.timeout(120)
async def test_redelivery_makes_no_second_transcript_or_transition(transcriber: Runtime) -> None:
    record = await ingested(transcriber, speech_wav("short"), 14.0)
    done = await wait_status(transcriber, record, Status.TRANSCRIBED)
    entry = await transcriber.catalog.get_entry(record.owner, record.id)
    assert entry is not None
    info_before = await transcriber.storage.stat(done.objects["transcript"])
    event = VideoIngested(
        video_id=record.id,
        owner="t",
        source_key="x",
        thumbnail_key="y",
        audio_key=done.objects["audio"],
        duration_s=14.0,
        width=1,
        height=1,
        video_codec="h264",
        has_audio=True,
    )
    await transcriber.js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": "replay"})
    await asyncio.sleep(2)
    again = await transcriber.catalog.get_entry(record.owner, record.id)
    assert again is not None
    assert again[1] == entry[1]
    info_after = await transcriber.storage.stat(done.objects["transcript"])
    assert info_after is not None
    assert info_before is not None
    assert info_after.last_modified == info_before.last_modified
    assert await transcribed_events(transcriber) == 1


# -- the process: SIGKILL in the middle of a job, SIGTERM drain ----------------------------------


def start_process(settings: Settings, tmp: Path) -> subprocess.Popen[bytes]:
    env = service_env(
        settings,
        VIDSAGE_TRANSCRIBER__ACK_WAIT_S="3",
        VIDSAGE_TRANSCRIBER__PROGRESS_INTERVAL_S="0.2",
        VIDSAGE_LOG_FORMAT="json",
    )
    log = (tmp / "transcriber.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "vidsage_transcriber"], env=env, stdout=log, stderr=log)


@pytest.fixture
async def control(tsettings: Settings) -> AsyncIterator[Runtime]:
    """Runtime for the test itself (no worker): publishes, reads records and objects."""
    async with open_runtime("gateway", tsettings, asyncio.Event(), wait_s=5) as rt:
        yield rt


async def wait_running(rt: Runtime, video: VideoRecord, then_s: float) -> None:
    """Wait until the process has taken the job (model loaded, stage running), then ``then_s`` more."""
    for _ in range(1200):
        record = await rt.catalog.get(video.owner, video.id)
        if record is not None and record.status is Status.TRANSCRIBING:
            await asyncio.sleep(then_s)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the job never started")


@pytest.mark.timeout(240)
async def test_sigkill_mid_job_loses_nothing_and_completes_once(
    control: Runtime, tsettings: Settings, tmp_path: Path
) -> None:
    record = await ingested(control, speech_wav("long"), 115.0)
    proc = start_process(tsettings, tmp_path)
    try:
        await wait_running(control, record, 1.5)  # inference of ~115 s of speech takes ~8 s here
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        mid = await control.catalog.get(record.owner, record.id)
        assert mid is not None
        assert mid.status is Status.TRANSCRIBING
        proc = start_process(tsettings, tmp_path)
        done = await wait_status(control, record, Status.TRANSCRIBED, Status.FAILED, seconds=150)
    finally:
        proc.terminate()
        proc.wait(30)
    assert done.status is Status.TRANSCRIBED, done.error
    assert done.stages["transcribe"].attempts == 2
    assert await transcribed_events(control) == 1
    t = Transcript.from_bytes(await control.storage.get_bytes(done.objects["transcript"]))
    assert word_error_rate(SCRIPTS["long"], t.text) < WER_BOUND


@pytest.mark.timeout(240)
async def test_sigterm_finishes_the_job_in_flight_then_exits(
    control: Runtime, tsettings: Settings, tmp_path: Path
) -> None:
    record = await ingested(control, speech_wav("names"), 20.0)
    proc = start_process(tsettings, tmp_path)
    try:
        await wait_running(control, record, 0.3)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    done = await control.catalog.get(record.owner, record.id)
    assert done is not None
    assert done.status is Status.TRANSCRIBED
    assert done.stages["transcribe"].attempts == 1
    info = await control.js.consumer_info("VIDSAGE", "transcriber")
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


def test_missing_model_is_a_clear_startup_error(tmp_path: Path) -> None:
    env = {**os.environ, "VIDSAGE_MODELS_DIR": str(tmp_path / "nothing")}
    proc = subprocess.run(
        [sys.executable, "-m", "vidsage_transcriber"], env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "VIDSAGE_TRANSCRIBER__MODEL" in err
    assert "make setup" in err
    assert "Traceback" not in err
