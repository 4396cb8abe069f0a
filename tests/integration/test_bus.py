"""vidsage.bus against a real nats-server: provisioning, de-duplicated publishing, the pull-consumer
Worker (ack, concurrency, retries, give-up, malformed messages, heartbeats, graceful stop) and
Runtime.fail_video.

Redeliveries are counted with the consumer's delivered sequence (it grows with every delivery,
redeliveries included) and terminations with the server's MSG_TERMINATED advisories, so "not
redelivered" and "terminated" are observed on the server, not inferred from the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from vidsage.bus import (
    CONSUMERS,
    MSG_ID_HEADER,
    TRACE_HEADER,
    ConsumerSpec,
    PermanentError,
    Worker,
    provision_consumer,
    provision_kv,
    provision_stream,
    publish_event,
)
from vidsage.contracts.events import Event, EventType, VideoFailed, VideoUploaded, parse_event
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord
from vidsage.runtime import Runtime
from vidsage.settings import Settings, WorkerSettings
from vidsage.storage import StorageUnavailable

INGEST = CONSUMERS["ingest"]
UPLOADED_SUBJECT = EventType.UPLOADED.subject
# Small timings so that retries, ack waits and fetch loops take fractions of a second.
FAST: dict[str, Any] = {"ack_wait_s": 1.0, "backoff_s": 0.2, "fetch_timeout_s": 0.25}


def fast_worker(**overrides: Any) -> WorkerSettings:
    return WorkerSettings(**{"concurrency": 2, "max_deliver": 3, **FAST, **overrides})


def uploaded(video_id: str | None = None) -> VideoUploaded:
    vid = video_id or new_id()
    return VideoUploaded(
        video_id=vid,
        owner="alice",
        source_key=f"videos/{vid}/source.mp4",
        filename="clip.mp4",
        size=1234,
        mime="video/mp4",
        format="mp4",
        duration_s=2.5,
    )


async def wait_until(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def js(nc: NATS, settings: Settings) -> JetStreamContext:
    js = nc.jetstream(timeout=settings.nats.request_timeout_s)
    await provision_stream(js, settings.nats)
    return js


@dataclass
class Recorder:
    """Handler and failure callback that record what the worker did."""

    calls: list[tuple[str, int]] = field(default_factory=list)
    failures: list[tuple[str, str, int]] = field(default_factory=list)

    async def on_failure(self, video_id: str, reason: str, attempts: int) -> None:
        self.failures.append((video_id, reason, attempts))


@dataclass
class Running:
    worker: Worker
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def stop_and_wait(self, within_s: float = 10) -> float:
        """Set stop and return how long run() took to return."""
        started = time.monotonic()
        self.stop.set()
        await asyncio.wait_for(self.task, within_s)
        return time.monotonic() - started


@contextlib.asynccontextmanager
async def running_worker(
    js: JetStreamContext,
    settings: Settings,
    worker_settings: WorkerSettings,
    handler: Callable[[Event, int], Awaitable[None]],
    on_failure: Callable[[str, str, int], Awaitable[None]],
    spec: ConsumerSpec = INGEST,
) -> AsyncIterator[Running]:
    await provision_consumer(js, settings.nats.stream, spec, worker_settings)
    worker = Worker(
        js,
        stream=settings.nats.stream,
        spec=spec,
        settings=worker_settings,
        handler=handler,
        on_failure=on_failure,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    running = Running(worker, stop, task)
    try:
        yield running
    finally:
        if not task.done():
            await running.stop_and_wait()


async def terminated_advisories(nc: NATS, settings: Settings, durable: str) -> list[dict[str, Any]]:
    """Collect the server's MSG_TERMINATED advisories of one consumer (the list fills up live)."""
    seen: list[dict[str, Any]] = []

    async def on_msg(msg: Msg) -> None:
        seen.append(json.loads(msg.data))

    await nc.subscribe(
        f"$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{settings.nats.stream}.{durable}", cb=on_msg
    )
    await nc.flush()
    return seen


async def consumer(js: JetStreamContext, settings: Settings, durable: str = "ingest") -> api.ConsumerInfo:
    return await js.consumer_info(settings.nats.stream, durable)


