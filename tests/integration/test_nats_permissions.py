"""Least privilege on the bus, against a real nats-server running the configuration the local
runner generates (:func:`vidsage_dev.natsauth.authorization` over :mod:`vidsage.contracts.permissions`).

- a service that tries another's subject is refused by the server (the client gets the
  permissions violation, nothing reaches the stream or the other subscribers);
- no service can read another's reply inboxes;
- each service does all it does in the system with its own credentials (and the server logs no
  violation for it); the whole system running this way is the end-to-end suite;
- the provisioner alone creates the stream and the shared buckets; services wait for it;
- an event subscriber reads the events through consumers of its own and cannot touch the workers'.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api
from pydantic import SecretStr

from tests.integration.conftest import make_settings
from vidsage import provision
from vidsage.auth.keys import generate_key, parse_key
from vidsage.bus import CONSUMERS, PermanentError, provision_consumer, provision_kv, publish_event
from vidsage.contracts import names
from vidsage.contracts.chat import ChatChunk, ChatRequest
from vidsage.contracts.events import (
    Event,
    EventType,
    Progress,
    VideoIngested,
    VideoTranscribed,
    VideoUploaded,
)
from vidsage.contracts.ids import new_id
from vidsage.contracts.permissions import ACCESS
from vidsage.contracts.record import Status, VideoRecord
from vidsage.contracts.search import SearchHit, SearchReply, SearchRequest
from vidsage.kvkeys import live_keys
from vidsage.runtime import Runtime, open_runtime, run_worker
from vidsage.search_client import ask
from vidsage.settings import Settings, WorkerSettings
from vidsage_dev.infra import NatsServer, S3Server, start_nats
from vidsage_dev.natsauth import authorization
from vidsage_dev.ports import free_port
from vidsage_gateway.auth import open_authenticator
from vidsage_gateway.sessions import Session

STREAM = names.STREAM
WORKERS = ("ingest", "transcriber", "indexer")


@dataclass
class Secured:
    """A nats-server with vidsage's users, and what the tests need to sign in and to audit it."""

    server: NatsServer
    passwords: dict[str, str]
    log: Path

    def mark(self) -> int:
        return self.log.stat().st_size

    def violations(self, since: int, user: str | None = None) -> list[str]:
        """The server's ``Publish Violation`` / ``Subscription Violation`` lines since ``since``."""
        with self.log.open("rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").splitlines()
        return [
            line for line in lines if "Violation" in line and (user is None or f'"$G/user:{user}"' in line)
        ]

    def settings(self, user: str, s3: S3Server, *, nats: dict[str, object] | None = None) -> Settings:
        nats_settings = {
            "url": self.server.url,
            "user": user,
            "password": self.passwords[user],
            "request_timeout_s": 2,
            "provision_wait_s": 10,
            **(nats or {}),
        }
        return make_settings(self.server.url, s3.endpoint, nats=nats_settings)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    state = tmp_path_factory.mktemp("secured-nats")
    passwords = {user: secrets.token_urlsafe(18) for user in ACCESS}
    server = start_nats(
        state,
        "127.0.0.1",
        free_port(),
        free_port(),
        sink=io.StringIO(),
        authorization=authorization(passwords),
    )
    yield Secured(server, passwords, state / "logs" / "nats.log")
    server.stop()


@pytest.fixture(scope="module")
def provisioned(secured: Secured, s3_server: S3Server) -> Secured:
    """The stream and the shared buckets, created by the provisioner (as ``make run`` does)."""
    done = asyncio.run(provision.run(secured.settings(names.PROVISIONER_USER, s3_server)))
    assert done == [f"stream {STREAM}", f"stream {names.JOBS_STREAM}", "bucket videos", "bucket cache"]
    return secured


@pytest.fixture
async def clients(secured: Secured) -> AsyncIterator[Callable[..., object]]:
    """``await clients(user, errors)``: a raw nats-py client signed in as ``user``, its reply
    inboxes under the user's prefix (``inbox=False``: nats-py's default ``_INBOX``), its
    asynchronous errors appended to ``errors``; all closed after the test."""
    opened: list[NATS] = []

    async def open_client(user: str, errors: list[str] | None = None, *, inbox: bool = True) -> NATS:
        async def collect(exc: Exception) -> None:
            if errors is not None:
                errors.append(str(exc))

        nc = await nats.connect(
            secured.server.url,
            user=user,
            password=secured.passwords[user],
            inbox_prefix=names.inbox_prefix(user) if inbox else names.INBOX_ROOT,
            error_cb=collect,
            connect_timeout=2,
            max_reconnect_attempts=0,
        )
        opened.append(nc)
        return nc

    yield open_client
    for nc in opened:
        with contextlib.suppress(Exception):
            await nc.close()


