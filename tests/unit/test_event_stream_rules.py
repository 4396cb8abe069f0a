"""The live status streams' pure parts: who a listener hears, a slow listener cut loose instead of
growing memory, frames on the wire, and the client's SSE reader (as the HTML standard reads)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from vidsage.contracts.ids import new_id
from vidsage.contracts.live_events import LiveEvent
from vidsage.contracts.names import ANY_OWNER
from vidsage.contracts.record import FailureInfo, Status, VideoRecord
from vidsage_client.sse import read_sse
from vidsage_gateway.event_hub import Frame, Listener, frame_of, record_status


def test_a_listener_hears_its_owner_and_video_only() -> None:
    everything = Listener("acme", None, 8)
    one = Listener("acme", "v1", 8)
    admin = Listener(ANY_OWNER, None, 8)
    assert everything.wants("acme", "v1")
    assert everything.wants("acme", "v2")
    assert not everything.wants("bravo", "v1")
    assert not everything.wants(None, "v1")  # a progress frame whose owner is not known yet
    assert one.wants("acme", "v1")
    assert not one.wants("acme", "v2")
    assert not one.wants("bravo", "v1")
    assert admin.wants("bravo", "v9")


def test_a_status_frame_never_carries_an_internal_reason() -> None:
    """The snapshot a per-video stream opens with and the frames after events: one rule (a record
    written before reasons were stored public still shows only the public part, as the status does)."""
    internal = "NoSuchKey: videos/0189/audio.wav at s3.eu.example.com:443"
    record = VideoRecord(
        id=new_id(), owner="acme", filename="a.mp4", size=1, mime="video/mp4", format="mp4", duration_s=1
    ).model_copy(
        update={
            "status": Status.FAILED,
            "error": FailureInfo(stage="ingest", reason=internal),
        }
    )
    for event in (None, "failed"):
        data = json.loads(record_status(record, event=event, at=record.updated_at).to_json())
        assert data["status"] == "failed"
        assert data["stage"] == "ingest"
        assert data.get("event") == event
        assert "videos/0189" not in data["reason"]
        assert "s3.eu.example.com" not in data["reason"]


async def test_a_listener_that_falls_behind_is_closed_not_grown() -> None:
    listener = Listener("acme", None, 8)
    frame = Frame(1, "status", "{}")
    assert all(listener.offer(frame) for _ in range(8))
    assert listener.wake.is_set()
    assert not listener.offer(frame)
    assert listener.overflowed
    assert listener.closed.is_set()
    assert listener.queue.qsize() == 8


def test_frames_on_the_wire() -> None:
    status = frame_of(LiveEvent(type="status", video_id="v1", status="ready"), 42)
    head, kind, data, end = status.wire.decode().split("\n", 3)
    assert (head, kind, end) == ("id: 42", "event: status", "\n")
    assert json.loads(data.removeprefix("data: "))["status"] == "ready"
    progress = frame_of(LiveEvent(type="progress", video_id="v1", stage="transcribe", progress=5.0), None)
    assert progress.wire.startswith(b"event: progress\ndata: {")  # no id: the last event's stays


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
async def test_the_client_reads_sse_as_browsers_do(newline: str) -> None:
    body = newline.join(
        [
            "retry: 1500",
            "",
            ": ping",
            "",
            "id: 7",
            "event: status",
            'data: {"a":',
            "data: 1}",
            "",
            "event: progress",
            "data:x",
            "",
            "id",  # an empty id resets it
            "",
            "data: last",
            "",
            "",
        ]
    )

    async def stream(_: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(_)
        for i in range(0, len(body), 5):  # split anywhere, a CR LF too
            await response.write(body[i : i + 5].encode())
            await asyncio.sleep(0)
        return response

    app = web.Application()
    app.router.add_get("/", stream)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/")
        got = [m async for m in read_sse(response, comments=True)]
    assert [(m.event, m.data, m.id, m.comment) for m in got] == [
        ("", "", None, "ping"),
        ("status", '{"a":\n1}', "7", None),
        ("progress", "x", "7", None),
        ("message", "last", "", None),
    ]
    assert got[1].retry_ms == 1500