async def settled_consumer(
    js: JetStreamContext, settings: Settings, *, pending: int = 0, durable: str = "ingest"
) -> api.ConsumerInfo:
    """The consumer once no delivery awaits an ack and ``pending`` messages are left.

    Acks are fire-and-forget publishes that the server applies asynchronously, so a consumer-info
    request sent right after an ack may still count it; poll briefly instead of racing.
    """
    deadline = time.monotonic() + 3
    while True:
        info = await consumer(js, settings, durable)
        if (info.num_ack_pending, info.num_pending) == (0, pending) or time.monotonic() > deadline:
            return info
        await asyncio.sleep(0.05)


# -- provisioning ---------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_provisioning_is_idempotent_and_applies_changed_settings(nc: NATS, settings: Settings) -> None:
    js = nc.jetstream(timeout=5)
    await provision_stream(js, settings.nats)
    await provision_stream(js, settings.nats)
    streams = [s for s in await js.streams_info() if not s.config.name.startswith("KV_")]
    assert [s.config.name for s in streams] == [settings.nats.stream]
    config = streams[0].config
    assert config.subjects == ["vidsage.video.>"]
    assert config.storage == api.StorageType.FILE
    assert config.retention == api.RetentionPolicy.LIMITS
    assert config.duplicate_window == pytest.approx(settings.nats.duplicate_window_s)
    assert config.max_age == pytest.approx(settings.nats.stream_max_age_s)

    # A changed stream setting is applied to the existing stream (the update path).
    changed = settings.nats.model_copy(update={"stream_max_age_s": 3600.0, "duplicate_window_s": 30.0})
    await provision_stream(js, changed)
    info = await js.stream_info(settings.nats.stream)
    assert info.config.max_age == pytest.approx(3600.0)
    assert info.config.duplicate_window == pytest.approx(30.0)

    kv1 = await provision_kv(js, "videos", history=8)
    await kv1.put("k", b"v1")
    kv2 = await provision_kv(js, "videos", history=8)
    assert (await kv2.get("k")).value == b"v1"  # the same bucket, not a new one
    kv_streams = [s.config.name for s in await js.streams_info() if s.config.name.startswith("KV_")]
    assert kv_streams == ["KV_videos"]
    assert (await js.stream_info("KV_videos")).config.max_msgs_per_subject == 8

    first = WorkerSettings(concurrency=2, max_deliver=4, ack_wait_s=60)
    await provision_consumer(js, settings.nats.stream, INGEST, first)
    await provision_consumer(js, settings.nats.stream, INGEST, first)
    names = [c.name for c in await js.consumers_info(settings.nats.stream)]
    assert names == ["ingest"]
    info = await consumer(js, settings)
    assert (info.config.max_ack_pending, info.config.max_deliver) == (2, 4)
    assert info.config.ack_wait == pytest.approx(60)
    assert info.config.ack_policy == api.AckPolicy.EXPLICIT

    second = WorkerSettings(concurrency=5, max_deliver=7, ack_wait_s=30)
    await provision_consumer(js, settings.nats.stream, INGEST, second)
    info = await consumer(js, settings)
    assert (info.config.max_ack_pending, info.config.max_deliver) == (5, 7)

    # processes sharing the consumer: each its concurrency in flight, not one's worth for all
    shared = WorkerSettings(concurrency=5, max_deliver=7, ack_wait_s=30, processes=3)
    await provision_consumer(js, settings.nats.stream, INGEST, shared)
    assert (await consumer(js, settings)).config.max_ack_pending == 15
    assert info.config.ack_wait == pytest.approx(30)
    assert [c.name for c in await js.consumers_info(settings.nats.stream)] == ["ingest"]


@pytest.mark.timeout(30)
async def test_consumer_filter_subjects_match_the_specs(js: JetStreamContext, settings: Settings) -> None:
    assert set(CONSUMERS) == {"ingest", "transcriber", "indexer", "notifier"}
    for name, spec in CONSUMERS.items():
        await provision_consumer(js, settings.nats.stream, spec, WorkerSettings())
        info = await consumer(js, settings, name)
        subjects = {info.config.filter_subject} - {None} | set(info.config.filter_subjects or [])
        assert subjects == {event.subject for event in spec.events}, name
    indexer = await consumer(js, settings, "indexer")
    assert sorted(indexer.config.filter_subjects or []) == [
        "vidsage.video.deleted",
        "vidsage.video.transcribed",
    ]
    assert (await consumer(js, settings, "ingest")).config.filter_subject == "vidsage.video.uploaded"
    assert (await consumer(js, settings, "transcriber")).config.filter_subject == "vidsage.video.uploaded"
    notifier = await consumer(js, settings, "notifier")  # webhooks: every event
    assert sorted(notifier.config.filter_subjects or []) == sorted(e.subject for e in EventType)