def refused(action: str, subject: str, queue: str | None = None) -> str:
    """The error nats-py reports when the server refuses (it lower-cases the server's text)."""
    what = "publish" if action == "publish" else "subscription"
    text = f'nats: Permissions Violation for {what} to "{subject}"'
    if queue is not None:
        text += f' using queue "{queue}"'
    return text.lower()


async def eventually(predicate: Callable[[], bool], what: str, within_s: float = 5) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def uploaded(video_id: str) -> VideoUploaded:
    return VideoUploaded(
        video_id=video_id,
        owner="alice",
        source_key=names.source_key(video_id, "mp4"),
        filename="clip.mp4",
        size=1,
        mime="video/mp4",
        format="mp4",
        duration_s=1.0,
    )


def record(video_id: str) -> VideoRecord:
    return VideoRecord(
        id=video_id,
        owner="alice",
        filename="clip.mp4",
        size=1,
        mime="video/mp4",
        format="mp4",
        duration_s=1.0,
    )


# ------------------------------------------------------------------------------------------------
# refused: another service's subjects, another service's replies


async def test_ingest_credentials_cannot_publish_another_services_event(
    provisioned: Secured, clients: Callable[..., object]
) -> None:
    errors: list[str] = []
    nc: NATS = await clients("ingest", errors)  # type: ignore[misc]
    js = nc.jetstream(timeout=1)
    transcribed = EventType.TRANSCRIBED.subject
    body = json.dumps({"video_id": new_id()}).encode()

    with pytest.raises(nats.errors.TimeoutError):  # the server dropped it: no stream acknowledged it
        await js.publish(transcribed, body)
    await nc.publish(transcribed, body)
    await nc.flush()
    await eventually(lambda: len(errors) >= 2, "the permissions violations")

    assert errors == [refused("publish", transcribed)] * 2
    # its own event goes through, to the stream
    ack = await js.publish(EventType.INGESTED.subject, body)
    assert ack.stream == STREAM
    # and nothing of the refused ones reached it (as the provisioner sees the stream)
    admin: NATS = await clients(names.PROVISIONER_USER)  # type: ignore[misc]
    info = await admin.jetstream(timeout=2).stream_info(STREAM, subjects_filter=names.EVENT_SUBJECTS)
    stored = info.state.subjects or {}
    assert transcribed not in stored
    assert stored.get(EventType.INGESTED.subject, 0) >= 1


async def test_ingest_credentials_cannot_subscribe_to_the_chat_subjects(
    provisioned: Secured, clients: Callable[..., object]
) -> None:
    mark = provisioned.mark()
    errors: list[str] = []
    ingest: NATS = await clients("ingest", errors)  # type: ignore[misc]
    others: list[str] = []
    chat: NATS = await clients("chat", others)  # type: ignore[misc]
    gateway: NATS = await clients("gateway", others)  # type: ignore[misc]
    cancels = names.chat_cancel_subject(names.CHAT_SUBJECT, "*")
    stolen = [
        await ingest.subscribe(names.CHAT_SUBJECT),
        await ingest.subscribe(names.CHAT_SUBJECT, queue=names.CHAT_QUEUE),
        await ingest.subscribe(cancels),
        await ingest.subscribe(names.SEARCH_SUBJECT, queue=names.SEARCH_QUEUE),
        await ingest.subscribe(">"),
    ]
    await ingest.flush()
    await eventually(lambda: len(errors) >= 5, "the subscription violations")
    assert sorted(errors) == sorted(
        [
            refused("subscribe", names.CHAT_SUBJECT),
            refused("subscribe", names.CHAT_SUBJECT, names.CHAT_QUEUE),
            refused("subscribe", cancels),
            refused("subscribe", names.SEARCH_SUBJECT, names.SEARCH_QUEUE),
            refused("subscribe", ">"),
        ]
    )

    # the chat service's own subscription gets the gateway's request; the refused ones get nothing
    received = await chat.subscribe(names.CHAT_SUBJECT, queue=names.CHAT_QUEUE)
    await chat.flush()
    await gateway.publish(names.CHAT_SUBJECT, b"{}")
    await gateway.publish(names.chat_cancel_subject(names.CHAT_SUBJECT, "r1"), b"")
    await gateway.flush()
    await eventually(lambda: received.pending_msgs == 1, "the chat service's request", within_s=10)
    await asyncio.sleep(0.2)
    assert [sub.pending_msgs for sub in stolen] == [0] * 5
    assert others == []
    assert provisioned.violations(mark, "chat") == provisioned.violations(mark, "gateway") == []


