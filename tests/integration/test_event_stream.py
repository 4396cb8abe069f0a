"""Live status over Server-Sent Events: the gateway in-process over a real nats-server and a real S3
server; the events are published on the real stream as the workers publish them, the records are
real catalog records, the stream is read over HTTP with the client's SSE reader.

- a stream sees status changes (the record's status after each event), progress and deletion;
- resume with ``Last-Event-ID`` after a dropped connection with events in between gives exactly
  the missed frames, in order, then the live ones: nothing missed, nothing twice;
- an id the stream no longer holds (or never held) gets ``event: reset``;
- tenants never see each other's frames; another tenant's id answers like an unknown id;
- no key → 401, a bad ``Last-Event-ID`` → 400, too many streams → 429, all in JSON, before any stream;
- heartbeats arrive; a revoked key ends its stream; stopping the gateway ends every stream;
- the client's ``wait`` (``vidsage upload --wait``, ``status --wait``) follows the video over the stream,
  and polls when the stream is refused.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from nats.js.api import PubAck

from tests.support.auth import ADMIN_KEY, bearer, create_key, gateway_auth_settings, revoke_key
from tests.support.events import ingested
from tests.support.gateway import RunningGateway, running_gateway
from vidsage.bus import publish_event
from vidsage.contracts import names
from vidsage.contracts.events import (
    Progress,
    VideoIndexed,
    VideoTranscribed,
    VideoUploaded,
)
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord
from vidsage_client.client import Client
from vidsage_client.sse import SseMessage, read_sse
from vidsage_dev.infra import NatsServer, S3Server
from vidsage_gateway.event_stream import HUB

from .conftest import make_settings

pytestmark = pytest.mark.timeout(60)

UNKNOWN = "01890a5d-ac96-774b-bcce-b302099a8057"
FRAME_WAIT_S = 10


@dataclass
class World:
    gw: RunningGateway
    session: aiohttp.ClientSession
    keys: dict[str, str]
    key_ids: dict[str, str]


@pytest.fixture
async def world(nats_server: NatsServer, s3_server: S3Server) -> AsyncIterator[World]:
    settings = make_settings(
        nats_server.url,
        s3_server.endpoint,
        gateway=gateway_auth_settings(),
        sse={"heartbeat_s": 0.5, "max_per_owner": 3, "retry_ms": 1500},
    )
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as session:
        keys, key_ids = {}, {}
        for owner in ("acme", "bravo"):
            keys[owner], key_ids[owner] = await create_key(session, gw.url, owner)
        yield World(gw, session, keys, key_ids)


async def new_video(world: World, owner: str) -> VideoRecord:
    """A record in the catalog and its ``uploaded`` event, as the upload route leaves them."""
    record = VideoRecord(
        id=new_id(), owner=owner, filename="clip.mp4", size=10, mime="video/mp4", format="mp4", duration_s=1.0
    )
    await world.gw.rt.catalog.create(record)
    await dispatched(world, await publish_event(world.gw.rt.js, uploaded(record)))
    return record


async def dispatched(world: World, ack: PubAck) -> None:
    """Wait until the gateway's feed has handed the event on (so a stream opened now, or the next
    change of the record, comes after it: the tests read their frames in a known order)."""
    hub = world.gw.app[HUB]
    async with asyncio.timeout(FRAME_WAIT_S):
        while hub.position < ack.seq:  # noqa: ASYNC110 - the feed's position, no event to await
            await asyncio.sleep(0.005)


def uploaded(record: VideoRecord) -> VideoUploaded:
    return VideoUploaded(
        video_id=record.id,
        owner=record.owner,
        source_key=names.source_key(record.id, "mp4"),
        filename=record.filename,
        size=record.size,
        mime=record.mime,
        format="mp4",
        duration_s=record.duration_s,
    )


async def advance(world: World, record: VideoRecord, stage: str, **fields: Any) -> VideoRecord:
    """A stage of ``record`` done (the catalog), then its event (the stream), as a worker does."""
    rt = world.gw.rt
    new, _ = await rt.catalog.update(record.owner, record.id, lambda r: r.begin(stage, 1))
    new, _ = await rt.catalog.update(record.owner, record.id, lambda r: r.finish(stage))
    assert new is not None
    base = {"video_id": record.id, "owner": record.owner}
    if stage == "ingest":
        event: Any = ingested(record.id, record.owner)
    elif stage == "transcribe":
        event = VideoTranscribed(
            **base, transcript_key="a", srt_key="b", vtt_key="c", segment_count=0, duration_s=1
        )
    else:
        event = VideoIndexed(**base, passage_count=0)
    await dispatched(world, await publish_event(rt.js, event))
    return new


class Stream:
    """One open SSE stream and its messages."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self._messages = read_sse(response, comments=True)
        self.last_id: str | None = None

    async def next(self, *, comments: bool = False) -> SseMessage:
        async with asyncio.timeout(FRAME_WAIT_S):
            async for message in self._messages:
                self.last_id = message.id
                if message.comment is not None and not comments:
                    continue
                return message
        raise EOFError("the stream ended")

    async def frame(self, kind: str | None = None) -> tuple[SseMessage, dict[str, Any]]:
        """The next frame (not a comment), skipping progress unless asked for."""
        while True:
            message = await self.next()
            if message.event == "progress" and kind != "progress":
                continue
            data = json.loads(message.data)
            assert data["type"] == message.event
            if kind is None or message.event == kind:
                return message, data

    async def ended(self) -> bool:
        try:
            async with asyncio.timeout(FRAME_WAIT_S):
                async for message in self._messages:
                    if message.comment is None:
                        raise AssertionError(f"a frame after the end: {message}")
        except TimeoutError:
            return False
        return True