# -- publishing -----------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_publish_event_is_deduplicated_by_msg_id(js: JetStreamContext, settings: Settings) -> None:
    event = uploaded()
    first = await publish_event(js, event, trace_id="trace-123")
    second = await publish_event(js, event, trace_id="trace-123")
    assert not first.duplicate
    assert second.duplicate is True
    assert second.seq == first.seq
    assert (await js.stream_info(settings.nats.stream)).state.messages == 1

    # Another event type of the same video is a different message.
    other = VideoFailed(video_id=event.video_id, owner="alice", stage="ingest", reason="x", attempts=1)
    third = await publish_event(js, other)
    assert not third.duplicate
    assert third.seq == first.seq + 1

    sub = await js.pull_subscribe(UPLOADED_SUBJECT, stream=settings.nats.stream)
    msgs = await sub.fetch(10, timeout=2)
    assert len(msgs) == 1
    assert msgs[0].headers is not None
    assert msgs[0].headers[MSG_ID_HEADER] == f"{event.video_id}:uploaded"
    assert msgs[0].headers[TRACE_HEADER] == "trace-123"
    assert parse_event(msgs[0].subject, msgs[0].data) == event


# -- the worker -----------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_worker_handles_each_event_once_and_stops_promptly(
    js: JetStreamContext, settings: Settings
) -> None:
    events = [uploaded() for _ in range(5)]
    for event in events:
        await publish_event(js, event)
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        assert isinstance(event, VideoUploaded)
        rec.calls.append((event.video_id, attempt))

    async with running_worker(js, settings, fast_worker(concurrency=2), handler, rec.on_failure) as run:
        await wait_until(lambda: len(rec.calls) >= 5, 10, "5 jobs")
        await asyncio.sleep(0.3)  # room for a wrong extra delivery to show up
        took = await run.stop_and_wait()
    assert sorted(rec.calls) == sorted((e.video_id, 1) for e in events)
    assert rec.failures == []
    assert run.worker.processed == 5
    assert took < 1.5  # one fetch long-poll (0.25 s) plus slack
    info = await settled_consumer(js, settings)
    assert info.num_pending == 0
    assert info.num_ack_pending == 0
    assert info.delivered.consumer_seq == 5
    assert info.ack_floor.stream_seq == 5


@pytest.mark.timeout(30)
async def test_worker_runs_up_to_concurrency_jobs_at_once(js: JetStreamContext, settings: Settings) -> None:
    for _ in range(9):
        await publish_event(js, uploaded())
    rec = Recorder()
    current = 0
    peak = 0

    async def handler(event: Event, attempt: int) -> None:
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        try:
            await asyncio.sleep(0.25)
        finally:
            current -= 1
        rec.calls.append((event.video_id, attempt))

    async with running_worker(js, settings, fast_worker(concurrency=3), handler, rec.on_failure):
        await wait_until(lambda: len(rec.calls) >= 9, 10, "9 jobs")
    assert peak == 3
    assert len({vid for vid, _ in rec.calls}) == 9
    assert all(attempt == 1 for _, attempt in rec.calls)


@pytest.mark.timeout(30)
async def test_always_failing_job_is_retried_then_given_up_once(
    nc: NATS, js: JetStreamContext, settings: Settings
) -> None:
    terminated = await terminated_advisories(nc, settings, "ingest")
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        raise RuntimeError(f"decoder exploded on try {attempt}")

    ws = fast_worker(max_deliver=3)
    async with running_worker(js, settings, ws, handler, rec.on_failure):
        await wait_until(lambda: len(rec.failures) >= 1, 10, "the give-up")
        # Longer than the largest backoff plus ack_wait: nothing else may arrive.
        await asyncio.sleep(ws.backoff_s * ws.max_deliver + ws.ack_wait_s + 0.3)
    assert rec.calls == [(event.video_id, 1), (event.video_id, 2), (event.video_id, 3)]
    assert len(rec.failures) == 1
    video_id, reason, attempts = rec.failures[0]
    assert video_id == event.video_id
    assert attempts == 3
    assert "decoder exploded on try 3" in reason
    assert "RuntimeError" in reason
    info = await settled_consumer(js, settings)
    assert info.delivered.consumer_seq == 3
    assert info.num_ack_pending == 0
    assert info.num_pending == 0
    assert [a["stream_seq"] for a in terminated] == [1]