async def test_no_service_can_read_another_services_replies(
    provisioned: Secured, clients: Callable[..., object]
) -> None:
    errors: list[str] = []
    chat: NATS = await clients("chat", errors)  # type: ignore[misc]
    gateway: NATS = await clients("gateway")  # type: ignore[misc]
    indexer: NATS = await clients("indexer")  # type: ignore[misc]
    eavesdrop = [await chat.subscribe(f"{names.inbox_prefix('gateway')}.>"), await chat.subscribe("_INBOX.>")]
    await chat.flush()
    await eventually(lambda: len(errors) >= 2, "the subscription violations")
    assert errors == [
        refused("subscribe", f"{names.inbox_prefix('gateway')}.>"),
        refused("subscribe", f"{names.INBOX_ROOT}.>"),
    ]

    async def answer(msg: Msg) -> None:
        await msg.respond(SearchReply(hits=[]).model_dump_json().encode())

    await indexer.subscribe(names.SEARCH_SUBJECT, queue=names.SEARCH_QUEUE, cb=answer)
    await indexer.flush()
    # the gateway's request is answered in its own inbox, which nobody else saw
    assert await ask(gateway, names.SEARCH_SUBJECT, SearchRequest(q="lanterns", owner="alice"), 2) == []
    await asyncio.sleep(0.2)
    assert [sub.pending_msgs for sub in eavesdrop] == [0, 0]


async def test_without_its_inbox_prefix_a_service_gets_no_replies(
    provisioned: Secured, clients: Callable[..., object]
) -> None:
    """Why every service connects with ``inbox_prefix``: nats-py's default ``_INBOX`` is nobody's."""
    errors: list[str] = []
    chat: NATS = await clients("chat", errors, inbox=False)  # type: ignore[misc]
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
        await chat.request(names.SEARCH_SUBJECT, b"{}", timeout=1)
    await eventually(lambda: bool(errors), "the subscription violation")
    assert errors[0].startswith(refused("subscribe", names.INBOX_ROOT + ".")[:-1])


async def test_a_service_cannot_create_or_change_the_stream_or_the_shared_buckets(
    provisioned: Secured, clients: Callable[..., object]
) -> None:
    errors: list[str] = []
    gateway: NATS = await clients("gateway", errors)  # type: ignore[misc]
    js = gateway.jetstream(timeout=1)
    with pytest.raises(nats.errors.TimeoutError):
        await js.update_stream(api.StreamConfig(name=STREAM, subjects=[names.EVENT_SUBJECTS], max_age=1))
    with pytest.raises(nats.errors.TimeoutError):
        await js.create_key_value(api.KeyValueConfig(bucket=names.VIDEOS_BUCKET))
    with pytest.raises(nats.errors.TimeoutError):
        await js.delete_stream(STREAM)
    await eventually(lambda: len(errors) >= 3, "the violations")
    assert errors == [
        refused("publish", names.js_api("STREAM", verb, stream))
        for verb, stream in (("UPDATE", STREAM), ("CREATE", names.kv_stream("videos")), ("DELETE", STREAM))
    ]


async def test_the_chat_service_reads_the_catalog_but_cannot_write_it(
    provisioned: Secured, s3_server: S3Server
) -> None:
    mark = provisioned.mark()
    video_id = new_id()
    async with open_runtime("gateway", provisioned.settings("gateway", s3_server), asyncio.Event()) as gw:
        await gw.catalog.create(record(video_id))
    async with open_runtime("chat", provisioned.settings("chat", s3_server), asyncio.Event()) as chat:
        found = await chat.catalog.get("alice", video_id)
        assert found is not None
        assert found.id == video_id
        assert await chat.catalog.find(video_id) == "alice"  # a listing of the catalog: allowed
        with pytest.raises(nats.errors.TimeoutError):
            await chat.catalog.delete("alice", video_id)
        with pytest.raises(nats.errors.TimeoutError):  # the gateway's API keys are not its business
            await chat.js.key_value(names.KEYS_BUCKET)
    refused, keys = provisioned.violations(mark, "chat")
    record_subject = names.kv_subjects("videos")[:-1] + names.catalog_key("alice", video_id)
    assert f'Publish Violation - Subject "{record_subject}"' in refused
    assert f'Publish Violation - Subject "{names.js_api("STREAM", "INFO", names.kv_stream("keys"))}"' in keys


