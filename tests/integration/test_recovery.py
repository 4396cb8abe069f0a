"""Recovery without an operator, over real servers: a dependency outage fails nothing, a killed
worker's job is picked up within the ack wait, and the reconciler, the retry route and the
start-up clean-up repair what a crash leaves behind."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from tests.support.media import make_video
from tests.support.paths import ROOT
from tests.support.stored_videos import wait_status
from vidsage.bus import CONSUMERS, Worker, provision_consumer, provision_stream, publish_event
from vidsage.contracts import names
from vidsage.contracts.events import Event, VideoUploaded
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord
from vidsage.reconcile import Reconciler, SweepReport
from vidsage.runtime import Runtime, open_runtime, run_worker
from vidsage.settings import ReconcileSettings, Settings
from vidsage_dev.infra import S3Server, start_nats, start_s3
from vidsage_dev.ports import free_port
from vidsage_ingest.worker import STAGE, IngestHandler

from .conftest import ACCESS_KEY, SECRET_KEY, make_settings


class RestartableS3:
    """An S3 server of this test alone, which the test stops and starts again on the same port."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = free_port()
        self.server: S3Server | None = None
        self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = start_s3(self.state, "127.0.0.1", self.port, ACCESS_KEY, SECRET_KEY, sink=io.StringIO())

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[RestartableS3]:
    s3 = RestartableS3(tmp_path / "own-s3")
    yield s3
    s3.stop()


async def store_upload(rt: Runtime, path: Path, owner: str = "t") -> tuple[VideoRecord, VideoUploaded]:
    """What the gateway stores for a valid upload (object, record) and the event it publishes."""
    video_id = new_id()
    key = f"videos/{video_id}/source.mp4"
    await rt.storage.put_file(key, path, content_type="video/mp4")
    record = VideoRecord(
        id=video_id, owner=owner, filename=path.name, size=path.stat().st_size, mime="video/mp4",
        format="mp4", duration_s=0, objects={"source": key},
    )  # fmt: skip
    await rt.catalog.create(record)
    event = VideoUploaded(
        video_id=video_id, owner=owner, source_key=key, filename=path.name, size=record.size,
        mime="video/mp4", format="mp4", duration_s=0,
    )  # fmt: skip
    return record, event


@pytest.mark.timeout(120)
async def test_videos_in_ingest_survive_an_s3_outage(  # type: ignore[no-untyped-def]
    nats_server, own_s3: RestartableS3, tmp_path: Path
) -> None:
    """The S3 server is stopped for 20 s while three videos are in ingest: all three end ingested,
    each on its first delivery (before, they failed once two deliveries were spent)."""
    settings = make_settings(
        nats_server.url, own_s3.endpoint, ingest={"max_deliver": 2, "backoff_s": 0.5, "concurrency": 3}
    )
    src = make_video(tmp_path / "v.mp4", "mp4", duration_s=2.0)
    stop = asyncio.Event()
    async with open_runtime("ingest", settings, stop, worker=settings.ingest, wait_s=5) as rt:
        uploads = [await store_upload(rt, src) for _ in range(3)]
        own_s3.stop()
        for _, event in uploads:
            await publish_event(rt.js, event)
        worker = asyncio.create_task(run_worker(rt, STAGE, IngestHandler(rt), settings.ingest))
        try:
            await asyncio.sleep(20)
            for record, _ in uploads:  # still waiting, not failed
                current = await rt.catalog.get(record.owner, record.id)
                assert current is not None
                assert current.status is Status.INGESTING
            own_s3.start()
            done = [await wait_status(rt, record, Status.INGESTED, Status.FAILED) for record, _ in uploads]
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
        info = await rt.js.consumer_info(settings.nats.stream, "ingest")
    assert [d.status for d in done] == [Status.INGESTED] * 3, [d.error for d in done]
    assert [d.stages["ingest"].attempts for d in done] == [1, 1, 1]
    assert info.delivered.consumer_seq == 3  # no redelivery at all


def _stuck_worker(settings: Settings) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "VIDSAGE_NATS__URL": settings.nats.url,
        "VIDSAGE_INGEST__CONCURRENCY": "1",
        "VIDSAGE_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.stuck_worker"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


