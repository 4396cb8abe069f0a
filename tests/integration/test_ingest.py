"""The ingest worker over real servers: uploaded → thumbnail + audio in S3 → ingested (or failed)."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from tests.support.media import make_video
from tests.support.stored_videos import wait_status
from vidsage.bus import publish_event
from vidsage.contracts import names
from vidsage.contracts.events import VideoUploaded
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord
from vidsage.media import thumbnail_size
from vidsage.redrive import uploaded_event
from vidsage.runtime import Runtime, open_runtime, run_worker
from vidsage.settings import Settings
from vidsage_ingest.worker import STAGE, IngestHandler

from .conftest import make_settings


@pytest.fixture
def ingest_settings(nats_server, s3_server) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings(
        nats_server.url,
        s3_server.endpoint,
        ingest={"max_deliver": 2, "backoff_s": 0.2, "ack_wait_s": 10, "concurrency": 2},
    )


@pytest.fixture
async def ingest(ingest_settings: Settings) -> AsyncIterator[Runtime]:
    """A running ingest worker; yields its runtime."""
    stop = asyncio.Event()
    async with open_runtime("ingest", ingest_settings, stop, worker=ingest_settings.ingest, wait_s=5) as rt:
        task = asyncio.create_task(run_worker(rt, STAGE, IngestHandler(rt), ingest_settings.ingest))
        yield rt
        stop.set()
        await asyncio.wait_for(task, 15)


async def submit(rt: Runtime, path: Path, fmt: str, mime: str) -> VideoRecord:
    """What the gateway does after validating an upload: object, record, event."""
    video_id = new_id()
    key = f"videos/{video_id}/source.{fmt}"
    await rt.storage.put_file(key, path, content_type=mime)
    record = VideoRecord(
        id=video_id,
        owner="t",
        filename=path.name,
        size=path.stat().st_size,
        mime=mime,
        format=fmt,
        duration_s=0,
        objects={"source": key},
    )  # type: ignore[arg-type]
    await rt.catalog.create(record)
    await publish_event(
        rt.js,
        trace_id="trace-" + video_id,
        event=VideoUploaded(
            video_id=video_id,
            owner="t",
            source_key=key,
            filename=path.name,
            size=record.size,
            mime=mime,
            format=fmt,
            duration_s=0,  # type: ignore[arg-type]
        ),
    )
    return record


@pytest.fixture
async def ingest_with_audio(ingest_settings: Settings) -> AsyncIterator[Runtime]:
    """A running ingest worker set to store the soundtrack as ``audio.wav`` too."""
    settings = ingest_settings.model_copy(
        update={"ingest": ingest_settings.ingest.model_copy(update={"extract_audio": True})}
    )
    stop = asyncio.Event()
    async with open_runtime("ingest", settings, stop, worker=settings.ingest, wait_s=5) as rt:
        task = asyncio.create_task(run_worker(rt, STAGE, IngestHandler(rt), settings.ingest))
        yield rt
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_by_default_ingest_stores_no_audio(ingest: Runtime, tmp_path: Path) -> None:
    """The transcriber decodes the source itself: no soundtrack goes through S3."""
    src = make_video(tmp_path / "v.mp4", "mp4", duration_s=2.0)
    record = await submit(ingest, src, "mp4", "video/mp4")
    done = await wait_status(ingest, record, Status.INGESTED, Status.FAILED)
    assert done.status is Status.INGESTED, done.error
    assert done.has_audio is True
    assert set(done.objects) == {"source", "thumbnail"}
    assert await ingest.storage.stat(f"videos/{record.id}/audio.wav") is None
    timings = done.stages["ingest"].timings
    assert timings is not None
    assert set(timings) == {"download", "probe", "thumbnail", "write"}
    assert all(seconds >= 0 for seconds in timings.values())


@pytest.mark.parametrize(
    ("fmt", "mime", "size", "audio"),
    [
        ("mp4", "video/mp4", (1280, 720), True),
        ("mov", "video/quicktime", (320, 240), True),
        ("avi", "video/x-msvideo", (160, 120), False),
    ],
)
async def test_ingest_makes_thumbnail_and_audio(
    ingest_with_audio: Runtime, tmp_path: Path, fmt: str, mime: str, size: tuple[int, int], audio: bool
) -> None:
    ingest = ingest_with_audio
    src = make_video(
        tmp_path / f"v.{fmt}",
        fmt,
        duration_s=3.0,
        width=size[0],
        height=size[1],
        audio=audio,
        black_first_s=1.0,
    )
    record = await submit(ingest, src, fmt, mime)
    done = await wait_status(ingest, record, Status.INGESTED, Status.FAILED)
    assert done.status is Status.INGESTED, done.error
    assert (done.width, done.height) == size
    assert done.duration_s == pytest.approx(3.0, abs=0.3)
    assert done.has_audio is audio
    assert done.stages["ingest"].state == "done"

    jpeg = await ingest.storage.get_bytes(done.objects["thumbnail"])
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    assert image.size == thumbnail_size(size[0], size[1], 640)
    luma = ImageStat.Stat(image.convert("L")).mean[0]
    assert luma > 20, "the thumbnail is the black opening frame"

    if audio:
        wav = await ingest.storage.get_bytes(done.objects["audio"])
        with wave.open(io.BytesIO(wav)) as w:
            assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 16000, 2)
            assert w.getnframes() / 16000 == pytest.approx(3.0, abs=0.3)
    else:
        assert "audio" not in done.objects

    # the ingested event carries the artifacts
    sub = await ingest.js.pull_subscribe("vidsage.video.ingested", durable=None, stream="VIDSAGE")
    msgs = await sub.fetch(1, timeout=3)
    assert done.objects["thumbnail"].encode() in msgs[0].data
    assert msgs[0].headers["Vidsage-Trace-Id"] == "trace-" + record.id  # the trace follows the video


async def test_corrupt_video_fails_with_reason(ingest: Runtime, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    good = make_video(tmp_path / "g.mp4", "mp4", duration_s=2.0)
    bad.write_bytes(good.read_bytes()[:2000] + b"\x00" * 5000)  # a valid head, then nothing decodable
    record = await submit(ingest, bad, "mp4", "video/mp4")
    failed = await wait_status(ingest, record, Status.FAILED, Status.INGESTED)
    assert failed.status is Status.FAILED
    assert failed.error is not None
    assert failed.error.stage == "ingest"
    assert failed.error.reason
    assert failed.stages["ingest"].state == "failed"
    sub = await ingest.js.pull_subscribe("vidsage.video.failed", durable=None, stream="VIDSAGE")
    msgs = await sub.fetch(1, timeout=3)
    assert record.id.encode() in msgs[0].data


async def test_redelivery_does_not_transition_twice(ingest: Runtime, tmp_path: Path) -> None:
    src = make_video(tmp_path / "v.mp4", "mp4", duration_s=2.0)
    record = await submit(ingest, src, "mp4", "video/mp4")
    done = await wait_status(ingest, record, Status.INGESTED)
    entry = await ingest.catalog.get_entry(record.owner, record.id)
    assert entry is not None
    revision = entry[1]
    # the same event again, outside JetStream's de-duplication (another msg id)
    event = VideoUploaded(
        video_id=record.id,
        owner="t",
        source_key=record.objects["source"],
        filename="v.mp4",
        size=record.size,
        mime="video/mp4",
        format="mp4",
        duration_s=0,
    )
    await ingest.js.publish(event.subject, event.to_bytes(), headers={"Nats-Msg-Id": "replay-1"})
    await asyncio.sleep(1.5)
    again = await ingest.catalog.get_entry(record.owner, record.id)
    assert again is not None
    assert again[1] == revision, "a redelivered upload changed the record"
    assert again[0].stages == done.stages


async def test_a_rerun_publishes_its_done_event_past_the_duplicate_window(
    ingest: Runtime, tmp_path: Path
) -> None:
    """A retried video's stage runs again within JetStream's de-duplication window: its done event
    must reach the next stage, not be dropped as a duplicate of the first run's."""
    src = make_video(tmp_path / "v.mp4", "mp4", duration_s=2.0)
    record = await submit(ingest, src, "mp4", "video/mp4")
    await wait_status(ingest, record, Status.INGESTED)
    await ingest.catalog.update(record.owner, record.id, lambda r: r.rewind("ingest"))
    await publish_event(ingest.js, uploaded_event(record), msg_id=f"{record.id}:uploaded:retry-1")
    await wait_status(ingest, record, Status.INGESTED)
    sub = await ingest.js.pull_subscribe(
        names.event_subject("ingested"), durable=None, stream=ingest.settings.nats.stream
    )
    msgs = await sub.fetch(10, timeout=2)
    ids = [m.headers.get("Nats-Msg-Id") if m.headers else None for m in msgs if record.id in m.data.decode()]
    assert ids == [f"{record.id}:ingested", f"{record.id}:ingested:run-1"]


async def test_deleted_before_ingest_is_skipped(ingest: Runtime, tmp_path: Path) -> None:
    src = make_video(tmp_path / "v.mp4", "mp4", duration_s=2.0)
    video_id = new_id()
    key = f"videos/{video_id}/source.mp4"
    await ingest.storage.put_file(key, src, content_type="video/mp4")
    # no record: the video was deleted between upload and ingest
    await publish_event(
        ingest.js,
        VideoUploaded(
            video_id=video_id,
            owner="t",
            source_key=key,
            filename="v.mp4",
            size=1,
            mime="video/mp4",
            format="mp4",
            duration_s=0,
        ),
    )
    await asyncio.sleep(1.5)
    assert await ingest.storage.stat(f"videos/{video_id}/thumbnail.jpg") is None
    info = await ingest.js.consumer_info("VIDSAGE", "ingest")
    assert info.num_pending == 0
    assert info.num_ack_pending == 0