# ------------------------------------------------------------------------------------------------
# allowed: what each service does, with its own credentials


async def test_the_gateway_does_its_part_with_its_credentials(
    provisioned: Secured, s3_server: S3Server, clients: Callable[..., object]
) -> None:
    mark = provisioned.mark()
    indexer: NATS = await clients("indexer")  # type: ignore[misc]
    chat: NATS = await clients("chat")  # type: ignore[misc]
    vid = new_id()
    hit = SearchHit(
        video_id=vid,
        filename="a.mp4",
        start=1.0,
        end=2.0,
        text="lanterns",
        score=1.0,
        segment_ids=[0],
        link=vid,
    )

    async def search(msg: Msg) -> None:
        await msg.respond(SearchReply(hits=[hit]).model_dump_json().encode())

    async def answer(msg: Msg) -> None:  # a streamed answer: several chunks to the one inbox
        assert msg.reply
        for seq, kind in enumerate(("accepted", "token", "done")):
            chunk = ChatChunk(seq=seq, type=kind, content="x")
            await chat.publish(msg.reply, chunk.model_dump_json().encode())

    await indexer.subscribe(names.SEARCH_SUBJECT, queue=names.SEARCH_QUEUE, cb=search)
    await chat.subscribe(names.CHAT_SUBJECT, queue=names.CHAT_QUEUE, cb=answer)
    cancels = await chat.subscribe(names.chat_cancel_subject(names.CHAT_SUBJECT, "*"))
    await indexer.flush()
    await chat.flush()

    settings = provisioned.settings("gateway", s3_server)
    async with open_runtime("gateway", settings, asyncio.Event()) as rt:
        video_id = new_id()
        await rt.catalog.create(record(video_id))
        assert [r.id for r in (await rt.catalog.list("alice", limit=100))[0]].count(video_id) == 1
        assert await rt.catalog.find(video_id) == "alice"
        assert (await rt.catalog.totals("alice"))[1] >= 1  # a listing by owner
        changed, _ = await rt.catalog.update(
            "alice", video_id, lambda r: r.model_copy(update={"filename": "b.mp4"})
        )
        assert changed is not None
        assert changed.filename == "b.mp4"
        key = names.video_cache_key(video_id, "transcript")
        await rt.cache.set(key, {"segments": []})
        assert await rt.cache.get(key, fresh=True) == {"segments": []}
        await rt.cache.invalidate_prefix(names.cache_prefix(video_id))
        assert await rt.cache.get(key, fresh=True) is None
        ack = await publish_event(rt.js, uploaded(video_id))
        assert ack.stream == STREAM
        assert await ask(rt.nc, names.SEARCH_SUBJECT, SearchRequest(q="lanterns", owner="alice"), 2) == [hit]
        chunks = await _ask_chat(rt, video_id)
        assert [c.type for c in chunks] == ["accepted", "token", "done"]
        await rt.nc.publish(names.chat_cancel_subject(names.CHAT_SUBJECT, "r1"), b"")
        assert (await cancels.next_msg(timeout=2)).subject.endswith(".cancel.r1")
        assert await rt.catalog.delete("alice", video_id)
        # the buckets it alone uses, it creates itself (and reads, writes, watches)
        for bucket in names.GATEWAY_BUCKETS:
            kv = await provision_kv(rt.js, bucket, ttl_s=3600)
            await kv.put("k1", b"v")
            assert (await kv.get("k1")).value == b"v"
            assert await live_keys(kv) == ["k1"]
            await kv.delete("k1")
        await _authenticate(rt)
    assert provisioned.violations(mark) == []