@pytest.mark.timeout(90)
async def test_a_sigkilled_workers_job_is_picked_up_within_the_ack_wait(
    js: JetStreamContext, settings: Settings
) -> None:
    """A worker takes a job and is SIGKILLed; a new worker (default settings, one job at a time)
    gets that job again and the next one within the ack wait (15 s), not after minutes."""
    ingest = Settings(_env_file=None).ingest  # type: ignore[call-arg]
    bound_s = ingest.ack_wait_s
    first, second = new_id(), new_id()
    proc = _stuck_worker(settings)
    try:
        await publish_event(js, _uploaded(first))
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(_started_line, proc), 30)
        assert line == f"started {first}"
        await publish_event(js, _uploaded(second))
        await asyncio.sleep(2 * bound_s / 3)  # its heartbeats hold the job past the first third
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        proc.kill()
        proc.wait()
    done: dict[str, tuple[int, float]] = {}
    both = asyncio.Event()

    async def handler(event: Event, attempt: int) -> None:
        done[event.video_id] = (attempt, time.monotonic() - killed_at)
        if len(done) == 2:
            both.set()

    async def on_failure(video_id: str, reason: str, attempts: int) -> None:
        raise AssertionError(f"{video_id} failed: {reason}")

    worker_settings = ingest.model_copy(update={"concurrency": 1})
    await provision_consumer(js, settings.nats.stream, CONSUMERS["ingest"], worker_settings)
    worker = Worker(
        js, stream=settings.nats.stream, spec=CONSUMERS["ingest"], settings=worker_settings,
        handler=handler, on_failure=on_failure,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        # Within the bound (plus a fetch and some slack for a loaded machine), never the old minutes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both.wait(), bound_s + 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert set(done) == {first, second}, f"picked up after the kill: {done}"
    assert done[first][0] == 2  # the killed worker's job, redelivered
    assert done[second][0] == 1


def _started_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:  # its log lines come first
        if line.startswith("started "):
            return line.strip()
    return ""


def _uploaded(video_id: str) -> VideoUploaded:
    return VideoUploaded(
        video_id=video_id, owner="t", source_key=f"videos/{video_id}/source.mp4", filename="a.mp4",
        size=1, mime="video/mp4", format="mp4", duration_s=1,
    )  # fmt: skip


@pytest.fixture
async def js(nc, settings: Settings) -> JetStreamContext:  # type: ignore[no-untyped-def]
    js = nc.jetstream()
    await provision_stream(js, settings.nats)
    return js


# -- the reconciler -------------------------------------------------------------------------------

FAST_RECONCILE = {"interval_s": 0.3, "idle_grace_s": 0.5, "orphan_grace_s": 0.01}


@pytest.mark.timeout(60)
async def test_a_record_whose_event_was_never_published_is_redriven(  # type: ignore[no-untyped-def]
    nats_server, s3_server, tmp_path: Path
) -> None:
    """The ghost: a record and its source, but no ``uploaded`` event (the gateway died, or NATS lost
    the publish). The ingest service's reconciler re-drives it; it ends ingested."""
    settings = make_settings(nats_server.url, s3_server.endpoint, reconcile=FAST_RECONCILE)
    src = make_video(tmp_path / "v.mp4", "mp4", duration_s=2.0)
    stop = asyncio.Event()
    async with open_runtime("ingest", settings, stop, worker=settings.ingest, wait_s=5) as rt:
        record, _ = await store_upload(rt, src)  # no event
        worker = asyncio.create_task(run_worker(rt, STAGE, IngestHandler(rt), settings.ingest))
        try:
            done = await wait_status(rt, record, Status.INGESTED, Status.FAILED, seconds=30)
        finally:
            stop.set()
            await asyncio.wait_for(worker, 30)
    assert done.status is Status.INGESTED, done.error
    assert done.stages["ingest"].attempts == 1


@pytest.mark.timeout(60)
async def test_orphans_are_repaired_both_ways(runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    rt = runtime
    reconciler = Reconciler(
        rt, "ingest", CONSUMERS["ingest"], ReconcileSettings(**FAST_RECONCILE), orphans=True
    )
    # objects without a record (a delete that stopped half-way)
    orphan = new_id()
    await rt.storage.put_bytes(f"videos/{orphan}/thumbnail.jpg", b"jpeg", content_type="image/jpeg")
    # a record whose source is gone (the ghost of a refused upload)
    ghost, _ = await store_upload(rt, make_video(tmp_path / "g.mp4", "mp4", duration_s=1.0))
    await rt.storage.delete(ghost.objects["source"])
    # a ready video whose transcript files are gone, and a healthy ready one
    broken, healthy = await _ready_video(rt), await _ready_video(rt)
    for key in names.transcript_keys(broken.id).values():
        await rt.storage.delete(key)
    await asyncio.sleep(1.2)  # older than the grace (object times have 1 s resolution)

    report = await reconciler.sweep_orphans()

    assert report.orphan_objects_deleted == [orphan]
    assert await rt.storage.list_objects(f"videos/{orphan}/") == []
    assert report.failed_source_gone == [ghost.id]
    failed = await rt.catalog.get(ghost.owner, ghost.id)
    assert failed is not None
    assert failed.status is Status.FAILED
    assert failed.error is not None
    assert (failed.error.stage, failed.error.reason) == ("ingest", "the source file is gone")
    assert report.rerun == [broken.id]
    rerun = await rt.catalog.get(broken.owner, broken.id)
    assert rerun is not None
    assert (rerun.status, rerun.stages["transcribe"].state, rerun.retries) == (Status.INGESTED, "pending", 1)
    still = await rt.catalog.get(healthy.owner, healthy.id)
    assert still is not None
    assert still.status is Status.READY
    # the transcriber starts from the upload: its re-run is the upload's event again
    sub = await rt.js.pull_subscribe("vidsage.video.uploaded", durable=None, stream=settings.nats.stream)
    msgs = await sub.fetch(5, timeout=2)
    assert [v for v in (json.loads(m.data)["video_id"] for m in msgs) if v != ghost.id] == [broken.id]
    assert (await reconciler.sweep_orphans()) == SweepReport()  # nothing left to repair


async def _ready_video(rt: Runtime) -> VideoRecord:
    video_id = new_id()
    objects = {"source": f"videos/{video_id}/source.mp4", "thumbnail": f"videos/{video_id}/thumbnail.jpg"}
    objects |= names.transcript_keys(video_id)
    for key in objects.values():
        await rt.storage.put_bytes(key, b"x", content_type="application/octet-stream")
    record = VideoRecord(
        id=video_id, owner="t", filename="r.mp4", size=1, mime="video/mp4", format="mp4", duration_s=1,
        width=320, height=240, video_codec="h264", status=Status.READY, objects=objects,
    )  # fmt: skip
    for stage in ("ingest", "transcribe", "index"):
        record.stages[stage].state = "done"
    await rt.catalog.create(record)
    return record


@pytest.mark.timeout(120)
async def test_a_nats_restart_mid_job_fails_nothing(s3_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """nats-server is stopped while a job is running and started again on the same store 5 s
    later: the job's catalog writes are retried in place and it ends ingested on its only
    delivery (``max_deliver`` 1: a spent delivery would fail it)."""
    state, port, monitor = tmp_path / "nats", free_port(), free_port()
    server = start_nats(state, "127.0.0.1", port, monitor, sink=io.StringIO())
    settings = make_settings(server.url, s3_server.endpoint, ingest={"max_deliver": 1})
    src = make_video(tmp_path / "v.mp4", "mp4", duration_s=2.0)
    stop = asyncio.Event()
    try:
        async with open_runtime("ingest", settings, stop, worker=settings.ingest, wait_s=5) as rt:
            record, event = await store_upload(rt, src)
            ingest = IngestHandler(rt)
            outage: list[asyncio.Task[None]] = []

            async def restart_nats() -> None:
                nonlocal server
                await asyncio.to_thread(server.stop)
                await asyncio.sleep(5)
                server = await asyncio.to_thread(
                    start_nats, state, "127.0.0.1", port, monitor, sink=io.StringIO()
                )

            async def handler(event: Event, attempt: int) -> None:
                if not outage:  # the job has begun: take the bus away under it
                    outage.append(asyncio.create_task(restart_nats()))
                    await asyncio.sleep(0.5)
                await ingest(event, attempt)

            await publish_event(rt.js, event)
            worker = Worker(
                rt.js, stream=settings.nats.stream, spec=CONSUMERS["ingest"], settings=settings.ingest,
                handler=handler, on_failure=_no_failure, nc=rt.nc,
            )  # fmt: skip
            task = asyncio.create_task(worker.run(stop))
            try:
                done = await _settled_through_outage(rt, record)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
            assert outage
            await outage[0]
            assert worker.transient_retries >= 1
    finally:
        server.stop()
    assert done.status is Status.INGESTED, done.error
    assert done.stages["ingest"].attempts == 1


async def _settled_through_outage(rt: Runtime, record: VideoRecord) -> VideoRecord:
    """The record once ingested or failed, polled through the outage (reads fail meanwhile)."""
    for _ in range(120):
        with contextlib.suppress(Exception):
            current = await rt.catalog.get(record.owner, record.id)
            if current is not None and current.status in (Status.INGESTED, Status.FAILED):
                return current
        await asyncio.sleep(0.5)
    raise AssertionError("not settled within 60 s")


async def _no_failure(video_id: str, reason: str, attempts: int) -> None:
    raise AssertionError(f"{video_id} failed: {reason}")
