"""The transcriber over real servers with the real offline Whisper model and real speech
(espeak-ng muxed into MP4): transcript quality, artifacts, timings, a video without audio, an
undecodable or missing source, redelivery, a video deleted before its turn, ingest and transcription
side by side, and the process surviving SIGKILL and draining on SIGTERM."""

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
from tests.support.media import make_video
from tests.support.paths import MODELS
from tests.support.speech import SCRIPTS, make_silent_video, make_speech_video, speech_wav, word_error_rate
from tests.support.stored_videos import uploaded, wait_status
from vidsage.bus import publish_event
from vidsage.contracts.events import VideoUploaded
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord, status_rank
from vidsage.contracts.transcript import Transcript
from vidsage.redrive import uploaded_event
from vidsage.runtime import Runtime, open_runtime, run_worker
from vidsage.settings import Settings
from vidsage_ingest.worker import STAGE as INGEST_STAGE
from vidsage_ingest.worker import IngestHandler
from vidsage_transcriber.batching import Scheduler
from vidsage_transcriber.engine import Engine
from vidsage_transcriber.worker import STAGE, TranscribeHandler

from .conftest import make_settings

# espeak-ng's synthetic voice through Whisper base int8; measured well below this (see README).
WER_BOUND = 0.25
TIMING_STEPS = {
    "download", "decode", "vad", "features", "queued", "inference",
    "encode", "language", "generate", "align", "words", "write",
}  # fmt: skip

pytestmark = [pytest.mark.needs_espeak, pytest.mark.needs_whisper]


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The spoken scripts as MP4 videos (H.264 + AAC), as a user uploads them."""
    folder = tmp_path_factory.mktemp("talks")
    return {name: make_speech_video(folder / f"{name}.mp4", speech_wav(name)) for name in ("short", "names")}


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
    async with (
        open_runtime("transcriber", tsettings, stop, worker=tsettings.transcriber, wait_s=5) as rt,
        Scheduler(engine, rt.run_blocking) as scheduler,
    ):
        task = asyncio.create_task(
            run_worker(rt, STAGE, TranscribeHandler(rt, scheduler), tsettings.transcriber)
        )
        yield rt
        stop.set()
        await asyncio.wait_for(task, 60)


async def transcribed_events(rt: Runtime) -> int:
    info = await rt.js.stream_info("VIDSAGE", subjects_filter="vidsage.video.transcribed")
    return (info.state.subjects or {}).get("vidsage.video.transcribed", 0)


@pytest.mark.timeout(180)
async def test_speech_becomes_a_timestamped_transcript(transcriber: Runtime, talks: dict[str, Path]) -> None:
    record = await uploaded(transcriber, talks["short"])
    progress: list[float] = []

    async def on_progress(msg) -> None:  # type: ignore[no-untyped-def]
        import json

        progress.append(json.loads(msg.data)["percent"])

    await transcriber.nc.subscribe(f"vidsage.progress.{record.id}", cb=on_progress)
    done = await wait_status(transcriber, record, Status.TRANSCRIBED, Status.FAILED)
    assert done.status is Status.TRANSCRIBED, done.error
    assert done.language == "en"
    assert done.stages["transcribe"].state == "done"
    timings = done.stages["transcribe"].timings
    assert timings is not None
    assert set(timings) == TIMING_STEPS
    assert all(seconds >= 0 for seconds in timings.values())
    assert timings["generate"] > 0

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
    assert t.duration_s == pytest.approx(done.duration_s, abs=0.1)

    subs = list(srt.parse((await transcriber.storage.get_bytes(done.objects["srt"])).decode()))
    assert len(subs) == len(t.segments)
    assert subs[0].start.total_seconds() == pytest.approx(t.segments[0].start, abs=0.001)
    vtt = webvtt.from_buffer(io.StringIO((await transcriber.storage.get_bytes(done.objects["vtt"])).decode()))
    assert len(vtt.captions) == len(t.segments)
    assert vtt.captions[-1].text.strip() == t.segments[-1].text.strip()
    assert "audio" not in done.objects  # decoded from the source; no soundtrack went through S3

    assert progress, "no progress published"
    assert progress == sorted(progress)
    assert progress[-1] == 100.0


@pytest.mark.timeout(120)
async def test_no_audio_stream_gives_an_empty_transcript(transcriber: Runtime, tmp_path: Path) -> None:
    mute = make_video(tmp_path / "mute.mp4", "mp4", duration_s=3.0, audio=False)
    record = await uploaded(transcriber, mute)
    assert record.has_audio is False
    done = await wait_status(transcriber, record, Status.TRANSCRIBED, Status.FAILED)
    assert done.status is Status.TRANSCRIBED
    t = Transcript.from_bytes(await transcriber.storage.get_bytes(done.objects["transcript"]))
    assert t.segments == []
    assert t.duration_s == record.duration_s
    assert (await transcriber.storage.get_bytes(done.objects["vtt"])).decode().startswith("WEBVTT")


@pytest.mark.timeout(120)
async def test_silence_gives_an_empty_transcript(transcriber: Runtime, tmp_path: Path) -> None:
    record = await uploaded(transcriber, make_silent_video(tmp_path / "silent.mp4", 4.0, "mp4"))
    done = await wait_status(transcriber, record, Status.TRANSCRIBED, Status.FAILED)
    assert done.status is Status.TRANSCRIBED, done.error
    t = Transcript.from_bytes(await transcriber.storage.get_bytes(done.objects["transcript"]))
    assert t.text == ""
    assert t.duration_s == pytest.approx(4.0, abs=0.1)


@pytest.mark.timeout(120)
async def test_undecodable_audio_fails_the_video_at_once(
    transcriber: Runtime, talks: dict[str, Path]
) -> None:
    """A source that passed the upload's probe but whose audio does not decode never will: no retry."""
    record = await uploaded(transcriber, talks["short"], source=b"\x00" * 5000)
    failed = await wait_status(transcriber, record, Status.FAILED, Status.TRANSCRIBED)
    assert failed.status is Status.FAILED
    assert failed.error is not None
    assert failed.error.stage == "transcribe"
    assert "undecodable" in failed.error.reason
    assert failed.stages["transcribe"].attempts == 1
    assert "transcript" not in failed.objects