async def _authenticate(rt: Runtime) -> None:
    """The gateway's authentication as it runs: its buckets opened, the bootstrap admin key stored,
    the keys bucket watched and checked against its stream (the revocation bound), a key made and
    revoked, a session, the usage and rate counters."""
    admin_key = generate_key()[1]
    rt.settings.gateway.bootstrap_admin_key = SecretStr(admin_key)
    async with open_authenticator(rt) as auth:
        await eventually(lambda: auth.cache.in_sync, "the key watch to be in sync")
        assert (await auth.from_key(admin_key)).role == "admin"
        key, stored = await auth.keys.create("alice", "member")
        assert (await auth.from_key(key)).owner == "alice"  # in the watch or read from the bucket
        assert await auth.lookup(generate_key()[0]) is None  # a miss read from the bucket
        assert {k.id for k in await auth.keys.all()} >= {parse_key(admin_key), stored.id}
        await auth.keys.revoke(stored.id)

        deadline = time.monotonic() + 5
        while (found := await auth.lookup(stored.id)) is None or found[0].revoked_at is None:
            assert time.monotonic() < deadline, "timed out waiting for the revocation in the watch"
            await asyncio.sleep(0.02)
        now = datetime.now(UTC)
        await auth.sessions.create("digest1", Session(key_id=stored.id, created_at=now, expires_at=now))
        assert await auth.sessions.get("digest1") is not None
        await auth.sessions.delete("digest1")
        await auth.quotas.count_request("bob")
        await auth.quotas.settle(await auth.quotas.reserve_upload("bob", 10), 10)
        usage = await auth.quotas.usage("bob")
        assert (usage.bytes, usage.requests_this_minute) == (10, 1)
        assert "bob" in await auth.quotas.owners()


async def _ask_chat(rt: Runtime, video_id: str) -> list[ChatChunk]:
    """The gateway's side of a chat request, as the WebSocket relay does it."""
    inbox = rt.nc.new_inbox()
    assert inbox.startswith(names.inbox_prefix("gateway") + ".")
    sub = await rt.nc.subscribe(inbox)
    request = ChatRequest(
        request_id="r1", message_id="r1", conversation_id="c1", video_id=video_id, owner="alice", content="?"
    )
    await rt.nc.publish(names.CHAT_SUBJECT, request.model_dump_json().encode(), reply=inbox)
    chunks = [ChatChunk.model_validate_json((await sub.next_msg(timeout=2)).data) for _ in range(3)]
    await sub.unsubscribe()
    return chunks


STAGES = {"ingest": "ingest", "transcriber": "transcribe", "indexer": "index"}


def publisher_of(event: EventType) -> str:
    """The service that publishes ``event`` (the only user allowed to)."""
    return next(user for user, access in ACCESS.items() if event.value in access.events)


def event_for(event: EventType, video_id: str) -> Event:
    if event is EventType.UPLOADED:
        return uploaded(video_id)
    if event is EventType.INGESTED:
        return VideoIngested(
            video_id=video_id,
            owner="alice",
            source_key=names.source_key(video_id, "mp4"),
            thumbnail_key=names.thumbnail_key(video_id),
            audio_key=None,
            duration_s=1.0,
            width=320,
            height=240,
            video_codec="h264",
            has_audio=False,
        )
    keys = names.transcript_keys(video_id)
    return VideoTranscribed(
        video_id=video_id,
        owner="alice",
        transcript_key=keys["transcript"],
        srt_key=keys["srt"],
        vtt_key=keys["vtt"],
        segment_count=0,
        duration_s=1.0,
    )