async def open_stream(world: World, path: str, key: str, **headers: str) -> Stream:
    response = await world.session.get(f"{world.gw.url}{path}", headers={**bearer(key), **headers})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    return Stream(response)


async def test_a_video_stream_follows_the_video_to_ready_then_its_deletion(world: World) -> None:
    record = await new_video(world, "acme")
    stream = await open_stream(world, f"/api/videos/{record.id}/events", world.keys["acme"])
    snapshot, data = await stream.frame()
    assert (snapshot.event, data["status"], data["video_id"]) == ("status", "uploaded", record.id)
    assert "event" not in data
    assert int(snapshot.id or "") >= 1
    record = await advance(world, record, "ingest")
    _, data = await stream.frame()
    assert (data["event"], data["status"]) == ("ingested", "ingested")
    await world.gw.rt.nc.publish(
        names.progress_subject(record.id),
        Progress(video_id=record.id, stage="transcribe", percent=40).model_dump_json().encode(),
    )
    progress, data = await stream.frame("progress")
    assert progress.id == stream.last_id  # a progress frame sets no id of its own
    assert (data["stage"], data["progress"]) == ("transcribe", 40)
    record = await advance(world, record, "transcribe")
    record = await advance(world, record, "index")
    statuses = [(await stream.frame())[1]["status"] for _ in range(2)]
    assert statuses == ["transcribed", "ready"]
    async with world.session.delete(
        f"{world.gw.url}/api/videos/{record.id}", headers=bearer(world.keys["acme"])
    ) as resp:
        assert resp.status == 204
    _, data = await stream.frame()
    assert (data["type"], data["video_id"]) == ("deleted", record.id)
    assert await stream.ended()  # the per-video stream ends after its video is gone


async def test_resume_after_a_dropped_connection_misses_nothing_and_repeats_nothing(world: World) -> None:
    first = await new_video(world, "acme")
    stream = await open_stream(world, "/api/events", world.keys["acme"])
    opened, _ = await stream.frame("open")
    second = await new_video(world, "acme")
    message, data = await stream.frame()
    assert (data["video_id"], data["status"]) == (second.id, "uploaded")
    seen = message.id
    stream.response.close()  # the connection drops; meanwhile three events and another tenant's
    first = await advance(world, first, "ingest")
    await new_video(world, "bravo")
    second = await advance(world, second, "ingest")
    first = await advance(world, first, "transcribe")
    resumed = await open_stream(world, "/api/events", world.keys["acme"], **{"Last-Event-ID": seen or ""})
    replayed = [await resumed.frame() for _ in range(3)]
    assert [(d["video_id"], d["event"]) for _, d in replayed] == [
        (first.id, "ingested"),
        (second.id, "ingested"),
        (first.id, "transcribed"),
    ]
    ids = [int(m.id or 0) for m, _ in replayed]
    assert ids == sorted(ids)
    assert ids[0] > int(seen or 0) > int(opened.id or 0)
    third = await new_video(world, "acme")  # then live, from the same stream
    message, data = await resumed.frame()
    assert (data["video_id"], data["event"]) == (third.id, "uploaded")
    assert int(message.id or 0) > ids[-1]
    # ?last_event_id= does the same for clients that cannot set headers
    again = await open_stream(world, f"/api/events?last_event_id={ids[1]}", world.keys["acme"])
    _, data = await again.frame()
    assert (data["video_id"], data["event"]) == (first.id, "transcribed")
    _, data = await again.frame()
    assert (data["video_id"], data["event"]) == (third.id, "uploaded")