@pytest.mark.timeout(30)
async def test_job_that_fails_once_succeeds_on_the_second_delivery(
    js: JetStreamContext, settings: Settings
) -> None:
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()
    succeeded: list[int] = []

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        if attempt == 1:  # a real failure (a transient one is retried in place: see below)
            raise RuntimeError("decoder hiccup")
        succeeded.append(attempt)

    async with running_worker(js, settings, fast_worker(max_deliver=3), handler, rec.on_failure):
        await wait_until(lambda: bool(succeeded), 10, "the second attempt")
        await asyncio.sleep(1.3)  # past ack_wait: an unacked message would come back
    assert succeeded == [2]
    assert rec.calls == [(event.video_id, 1), (event.video_id, 2)]
    assert rec.failures == []
    info = await settled_consumer(js, settings)
    assert info.delivered.consumer_seq == 2
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 1


@pytest.mark.timeout(30)
async def test_permanent_error_gives_up_at_once(nc: NATS, js: JetStreamContext, settings: Settings) -> None:
    terminated = await terminated_advisories(nc, settings, "ingest")
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        raise PermanentError("not a video: no streams")

    async with running_worker(js, settings, fast_worker(max_deliver=4), handler, rec.on_failure):
        await wait_until(lambda: bool(rec.failures), 10, "the give-up")
        await asyncio.sleep(1.5)  # past ack_wait and the backoff
    assert rec.calls == [(event.video_id, 1)]
    assert rec.failures == [(event.video_id, "not a video: no streams", 1)]
    assert (await settled_consumer(js, settings)).delivered.consumer_seq == 1
    assert [a["stream_seq"] for a in terminated] == [1]


@pytest.mark.timeout(30)
async def test_undecodable_message_is_terminated_without_calling_the_handler(
    nc: NATS, js: JetStreamContext, settings: Settings
) -> None:
    terminated = await terminated_advisories(nc, settings, "ingest")
    ack = await js.publish(UPLOADED_SUBJECT, b"{not json")
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))

    async with running_worker(js, settings, fast_worker(), handler, rec.on_failure):
        await wait_until(lambda: bool(terminated), 10, "the termination")
        await asyncio.sleep(1.5)  # past ack_wait
    assert rec.calls == []
    assert rec.failures == []  # no video id to fail
    assert [a["stream_seq"] for a in terminated] == [ack.seq]
    info = await settled_consumer(js, settings)
    assert info.delivered.consumer_seq == 1
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


@pytest.mark.timeout(30)
async def test_event_with_missing_fields_fails_its_video(
    nc: NATS, js: JetStreamContext, settings: Settings
) -> None:
    terminated = await terminated_advisories(nc, settings, "ingest")
    video_id = new_id()
    await js.publish(UPLOADED_SUBJECT, json.dumps({"video_id": video_id, "owner": "alice"}).encode())
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))

    async with running_worker(js, settings, fast_worker(), handler, rec.on_failure):
        await wait_until(lambda: bool(rec.failures), 10, "the failure")
        await asyncio.sleep(1.3)
    assert rec.calls == []
    assert len(rec.failures) == 1
    failed_id, reason, attempts = rec.failures[0]
    assert failed_id == video_id
    assert reason.startswith("malformed event")
    assert "source_key" in reason  # names what is missing
    assert attempts == 1
    assert len(terminated) == 1
    assert (await settled_consumer(js, settings)).delivered.consumer_seq == 1


@pytest.mark.timeout(30)
async def test_heartbeats_keep_a_job_longer_than_ack_wait(js: JetStreamContext, settings: Settings) -> None:
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()
    finished: list[str] = []

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        await asyncio.sleep(3)
        finished.append(event.video_id)

    # A free slot (concurrency 2) would pick a redelivery up at once if the heartbeats failed.
    async with running_worker(
        js, settings, fast_worker(concurrency=2, ack_wait_s=1.0), handler, rec.on_failure
    ):
        await wait_until(lambda: bool(finished), 10, "the long job")
        await asyncio.sleep(0.3)
    assert rec.calls == [(event.video_id, 1)]
    assert rec.failures == []
    info = await settled_consumer(js, settings)
    assert info.delivered.consumer_seq == 1
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 1