async def until(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 15) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("service", WORKERS)
async def test_a_worker_consumes_acks_retries_and_fails_with_its_credentials(
    service: str, provisioned: Secured, s3_server: S3Server, clients: Callable[..., object]
) -> None:
    """Its own consumer (created, then updated, by itself), fetch, nak, ``in_progress``, ack, term,
    the failed record and event, progress (the transcriber), the max-deliveries advisory and
    reading the lost job's event back: the server logs no violation for any of it."""
    mark = provisioned.mark()
    spec = CONSUMERS[service]
    trigger = spec.events[0]
    worker = WorkerSettings(concurrency=2, max_deliver=2, ack_wait_s=1.0, backoff_s=0.1, fetch_timeout_s=0.25)
    peer: NATS = await clients(publisher_of(trigger))  # type: ignore[misc]
    peer_js = peer.jetstream(timeout=2)
    good, bad, lost = new_id(), new_id(), new_id()
    stop = asyncio.Event()
    async with open_runtime(service, provisioned.settings(service, s3_server), stop, worker=worker) as rt:
        info = await rt.js.consumer_info(STREAM, spec.durable)
        assert info.config.max_deliver == 2
        await provision_consumer(rt.js, STREAM, spec, worker)  # updating its own consumer is allowed
        for video_id in (good, bad):
            await rt.catalog.create(record(video_id))
        seen: list[tuple[str, int]] = []

        async def handler(event: Event, attempt: int) -> None:
            seen.append((event.video_id, attempt))
            if event.video_id == bad:
                raise PermanentError("never works")
            if attempt == 1:
                raise RuntimeError("the first try fails")  # nak, redelivered
            await asyncio.sleep(0.6)  # past a third of the ack wait: an in_progress heartbeat
            if service == "transcriber":
                await rt.nc.publish(
                    Progress(video_id=event.video_id, stage="transcribe", percent=50).subject, b"{}"
                )

        task = asyncio.create_task(run_worker(rt, STAGES[service], handler, worker))
        try:
            for video_id in (good, bad):
                await publish_event(peer_js, event_for(trigger, video_id))

            async def failed() -> bool:
                found = await rt.catalog.get("alice", bad)
                return found is not None and found.status is Status.FAILED

            await until(failed, "the video that cannot succeed to fail")
            await eventually(lambda: (good, 2) in seen, "the retried job to run again", within_s=15)
            await asyncio.sleep(0.8)  # the retried job finishes (and is acked)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        assert (good, 3) not in seen  # acked: not delivered again

        # a job whose deliveries are never settled: the advisory arrives, its event is read back
        advisories = await rt.nc.subscribe(names.max_deliveries_advisory(STREAM, spec.durable))
        await publish_event(peer_js, event_for(trigger, lost))
        pull = await rt.js.pull_subscribe_bind(spec.durable, stream=STREAM)
        for _ in range(worker.max_deliver):
            await pull.fetch(1, timeout=5)
        with pytest.raises(nats.errors.TimeoutError):  # a pull consumer gives up on the next pull
            await pull.fetch(1, timeout=2)
        advisory = json.loads((await advisories.next_msg(timeout=10)).data)
        raw = await rt.js.get_msg(STREAM, int(advisory["stream_seq"]))
        assert json.loads(raw.data or b"{}")["video_id"] == lost
        await pull.unsubscribe()
        await advisories.unsubscribe()
    admin: NATS = await clients(names.PROVISIONER_USER)  # type: ignore[misc]
    info_all = await admin.jetstream(timeout=2).stream_info(STREAM, subjects_filter=EventType.FAILED.subject)
    assert (info_all.state.subjects or {}).get(EventType.FAILED.subject, 0) >= 1
    assert provisioned.violations(mark) == []


# ------------------------------------------------------------------------------------------------
# provisioning under least privilege


def _secured_server(state: Path) -> Secured:
    passwords = {user: secrets.token_urlsafe(18) for user in ACCESS}
    server = start_nats(
        state,
        "127.0.0.1",
        free_port(),
        free_port(),
        sink=io.StringIO(),
        authorization=authorization(passwords),
    )
    return Secured(server, passwords, state / "logs" / "nats.log")


async def test_services_wait_for_the_provisioner_then_start(tmp_path: Path, s3_server: S3Server) -> None:
    fresh = _secured_server(tmp_path)
    try:
        # one that waits longer than nats.provision_wait_s says what is missing and who makes it
        impatient = fresh.settings("chat", s3_server, nats={"provision_wait_s": 0.5})
        with pytest.raises(ConnectionError, match="not found on NATS after 0 s: run the provisioner"):
            async with open_runtime("chat", impatient, asyncio.Event()):
                pass

        async def start_ingest() -> str:
            settings = fresh.settings("ingest", s3_server)
            async with open_runtime("ingest", settings, asyncio.Event(), worker=WorkerSettings()) as rt:
                return (await rt.js.consumer_info(STREAM, names.INGEST_CONSUMER)).name

        starting = asyncio.create_task(start_ingest())
        await asyncio.sleep(1.5)
        assert not starting.done()  # nothing to open yet: it waits (it may not create the stream)
        await provision.run(fresh.settings(names.PROVISIONER_USER, s3_server))
        assert await asyncio.wait_for(starting, 10) == names.INGEST_CONSUMER
        assert fresh.violations(0) == []
    finally:
        fresh.server.stop()


# ------------------------------------------------------------------------------------------------
# an event subscriber outside vidsage