@pytest.mark.timeout(120)
async def test_a_missing_source_fails_after_bounded_retries(
    transcriber: Runtime, talks: dict[str, Path]
) -> None:
    record = await uploaded(transcriber, talks["short"], source=b"")
    await transcriber.storage.delete(record.objects["source"])  # gone from S3: may be transient
    failed = await wait_status(transcriber, record, Status.FAILED, Status.TRANSCRIBED)
    assert failed.status is Status.FAILED
    assert failed.error is not None
    assert failed.error.stage == "transcribe"
    assert failed.stages["transcribe"].attempts == 2  # max_deliver
    assert "transcript" not in failed.objects


@pytest.mark.timeout(120)
async def test_redelivery_makes_no_second_transcript_or_transition(
    transcriber: Runtime, talks: dict[str, Path]
) -> None:
    record = await uploaded(transcriber, talks["short"])
    done = await wait_status(transcriber, record, Status.TRANSCRIBED)
    entry = await transcriber.catalog.get_entry(record.owner, record.id)
    assert entry is not None
    info_before = await transcriber.storage.stat(done.objects["transcript"])
    event = uploaded_event(done)
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


@pytest.mark.timeout(120)
async def test_a_duplicate_delivered_while_the_first_runs_gives_one_transcript_and_one_event(
    transcriber: Runtime, talks: dict[str, Path]
) -> None:
    """The same ``uploaded`` twice, the second while the first is in flight (the consumer holds two
    videos at once): both may do the work, the fixed keys get the same transcript, the stage
    finishes once and one ``transcribed`` goes out; nothing is left pending."""
    record = await uploaded(transcriber, talks["short"])
    event = uploaded_event(record)
    await transcriber.js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": "duplicate"})
    done = await wait_status(transcriber, record, Status.TRANSCRIBED, Status.FAILED)
    assert done.status is Status.TRANSCRIBED, done.error
    for _ in range(300):
        info = await transcriber.js.consumer_info("VIDSAGE", "transcriber")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.1)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    assert info.delivered.consumer_seq >= 2  # both deliveries reached the worker
    assert await transcribed_events(transcriber) == 1
    t = Transcript.from_bytes(await transcriber.storage.get_bytes(done.objects["transcript"]))
    assert word_error_rate(SCRIPTS["short"], t.text) < WER_BOUND
    final = await transcriber.catalog.get(record.owner, record.id)
    assert final is not None
    assert final.stages["transcribe"].state == "done"
    assert final.stages["transcribe"].attempts == 1