@pytest.mark.timeout(30)
async def test_a_job_delivered_again_while_it_runs_is_not_run_twice(
    js: JetStreamContext, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bus can send a job again while its worker still runs it: a nats-server SIGKILLed
    mid-job comes back without the delivery it had not written and sends the job as new (the
    chaos tier's kill-nats saw the notifier run one event twice at once). Here the heartbeats
    stop, so the ack wait runs out under the running job: the same redelivery, on demand."""
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()
    release = asyncio.Event()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        await release.wait()

    async def no_heartbeat(self: Worker, msg: Msg) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(Worker, "_heartbeat", no_heartbeat)
    async with running_worker(
        js, settings, fast_worker(concurrency=2, ack_wait_s=1.0, max_deliver=5), handler, rec.on_failure
    ) as run:
        deadline = time.monotonic() + 10
        while (await consumer(js, settings)).delivered.consumer_seq < 2:
            assert time.monotonic() < deadline, "the job was never delivered again"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the second delivery is in the worker's hands
        release.set()
        info = await settled_consumer(js, settings)
        assert run.worker.processed == 1
    assert rec.calls == [(event.video_id, 1)]
    assert rec.failures == []
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 1


@pytest.mark.timeout(30)
async def test_stop_lets_the_job_in_flight_finish_and_takes_no_new_work(
    js: JetStreamContext, settings: Settings
) -> None:
    first, second = uploaded(), uploaded()
    await publish_event(js, first)
    await publish_event(js, second)
    started: list[str] = []
    finished: list[str] = []
    rec = Recorder()

    async def slow(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        started.append(event.video_id)
        await asyncio.sleep(1.5)
        finished.append(event.video_id)

    ws = fast_worker(concurrency=1)
    async with running_worker(js, settings, ws, slow, rec.on_failure) as run:
        await wait_until(lambda: bool(started), 10, "the first job")
        await asyncio.sleep(0.3)
        took = await run.stop_and_wait()
    # run() waited for the job (about 1.2 s left), then returned without fetching the second event.
    assert 0.9 < took < 1.5 + 0.5
    assert finished == [first.video_id]
    assert rec.calls == [(first.video_id, 1)]
    info = await settled_consumer(js, settings, pending=1)
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 1
    assert info.num_pending == 1

    # A new worker gets only the second event: the first was acked, not left to redeliver.
    rec2 = Recorder()

    async def quick(event: Event, attempt: int) -> None:
        rec2.calls.append((event.video_id, attempt))

    async with running_worker(js, settings, ws, quick, rec2.on_failure):
        await wait_until(lambda: bool(rec2.calls), 10, "the second event")
        await asyncio.sleep(ws.ack_wait_s + 0.3)
    assert rec2.calls == [(second.video_id, 1)]
    info = await settled_consumer(js, settings)
    assert info.delivered.consumer_seq == 2
    assert info.num_pending == 0
    assert info.num_ack_pending == 0


# -- Runtime.fail_video -----------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_fail_video_marks_the_record_and_publishes_once(runtime: Runtime, settings: Settings) -> None:
    record = VideoRecord(
        id=new_id(), owner="bob", filename="a.mp4", size=10, mime="video/mp4", format="mp4", duration_s=1.0
    )
    await runtime.catalog.create(record)
    sub = await runtime.js.pull_subscribe(EventType.FAILED.subject, stream=settings.nats.stream)

    await runtime.fail_video(record.id, "transcribe", "whisper crashed", 4)
    found = await runtime.catalog.get_entry(record.owner, record.id)
    assert found is not None
    failed, revision = found
    assert failed.status is Status.FAILED
    assert failed.error is not None
    assert (failed.error.stage, failed.error.reason) == ("transcribe", "whisper crashed")
    assert failed.stages["transcribe"].state == "failed"
    assert failed.stages["transcribe"].attempts == 4
    assert failed.stages["transcribe"].error == "whisper crashed"

    await runtime.fail_video(record.id, "index", "a later reason", 1)
    again = await runtime.catalog.get_entry(record.owner, record.id)
    assert again == (failed, revision)  # no second transition, not even a rewrite

    msgs = await sub.fetch(10, timeout=2)
    assert len(msgs) == 1
    event = parse_event(msgs[0].subject, msgs[0].data)
    assert isinstance(event, VideoFailed)
    assert (event.video_id, event.owner, event.stage, event.reason, event.attempts) == (
        record.id,
        "bob",
        "transcribe",
        "whisper crashed",
        4,
    )
    assert msgs[0].headers is not None
    assert msgs[0].headers[MSG_ID_HEADER] == f"{record.id}:failed"
    info = await runtime.js.stream_info(settings.nats.stream, subjects_filter=EventType.FAILED.subject)
    assert info.state.messages == 1

    # An unknown video: nothing to mark, nothing published.
    await runtime.fail_video(new_id(), "ingest", "gone", 1)
    assert (await runtime.js.stream_info(settings.nats.stream)).state.messages == 1


@pytest.mark.timeout(30)
async def test_job_abandoned_on_its_last_delivery_fails_the_video(
    nc: NATS, js: JetStreamContext, settings: Settings
) -> None:
    """A worker that dies holding the last delivery never settles it; the advisory fails the video."""
    worker_settings = WorkerSettings(concurrency=1, max_deliver=1, ack_wait_s=1, fetch_timeout_s=0.2)
    await provision_consumer(js, settings.nats.stream, INGEST, worker_settings)
    event = uploaded()
    await publish_event(js, event)
    crashed = await js.pull_subscribe_bind(INGEST.durable, stream=settings.nats.stream)
    (taken,) = await crashed.fetch(1, timeout=2)  # taken and never acked: the worker "died"
    assert taken.metadata.num_delivered == 1

    recorder = Recorder()

    async def never_called(event: Event, attempt: int) -> None:
        recorder.calls.append((event.video_id, attempt))

    await provision_consumer(js, settings.nats.stream, INGEST, worker_settings)
    worker = Worker(
        js,
        stream=settings.nats.stream,
        spec=INGEST,
        settings=worker_settings,
        handler=never_called,
        on_failure=recorder.on_failure,
        nc=nc,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_until(lambda: bool(recorder.failures), 10, "the max-deliveries advisory")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert recorder.calls == []
    ((video_id, reason, attempts),) = recorder.failures
    assert video_id == event.video_id
    assert "1 deliveries" in reason
    assert attempts == 1


# -- transient errors -----------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_dependency_outage_is_retried_in_place_without_spending_deliveries(
    js: JetStreamContext, settings: Settings
) -> None:
    """S3 (or NATS, or the vector store) unavailable is retried on the same delivery: with
    ``max_deliver`` 1, five transient failures in a row still end in success, delivered once."""
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        if len(rec.calls) <= 5:
            raise StorageUnavailable("S3 endpoint unavailable: connection refused")

    ws = fast_worker(max_deliver=1, transient_window_s=20, transient_backoff_max_s=0.2)
    async with running_worker(js, settings, ws, handler, rec.on_failure) as running:
        await wait_until(lambda: running.worker.processed == 1, 20, "the job to succeed")
    assert rec.calls == [(event.video_id, 1)] * 6
    assert rec.failures == []
    assert running.worker.transient_retries == 5
    info = await settled_consumer(js, settings)
    assert info.delivered.consumer_seq == 1  # never redelivered
    assert info.ack_floor.stream_seq == 1


@pytest.mark.timeout(30)
async def test_outage_longer_than_the_window_counts_as_a_failed_delivery(
    js: JetStreamContext, settings: Settings
) -> None:
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        raise StorageUnavailable("S3 endpoint unavailable: http://10.1.2.3:9000 videos/x/source.mp4")

    ws = fast_worker(max_deliver=2, transient_window_s=1.0, transient_backoff_max_s=0.2)
    async with running_worker(js, settings, ws, handler, rec.on_failure):
        await wait_until(lambda: len(rec.failures) == 1, 20, "the give-up")
    assert {attempt for _, attempt in rec.calls} == {1, 2}
    assert len(rec.calls) > 2  # each delivery retried in place before it counted
    _, reason, attempts = rec.failures[0]
    assert (reason, attempts) == ("object storage unavailable", 2)  # short, no address or key


@pytest.mark.timeout(30)
async def test_real_failures_still_spend_deliveries(js: JetStreamContext, settings: Settings) -> None:
    event = uploaded()
    await publish_event(js, event)
    rec = Recorder()

    async def handler(event: Event, attempt: int) -> None:
        rec.calls.append((event.video_id, attempt))
        raise ValueError("not a transient error")

    ws = fast_worker(max_deliver=2, transient_window_s=60)
    async with running_worker(js, settings, ws, handler, rec.on_failure):
        await wait_until(lambda: len(rec.failures) == 1, 20, "the give-up")
    assert rec.calls == [(event.video_id, 1), (event.video_id, 2)]