async def test_a_subscriber_reads_the_events_with_consumers_of_its_own(
    provisioned: Secured, s3_server: S3Server, clients: Callable[..., object]
) -> None:
    mark = provisioned.mark()
    errors: list[str] = []
    subscriber: NATS = await clients(names.SUBSCRIBER_USER, errors)  # type: ignore[misc]
    gateway: NATS = await clients("gateway")  # type: ignore[misc]
    transcriber: NATS = await clients("transcriber")  # type: ignore[misc]
    ingest: NATS = await clients("ingest")  # type: ignore[misc]
    await provision_consumer(ingest.jetstream(timeout=2), STREAM, CONSUMERS["ingest"], WorkerSettings())
    js = subscriber.jetstream(timeout=1)

    # its own durable pull consumer: created, fetched from, acked; core progress too
    audit = await js.pull_subscribe(names.EVENT_SUBJECTS, durable="audit", stream=STREAM)
    progress = await subscriber.subscribe(names.progress_subject("*"))
    await subscriber.flush()
    video_id = new_id()
    await publish_event(gateway.jetstream(timeout=2), uploaded(video_id))
    await transcriber.publish(names.progress_subject(video_id), b"{}")
    found = []
    while video_id not in found:
        for msg in await audit.fetch(10, timeout=5):
            found.append(json.loads(msg.data).get("video_id"))
            await msg.ack()
    assert (await progress.next_msg(timeout=2)).subject == names.progress_subject(video_id)
    assert provisioned.violations(mark) == []

    # a worker's consumer it can neither create, rewrite, read from nor delete; events it cannot publish
    ingest_before = await ingest.jetstream(timeout=2).consumer_info(STREAM, names.INGEST_CONSUMER)
    body = {"stream_name": STREAM, "config": {"name": names.INGEST_CONSUMER, "max_deliver": 99}}
    attempts = [
        names.js_api("CONSUMER", "CREATE", STREAM),  # the nameless form, naming ingest in the body
        names.js_api("CONSUMER", "CREATE", STREAM, names.INGEST_CONSUMER),
        names.js_api("CONSUMER", "DURABLE", "CREATE", STREAM, names.INGEST_CONSUMER),
        names.js_api("CONSUMER", "MSG", "NEXT", STREAM, names.INGEST_CONSUMER),
        names.js_api("CONSUMER", "DELETE", STREAM, names.INGEST_CONSUMER),
        EventType.UPLOADED.subject,
    ]
    for subject in attempts:
        await subscriber.publish(subject, json.dumps(body).encode(), reply=subscriber.new_inbox())
    await subscriber.flush()
    await eventually(lambda: len(errors) >= len(attempts), "the violations")
    assert errors == [refused("publish", subject) for subject in attempts]
    ingest_after = await ingest.jetstream(timeout=2).consumer_info(STREAM, names.INGEST_CONSUMER)
    assert ingest_after.config == ingest_before.config
    await audit.unsubscribe()


async def test_the_observer_reads_the_events_and_the_infos_and_nothing_else(
    provisioned: Secured, clients: Callable[..., object]
) -> None:
    """The chaos tier's checker: the stream read back message by message, the replicas of the
    stream and the buckets; no consumer, no entry of a bucket, no write."""
    mark = provisioned.mark()
    errors: list[str] = []
    observer: NATS = await clients(names.OBSERVER_USER, errors)  # type: ignore[misc]
    gateway: NATS = await clients("gateway")  # type: ignore[misc]
    video_id = new_id()
    ack = await publish_event(gateway.jetstream(timeout=2), uploaded(video_id))
    js = observer.jetstream(timeout=2)
    info = await js.stream_info(STREAM)
    assert info.state.last_seq >= ack.seq
    msg = await js.get_msg(STREAM, ack.seq)
    assert json.loads(msg.data or b"{}")["video_id"] == video_id
    for bucket in (names.VIDEOS_BUCKET, names.CACHE_BUCKET):
        assert (await js.stream_info(names.kv_stream(bucket))).config.num_replicas == 1
    assert provisioned.violations(mark) == []

    attempts = [
        names.js_api("CONSUMER", "CREATE", STREAM),  # an ordered consumer: it may attach none
        names.js_api("CONSUMER", "DURABLE", "CREATE", STREAM, "mine"),
        names.js_api("STREAM", "MSG", "GET", names.kv_stream(names.VIDEOS_BUCKET)),  # no record
        names.kv_subjects(names.VIDEOS_BUCKET).replace(">", video_id),
        names.js_api("STREAM", "UPDATE", STREAM),
        EventType.UPLOADED.subject,
    ]
    for subject in attempts:
        await observer.publish(subject, b"{}", reply=observer.new_inbox())
    await observer.flush()
    await eventually(lambda: len(errors) >= len(attempts), "the violations")
    assert errors == [refused("publish", subject) for subject in attempts]