async def test_an_id_the_stream_does_not_hold_gets_reset(world: World) -> None:
    for _ in range(3):
        await new_video(world, "acme")
    future = await open_stream(world, "/api/events", world.keys["acme"], **{"Last-Event-ID": "999999"})
    _, data = await future.frame()
    assert data["type"] == "reset"
    await world.gw.rt.js.purge_stream(world.gw.rt.settings.nats.stream)  # retention dropped them
    record = await new_video(world, "acme")
    gone = await open_stream(world, "/api/events", world.keys["acme"], **{"Last-Event-ID": "1"})
    message, data = await gone.frame()
    assert data["type"] == "reset"
    assert int(message.id or 0) >= 3
    await advance(world, record, "ingest")
    _, data = await gone.frame()
    assert (data["video_id"], data["event"]) == (record.id, "ingested")


async def test_tenants_never_see_each_others_frames(world: World) -> None:
    acme_all = await open_stream(world, "/api/events", world.keys["acme"])
    bravo_all = await open_stream(world, "/api/events", world.keys["bravo"])
    admin_all = await open_stream(world, "/api/events?owner=*", ADMIN_KEY)
    for stream in (acme_all, bravo_all, admin_all):
        await stream.frame("open")
    theirs = await new_video(world, "bravo")
    await world.gw.rt.nc.publish(
        names.progress_subject(theirs.id),
        Progress(video_id=theirs.id, stage="transcribe", percent=5).model_dump_json().encode(),
    )
    ours = await new_video(world, "acme")
    _, data = await acme_all.frame()
    assert data["video_id"] == ours.id  # bravo's upload (and progress) came first, and was not sent
    _, data = await bravo_all.frame()
    assert data["video_id"] == theirs.id
    seen = {(await admin_all.frame())[1]["video_id"] for _ in range(2)}
    assert seen == {theirs.id, ours.id}
    # another tenant's id answers exactly like an id nobody has, before any stream
    answers = []
    for video_id in (theirs.id, UNKNOWN):
        async with world.session.get(
            f"{world.gw.url}/api/videos/{video_id}/events", headers=bearer(world.keys["acme"])
        ) as resp:
            answers.append((resp.status, resp.content_type, await resp.read()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404
    assert json.loads(answers[0][2])["error"]["code"] == "not_found"


async def test_refusals_come_in_json_before_any_stream(world: World) -> None:
    for path in ("/api/events", f"/api/videos/{UNKNOWN}/events"):
        async with world.session.get(f"{world.gw.url}{path}") as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "missing_credentials"
    async with world.session.get(
        f"{world.gw.url}/api/events", headers={**bearer(world.keys["acme"]), "Last-Event-ID": "12abc"}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "bad_request"
    streams = [await open_stream(world, "/api/events", world.keys["acme"]) for _ in range(3)]
    async with world.session.get(f"{world.gw.url}/api/events", headers=bearer(world.keys["acme"])) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"]
        assert (await resp.json())["error"]["code"] == "too_many_streams"
    other = await open_stream(world, "/api/events", world.keys["bravo"])  # a limit per tenant
    await other.frame("open")
    streams[0].response.close()
    for _ in range(50):  # the gateway notices the closed connection at the next heartbeat
        async with world.session.get(
            f"{world.gw.url}/api/events", headers=bearer(world.keys["acme"])
        ) as resp:
            if resp.status == 200:
                break
        await asyncio.sleep(0.2)
    assert resp.status == 200


async def test_heartbeats_keep_the_stream_and_a_revoked_key_ends_it(world: World) -> None:
    stream = await open_stream(world, "/api/events", world.keys["acme"])
    first = await stream.next()
    assert first.retry_ms == 1500
    assert first.event == "open"
    ping = await stream.next(comments=True)
    assert ping.comment == "ping"
    await revoke_key(world.session, world.gw.url, world.key_ids["acme"])
    assert await stream.ended()
    async with world.session.get(f"{world.gw.url}/api/events", headers=bearer(world.keys["acme"])) as resp:
        assert resp.status == 401


async def test_stopping_the_gateway_ends_every_stream(nats_server: NatsServer, s3_server: S3Server) -> None:
    settings = make_settings(nats_server.url, s3_server.endpoint, sse={"heartbeat_s": 30})
    async with aiohttp.ClientSession() as session, running_gateway(settings) as gw:
        response = await session.get(f"{gw.url}/api/events", headers=bearer(ADMIN_KEY))
        stream = Stream(response)
        await stream.frame("open")
        closing = asyncio.create_task(gw.server.close())
        assert await stream.ended()
        await closing


async def _until(condition: Any) -> None:
    async with asyncio.timeout(FRAME_WAIT_S):
        while not condition():  # noqa: ASYNC110 - state of the gateway and the client, no event to await
            await asyncio.sleep(0.02)


async def test_the_client_waits_over_the_live_stream(world: World) -> None:
    """``vidsage upload --wait`` / ``status --wait`` (:meth:`Client.wait`): over the video's stream."""
    record = await new_video(world, "acme")
    hub = world.gw.app[HUB]
    seen: list[str] = []
    async with Client(world.gw.url, api_key=world.keys["acme"]) as client:
        waiting = asyncio.create_task(
            client.wait(record.id, on_update=lambda r: seen.append(r["status"]), interval_s=30)
        )
        await _until(lambda: hub.open_streams == 1 and seen)  # listening (a poll would wait 30 s)
        for stage in ("ingest", "transcribe", "index"):
            record = await advance(world, record, stage)
        done = await waiting
    assert done["status"] == "ready"
    # the record is read again on each status frame, so a quick one may already be further on
    assert seen[0] == "uploaded"
    assert seen[-1] == "ready"
    order = [status.value for status in Status if status is not Status.FAILED]  # pipeline order
    assert seen == sorted(seen, key=order.index)
    await _until(lambda: hub.open_streams == 0)  # it hung up once the video was ready (the gateway
    # notices the closed connection at its next write: a heartbeat at the latest)


async def test_the_client_polls_when_the_live_stream_is_refused(world: World) -> None:
    record = await new_video(world, "acme")
    hub = world.gw.app[HUB]
    taken = [await open_stream(world, "/api/events", world.keys["acme"]) for _ in range(3)]  # the limit
    seen: list[str] = []
    async with Client(world.gw.url, api_key=world.keys["acme"]) as client:
        waiting = asyncio.create_task(
            client.wait(record.id, on_update=lambda r: seen.append(r["status"]), interval_s=0.05)
        )
        await _until(lambda: seen)  # polling (429 too_many_streams for the stream)
        for stage in ("ingest", "transcribe", "index"):
            record = await advance(world, record, stage)
        done = await waiting
    assert done["status"] == "ready"
    assert seen[0] == "uploaded"
    assert hub.open_streams == len(taken)


async def test_progress_reaches_the_owners_streams_only(world: World) -> None:
    """Progress carries no owner: the gateway finds it in the catalog (once) before sending any."""
    record = VideoRecord(
        id=new_id(), owner="acme", filename="quiet.mp4", size=1, mime="video/mp4", format="mp4", duration_s=1
    )
    await world.gw.rt.catalog.create(record)  # no event: the gateway has not heard of this video
    acme_all = await open_stream(world, "/api/events", world.keys["acme"])
    bravo_all = await open_stream(world, "/api/events", world.keys["bravo"])
    for stream in (acme_all, bravo_all):
        await stream.frame("open")

    async def report() -> None:
        for percent in range(1, 100):
            progress = Progress(video_id=record.id, stage="transcribe", percent=percent)
            await world.gw.rt.nc.publish(
                names.progress_subject(record.id), progress.model_dump_json().encode()
            )
            await asyncio.sleep(0.05)

    reporting = asyncio.create_task(report())
    try:
        message, data = await acme_all.frame("progress")
    finally:
        reporting.cancel()
    assert (data["video_id"], data["stage"]) == (record.id, "transcribe")
    theirs = await new_video(world, "bravo")  # bravo's next frame is its own upload, no acme progress
    message = await bravo_all.next()  # progress frames included: none of acme's came
    assert (message.event, json.loads(message.data)["video_id"]) == ("status", theirs.id)


async def test_a_refused_video_stream_does_not_make_the_video_the_callers(world: World) -> None:
    """Asking for another tenant's video stream (404) teaches the gateway nothing about its owner:
    the video's progress still reaches its owner's streams, never the caller's."""
    theirs = await new_video(world, "acme")
    acme_all = await open_stream(world, "/api/events", world.keys["acme"])
    bravo_all = await open_stream(world, "/api/events", world.keys["bravo"])
    for stream in (acme_all, bravo_all):
        await stream.frame("open")
    async with world.session.get(
        f"{world.gw.url}/api/videos/{theirs.id}/events", headers=bearer(world.keys["bravo"])
    ) as resp:
        assert resp.status == 404
    progress = Progress(video_id=theirs.id, stage="transcribe", percent=7)
    await world.gw.rt.nc.publish(names.progress_subject(theirs.id), progress.model_dump_json().encode())
    _, data = await acme_all.frame("progress")
    assert (data["video_id"], data["progress"]) == (theirs.id, 7)
    ours = await new_video(world, "bravo")  # bravo's next frame is its own upload, no acme progress
    message = await bravo_all.next()
    assert (message.event, json.loads(message.data)["video_id"]) == ("status", ours.id)