@pytest.mark.timeout(120)
async def test_a_video_deleted_before_its_turn_is_skipped(
    transcriber: Runtime, talks: dict[str, Path]
) -> None:
    video_id = new_id()
    key = f"videos/{video_id}/source.mp4"
    await transcriber.storage.put_file(key, talks["short"], content_type="video/mp4")
    # no record: the video was deleted between the upload and the transcriber's turn
    await publish_event(
        transcriber.js,
        VideoUploaded(
            video_id=video_id, owner="t", source_key=key, filename="v.mp4", size=1, mime="video/mp4",
            format="mp4", duration_s=12.0,
        ),
    )  # fmt: skip
    for _ in range(100):
        info = await transcriber.js.consumer_info("VIDSAGE", "transcriber")
        if info.num_pending == 0 and info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.1)
    assert info.num_pending == 0
    assert info.num_ack_pending == 0
    assert await transcriber.storage.stat(f"videos/{video_id}/transcript.json") is None
    assert await transcribed_events(transcriber) == 0


@pytest.mark.timeout(180)
async def test_ingest_and_transcription_run_side_by_side(
    transcriber: Runtime, tsettings: Settings, talks: dict[str, Path]
) -> None:
    """Both stages start from the upload (the transcriber never sees ``ingested``); the record shows
    each one's state, and its status only moves forward, to ``transcribed`` once both are done."""
    stop = asyncio.Event()
    async with open_runtime("ingest", tsettings, stop, worker=tsettings.ingest, wait_s=5) as ingest:
        task = asyncio.create_task(run_worker(ingest, INGEST_STAGE, IngestHandler(ingest), tsettings.ingest))
        record = await uploaded(transcriber, talks["names"], ingest_done=False)
        seen = [record.status]
        for _ in range(1200):
            current = await transcriber.catalog.get(record.owner, record.id)
            assert current is not None
            if current.status != seen[-1]:
                seen.append(current.status)
            if current.status in (Status.TRANSCRIBED, Status.FAILED):
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 30)
    assert current.status is Status.TRANSCRIBED, current.error
    assert current.stages["ingest"].state == "done"
    assert current.stages["transcribe"].state == "done"
    assert "thumbnail" in current.objects
    assert "transcript" in current.objects
    assert seen == sorted(seen, key=status_rank), seen


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
        if record is not None and record.stages["transcribe"].state == "running":
            await asyncio.sleep(then_s)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the job never started")


@pytest.mark.timeout(240)
async def test_sigkill_mid_job_loses_nothing_and_completes_once(
    control: Runtime, tsettings: Settings, tmp_path: Path
) -> None:
    record = await uploaded(control, make_speech_video(tmp_path / "long.mp4", speech_wav("long")))
    proc = start_process(tsettings, tmp_path)
    try:
        await wait_running(control, record, 2.0)  # inference of ~115 s of speech takes ~5 s here
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
    control: Runtime, tsettings: Settings, talks: dict[str, Path], tmp_path: Path
) -> None:
    record = await uploaded(control, talks["names"])
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