async def test_why_the_nameless_consumer_create_is_no_subscribers(nats_server: NatsServer) -> None:
    """On an open server: the nameless ``CONSUMER.CREATE.<stream>`` takes the consumer's name from
    the request body, so whoever may send it rewrites a worker's durable; the named form keeps the
    subject's name whatever the body says. Hence the subscriber gets only the named form."""
    nc = await nats.connect(nats_server.url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=2)
        await js.add_stream(api.StreamConfig(name=STREAM, subjects=[names.EVENT_SUBJECTS]))
        await provision_consumer(js, STREAM, CONSUMERS["ingest"], WorkerSettings(max_deliver=4))
        rewrite = {"name": names.INGEST_CONSUMER, "ack_policy": "explicit", "max_deliver": 99}
        body = {"stream_name": STREAM, "config": rewrite}
        named = await nc.request(
            names.js_api("CONSUMER", "CREATE", STREAM, "audit"), json.dumps(body).encode(), timeout=2
        )
        assert json.loads(named.data)["name"] == "audit"
        assert (await js.consumer_info(STREAM, names.INGEST_CONSUMER)).config.max_deliver == 4
        await nc.request(names.js_api("CONSUMER", "CREATE", STREAM), json.dumps(body).encode(), timeout=2)
        assert (await js.consumer_info(STREAM, names.INGEST_CONSUMER)).config.max_deliver == 99
    finally:
        await nc.close()


async def test_transcription_jobs_go_from_the_gateway_to_the_transcriber_and_no_one_else(
    provisioned: Secured, clients: Callable[..., object]
) -> None:
    """``POST /v1/audio/transcriptions`` on the bus: the gateway submits a job to the work queue,
    the transcriber takes it with its consumer and answers on the gateway's inbox; nobody else may
    submit one or attach a consumer to the jobs stream (and so take jobs)."""
    from vidsage.settings import TranscriberSettings
    from vidsage_transcriber.jobs import jobs_consumer_config

    mark = provisioned.mark()
    gateway: NATS = await clients("gateway")  # type: ignore[misc]
    transcriber: NATS = await clients("transcriber")  # type: ignore[misc]
    replies = await gateway.subscribe(gateway.new_inbox() + ".job", max_msgs=1)
    await gateway.flush()
    ack = await gateway.jetstream(timeout=2).publish(
        names.TRANSCRIBE_JOB_SUBJECT, replies.subject.encode(), headers={"Nats-Msg-Id": new_id()}
    )
    assert ack.stream == names.JOBS_STREAM
    tjs = transcriber.jetstream(timeout=2)
    await tjs.add_consumer(names.JOBS_STREAM, jobs_consumer_config(TranscriberSettings()))
    sub = await tjs.pull_subscribe_bind(names.TRANSCRIBE_JOBS_CONSUMER, stream=names.JOBS_STREAM)
    (job,) = await sub.fetch(1, timeout=5)
    await transcriber.publish(job.data.decode(), b'{"job_id": "j"}')
    await job.ack()
    reply = await replies.next_msg(timeout=5)
    assert reply.data == b'{"job_id": "j"}'
    assert provisioned.violations(mark) == []

    for user in ("ingest", "indexer", "chat", names.SUBSCRIBER_USER):
        errors: list[str] = []
        other: NATS = await clients(user, errors)  # type: ignore[misc]
        await other.publish(names.TRANSCRIBE_JOB_SUBJECT, b"{}")
        await other.flush()
        await eventually(lambda e=errors: bool(e), f"{user} refused")  # type: ignore[misc]
        assert refused("publish", names.TRANSCRIBE_JOB_SUBJECT) in errors, (user, errors)
        with pytest.raises(Exception):  # noqa: B017,PT011 (refused: no answer, a timeout)
            await other.jetstream(timeout=1).add_consumer(
                names.JOBS_STREAM, jobs_consumer_config(TranscriberSettings())
            )
