"""The gateway in-process (aiohttp test server) over a real nats-server and a real S3 server."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from tests.support.auth import ADMIN_KEY, ADMIN_OWNER, bearer
from tests.support.gateway import GatewayTestServer
from vidsage.contracts.names import ANY_OWNER
from vidsage.runtime import Runtime
from vidsage.settings import Settings
from vidsage_dev.infra import S3Server, start_s3
from vidsage_dev.ports import free_port
from vidsage_gateway.app import create_app
from vidsage_gateway.keys import RUNTIME
from vidsage_gateway.openapi import openapi_document

from .conftest import ACCESS_KEY, SECRET_KEY, make_settings

MiB = 1024 * 1024


class Gateway:
    def __init__(self, server: GatewayTestServer, session: aiohttp.ClientSession, runtime: Runtime) -> None:
        self.server = server
        self.session = session
        self.rt = runtime

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def upload(
        self, data: bytes | Path, filename: str = "clip.mp4", field: str = "file"
    ) -> tuple[int, Any]:
        form = aiohttp.FormData(quote_fields=False)  # raw names, as browsers send them
        payload = data.read_bytes() if isinstance(data, Path) else data
        form.add_field(field, payload, filename=filename, content_type="application/octet-stream")
        async with self.session.post(self.url("/api/videos/upload"), data=form) as resp:
            return resp.status, await resp.json()

    async def objects(self) -> list[str]:
        def run() -> list[str]:
            client = self.rt.storage.client
            return [o.object_name for o in client.list_objects(self.rt.storage.bucket, recursive=True)]

        return await asyncio.get_running_loop().run_in_executor(None, run)

    async def events(self) -> int:
        info = await self.rt.js.stream_info(self.rt.settings.nats.stream)
        return info.state.messages

    async def assert_nothing_left(self) -> None:
        assert await self.objects() == []
        assert await self.rt.catalog.ids(ANY_OWNER) == []
        assert await self.events() == 0


async def _start(settings: Settings) -> AsyncIterator[Gateway]:
    app = create_app(settings)
    server = GatewayTestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(headers=bearer(ADMIN_KEY)) as session:
            yield Gateway(server, session, app[RUNTIME])
    finally:
        await server.close()


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[Gateway]:
    async for g in _start(settings):
        yield g


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


def validate(body: Any, schema_name: str) -> None:
    doc = openapi_document()
    jsonschema.validate(
        body, {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    )


# -- happy paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fmt", "mime", "size"),
    [
        ("mp4", "mp4", "video/mp4", (320, 240)),
        ("mov", "mov", "video/quicktime", (256, 144)),
        ("avi", "avi", "video/x-msvideo", (160, 120)),
    ],
)
async def test_upload_stores_object_record_and_event(
    gw: Gateway, media: dict[str, Path], kind: str, fmt: str, mime: str, size: tuple[int, int]
) -> None:
    source = media[kind]
    status, body = await gw.upload(source, filename=f"My Clip.{kind}")
    assert status == 201, body
    validate(body, "VideoRecord")
    assert body["format"] == fmt
    assert body["mime"] == mime
    assert body["filename"] == f"My Clip.{kind}"
    assert body["size"] == source.stat().st_size
    assert (body["width"], body["height"]) == size
    assert body["duration_s"] == pytest.approx(3.0 if kind == "mp4" else 2.0, abs=0.3)
    assert body["status"] == "uploaded"
    key = f"videos/{body['id']}/source.{fmt}"
    assert body["objects"] == {"source": key}
    assert await gw.objects() == [key]
    assert await gw.rt.storage.get_bytes(key) == source.read_bytes()
    assert await gw.events() == 1

    async with gw.session.get(gw.url(f"/api/videos/{body['id']}/status")) as resp:
        assert resp.status == 200
        status_body = await resp.json()
    validate(status_body, "VideoRecord")
    assert status_body["id"] == body["id"]
    assert set(status_body["stages"]) == {"ingest", "transcribe", "index"}


async def test_streaming_ranges_match_the_source(gw: Gateway, media: dict[str, Path]) -> None:
    source = media["mp4"].read_bytes()
    size = len(source)
    _, body = await gw.upload(media["mp4"])
    url = gw.url(f"/api/videos/{body['id']}")

    async with gw.session.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Accept-Ranges"] == "bytes"
        assert resp.headers["Content-Type"] == "video/mp4"
        assert int(resp.headers["Content-Length"]) == size
        etag = resp.headers["ETag"]
        assert etag.startswith('"')
        assert await resp.read() == source

    for header, start, end in [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, size - 1),
        ("bytes=-50", size - 50, size - 1),
        (f"bytes={size - 1}-{size + 100}", size - 1, size - 1),
        ("bytes=1000-1999", 1000, 1999),
    ]:
        async with gw.session.get(url, headers={"Range": header}) as resp:
            assert resp.status == 206, header
            assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
            assert int(resp.headers["Content-Length"]) == end - start + 1
            assert await resp.read() == source[start : end + 1]

    async with gw.session.head(url, headers={"Range": "bytes=10-19"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Length"] == "10"
        assert await resp.read() == b""
    async with gw.session.head(url) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == size

    async with gw.session.get(url, headers={"Range": "bytes=999999999-"}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == f"bytes */{size}"
        assert_error(await resp.json(), "range_not_satisfiable")

    # If-Range: a matching ETag keeps the range, a stale one sends the whole body with 200.
    async with gw.session.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}) as resp:
        assert resp.status == 206
        assert await resp.read() == source[:10]
    async with gw.session.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'}) as resp:
        assert resp.status == 200
        assert await resp.read() == source
    async with gw.session.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304


async def test_list_is_newest_first_with_cursor(gw: Gateway, media: dict[str, Path]) -> None:
    ids = []
    for _ in range(3):
        status, body = await gw.upload(media["avi"], filename="a.avi")
        assert status == 201
        ids.append(body["id"])
    async with gw.session.get(gw.url("/api/videos?limit=2")) as resp:
        page = await resp.json()
    validate(page, "VideoPage")
    assert [v["id"] for v in page["items"]] == ids[::-1][:2]
    assert page["next_cursor"] == ids[1]
    async with gw.session.get(gw.url(f"/api/videos?limit=2&cursor={page['next_cursor']}")) as resp:
        page2 = await resp.json()
    assert [v["id"] for v in page2["items"]] == [ids[0]]
    assert page2["next_cursor"] is None
    for bad in ("limit=0", "limit=201", "limit=abc"):
        async with gw.session.get(gw.url(f"/api/videos?{bad}")) as resp:
            assert resp.status == 400
            assert_error(await resp.json(), "bad_request")


async def test_ten_uploads_at_once(gw: Gateway, media: dict[str, Path]) -> None:
    results = await asyncio.gather(*(gw.upload(media["mp4"], filename=f"c{i}.mp4") for i in range(10)))
    assert [status for status, _ in results] == [201] * 10
    ids = {body["id"] for _, body in results}
    assert len(ids) == 10
    assert set(await gw.rt.catalog.ids(ANY_OWNER)) == ids
    assert len(await gw.objects()) == 10
    assert await gw.events() == 10


async def test_delete_cascades_and_twice_is_404(gw: Gateway, media: dict[str, Path]) -> None:
    _, keep = await gw.upload(media["mp4"])
    _, body = await gw.upload(media["mp4"])
    vid = body["id"]
    await gw.rt.storage.put_bytes(f"videos/{vid}/thumbnail.jpg", b"\xff\xd8 fake", content_type="image/jpeg")
    async with gw.session.get(gw.url(f"/api/videos/{vid}"), headers={"Range": "bytes=0-0"}) as resp:
        assert resp.status == 206  # fills the cache with the object's metadata
    assert await gw.rt.cache.get(f"video.{vid}.source") is not None

    async with gw.session.delete(gw.url(f"/api/videos/{vid}")) as resp:
        assert resp.status == 204
    assert all(not k.startswith(f"videos/{vid}/") for k in await gw.objects())
    assert await gw.rt.catalog.get(ADMIN_OWNER, vid) is None
    assert await gw.rt.cache.get(f"video.{vid}.source") is None
    async with gw.session.get(gw.url(f"/api/videos/{vid}")) as resp:
        assert resp.status == 404
    async with gw.session.delete(gw.url(f"/api/videos/{vid}")) as resp:
        assert resp.status == 404
        assert_error(await resp.json(), "not_found")
    # the other video is untouched
    assert await gw.rt.catalog.get(ADMIN_OWNER, keep["id"]) is not None
    sub = await gw.rt.js.pull_subscribe("vidsage.video.deleted", durable=None, stream="VIDSAGE")
    msgs = await sub.fetch(1, timeout=2)
    assert vid.encode() in msgs[0].data


async def test_uploaded_event_carries_the_request_id_as_trace(gw: Gateway, media: dict[str, Path]) -> None:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", media["mp4"].read_bytes(), filename="t.mp4")
    async with gw.session.post(
        gw.url("/api/videos/upload"), data=form, headers={"X-Request-Id": "trace-123"}
    ) as resp:
        assert resp.status == 201
        assert resp.headers["X-Request-Id"] == "trace-123"
        body = await resp.json()
    sub = await gw.rt.js.pull_subscribe("vidsage.video.uploaded", durable=None, stream="VIDSAGE")
    (msg,) = await sub.fetch(1, timeout=2)
    assert msg.headers["Vidsage-Trace-Id"] == "trace-123"
    assert msg.headers["Nats-Msg-Id"] == f"{body['id']}:uploaded"


async def test_thumbnail_not_ready_before_ingest(gw: Gateway, media: dict[str, Path]) -> None:
    _, body = await gw.upload(media["mp4"])
    async with gw.session.get(gw.url(f"/api/videos/{body['id']}/thumbnail")) as resp:
        assert resp.status == 409
        err = await resp.json()
    assert_error(err, "not_ready")
    assert err["error"]["status"] == "uploaded"


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("html", 415, "unsupported_type"),
        ("elf", 415, "unsupported_type"),
        ("text", 415, "unsupported_type"),
        ("wav", 415, "unsupported_type"),
        ("long", 422, "too_long"),
        ("truncated", 422, None),
    ],
)
async def test_rejected_uploads_leave_nothing(
    gw: Gateway, media: dict[str, Path], kind: str, status: int, code: str | None
) -> None:
    got, body = await gw.upload(media[kind], filename="x.mp4")
    assert got == status, body
    assert_error(body, code or body["error"]["code"])
    if code is None:
        assert body["error"]["code"] in {"undecodable", "truncated"}
    if kind == "long":
        assert "181" in body["error"]["message"]
    if kind == "wav":
        assert "wav" in body["error"]["message"].lower()
    await gw.assert_nothing_left()


async def test_missing_field_empty_file_and_not_multipart(gw: Gateway) -> None:
    status, body = await gw.upload(b"data", field="video")
    assert status == 400
    assert_error(body, "missing_file")
    status, body = await gw.upload(b"")
    assert status == 400
    assert_error(body, "empty_file")
    async with gw.session.post(gw.url("/api/videos/upload"), json={"file": "x"}) as resp:
        assert resp.status == 400
        assert_error(await resp.json(), "missing_file")
    async with gw.session.post(
        gw.url("/api/videos/upload"),
        data=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',  # no closing boundary
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    ) as resp:
        assert resp.status in (400, 415)
        assert (await resp.json())["error"]["code"] in {
            "bad_request",
            "upload_incomplete",
            "unsupported_type",
        }
    await gw.assert_nothing_left()


async def test_over_100_mib_is_413_and_nothing_is_stored(gw: Gateway, media: dict[str, Path]) -> None:
    cap = gw.rt.settings.gateway.max_upload_bytes
    assert cap == 100 * MiB
    head = media["mp4"].read_bytes()
    payload = head + b"\0" * (cap + 1 - len(head))
    assert len(payload) == cap + 1
    status, body = await gw.upload(payload)
    assert status == 413
    assert_error(body, "too_large")
    await gw.assert_nothing_left()


async def test_unknown_ids_and_routes_are_json_404(gw: Gateway) -> None:
    unknown = "01890a5d-ac96-774b-bcce-b302099a8057"
    for path in (
        f"/api/videos/{unknown}",
        f"/api/videos/{unknown}/status",
        f"/api/videos/{unknown}/thumbnail",
        "/api/videos/not-an-id",
        "/api/videos/..%2F..%2Fetc/status",
        "/api/nothing",
    ):
        async with gw.session.get(gw.url(path)) as resp:
            assert resp.status == 404, path
            assert_error(await resp.json(), "not_found")
    async with gw.session.put(gw.url("/api/videos/upload")) as resp:
        assert resp.status == 405
        assert_error(await resp.json(), "method_not_allowed")


async def test_health_ready_metrics_openapi(gw: Gateway) -> None:
    async with gw.session.get(gw.url("/healthz")) as resp:
        assert resp.status == 200
    # Not ready before an indexer answers searches (it subscribes once its model is loaded).
    async with gw.session.get(gw.url("/readyz")) as resp:
        assert resp.status == 503
        checks = (await resp.json())["error"]["checks"]
        assert checks == {
            "nats": "ok",
            "keys": "ok",
            "s3": "ok",
            "search": "no indexer is serving searches yet",
        }
    probes: list[bytes] = []

    async def indexer(msg: Any) -> None:  # what the indexer answers to a request it cannot read
        probes.append(msg.data)
        await msg.respond(b'{"error": {"code": "bad_request", "message": "invalid search request"}}')

    sub = await gw.rt.nc.subscribe(gw.rt.settings.indexer.search_subject, queue="indexer", cb=indexer)
    async with gw.session.get(gw.url("/readyz")) as resp:
        assert resp.status == 200
        assert (await resp.json())["checks"] == {"nats": "ok", "keys": "ok", "s3": "ok", "search": "ok"}
    await sub.unsubscribe()
    assert probes == [b"{}"]
    async with gw.session.get(gw.url("/metrics")) as resp:  # an admin key may read them
        assert resp.status == 200
        assert "vidsage_http_requests_total" in await resp.text()
    async with gw.session.get(gw.url("/api/openapi.json")) as resp:
        doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    # the document served is the one whose paths equal the router's (tests/unit/test_gateway_routes.py)
    assert doc == openapi_document()


# -- a dependency down -------------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_s3_down_is_503_and_leaves_nothing_then_recovers(
    nats_server: Any, tmp_path: Path, media: dict[str, Path]
) -> None:
    port = free_port()
    state = tmp_path / "s3-own"
    s3: S3Server = start_s3(state, "127.0.0.1", port, ACCESS_KEY, SECRET_KEY, sink=io.StringIO())
    settings = make_settings(nats_server.url, s3.endpoint)
    try:
        async for gw in _start(settings):
            status, _ = await gw.upload(media["mp4"])
            assert status == 201
            before = set(await gw.rt.catalog.ids(ANY_OWNER))

            s3.stop()
            status, body = await gw.upload(media["mp4"])
            assert status == 503
            assert_error(body, "storage_unavailable")
            assert set(await gw.rt.catalog.ids(ANY_OWNER)) == before
            async with gw.session.get(gw.url("/readyz")) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["checks"]["s3"].startswith("unavailable")
            some = next(iter(before))
            async with gw.session.get(gw.url(f"/api/videos/{some}/thumbnail")) as resp:
                assert resp.status in (409, 503)

            s3 = start_s3(state, "127.0.0.1", port, ACCESS_KEY, SECRET_KEY, sink=io.StringIO())
            status, body = await gw.upload(media["mp4"])
            assert status == 201, body
            assert len(await gw.rt.catalog.ids(ANY_OWNER)) == 2
    finally:
        s3.stop()


async def test_transcript_endpoint_formats_not_ready_and_cache(gw: Gateway, media: dict[str, Path]) -> None:
    from tests.support.stored_videos import put_transcript
    from vidsage.contracts.transcript import Segment, Transcript

    _, body = await gw.upload(media["mp4"])
    vid = body["id"]
    url = gw.url(f"/api/videos/{vid}/transcript")
    async with gw.session.get(url) as resp:
        assert resp.status == 409
        err = await resp.json()
    assert_error(err, "not_ready")
    assert err["error"]["status"] == "uploaded"

    segments = [
        Segment(id=0, start=0.5, end=1.5, text=" Hello <there> & you."),
        Segment(id=1, start=1.5, end=2.75, text=" Second line."),
    ]
    key, t = await put_transcript(gw.rt, vid, segments, duration_s=3.0, language_probability=0.99)
    await gw.rt.catalog.update(
        ADMIN_OWNER, vid, lambda r: r.model_copy(update={"objects": {**r.objects, "transcript": key}})
    )

    expected = {
        "json": ("application/json", None),
        "srt": ("application/x-subrip", "1\n00:00:00,500 --> 00:00:01,500\nHello <there> & you.\n"),
        "vtt": ("text/vtt", "WEBVTT\n\n0\n00:00:00.500 --> 00:00:01.500\nHello &lt;there&gt; &amp; you.\n"),
        "txt": ("text/plain", "[00:00] Hello <there> & you.\n[00:01] Second line.\n"),
    }
    for fmt, (ctype, start) in expected.items():
        async with gw.session.get(url, params={"format": fmt}) as resp:
            assert resp.status == 200, fmt
            assert resp.headers["Content-Type"].startswith(ctype)
            text = await resp.text()
            etag = resp.headers["ETag"]
        if start is None:
            assert Transcript.model_validate_json(text) == t
            validate(json.loads(text), "Transcript")
        else:
            assert text.startswith(start), (fmt, text)
        async with gw.session.get(url, params={"format": fmt}, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
    async with gw.session.get(url, params={"format": "docx"}) as resp:
        assert resp.status == 400
        assert_error(await resp.json(), "bad_request")

    # served from the cache after the first read: the object may go, the answer stays (24 h TTL) ...
    assert await gw.rt.cache.get(f"video.{vid}.transcript") is not None
    # ... until a delete invalidates it
    async with gw.session.delete(gw.url(f"/api/videos/{vid}")) as resp:
        assert resp.status == 204
    assert await gw.rt.cache.get(f"video.{vid}.transcript") is None
    async with gw.session.get(url) as resp:
        assert resp.status == 404


# -- retry --------------------------------------------------------------------------------------


async def _stream_events(gw: Gateway, subject: str, video_id: str) -> list[dict[str, Any]]:
    sub = await gw.rt.js.pull_subscribe(subject, durable=None, stream="VIDSAGE")
    try:
        msgs = await sub.fetch(10, timeout=1)
    except Exception:  # nothing (more) to fetch
        msgs = []
    await sub.unsubscribe()
    return [e for e in (json.loads(m.data) for m in msgs) if e["video_id"] == video_id]


async def test_retry_reruns_a_failed_video_from_the_failed_stage(gw: Gateway, media: dict[str, Path]) -> None:
    _, body = await gw.upload(media["mp4"])
    vid = body["id"]

    thumbnail = f"videos/{vid}/t.jpg"
    await gw.rt.catalog.update(ADMIN_OWNER, vid, lambda r: r.begin("ingest", 1))
    await gw.rt.catalog.update(
        ADMIN_OWNER,
        vid,
        lambda r: r.finish("ingest", width=320, height=240, objects={**r.objects, "thumbnail": thumbnail}),
    )
    await gw.rt.catalog.update(ADMIN_OWNER, vid, lambda r: r.begin("transcribe", 4))
    await gw.rt.fail_video(vid, "transcribe", "decoder exploded", 4, owner=ADMIN_OWNER)

    async with gw.session.post(gw.url(f"/api/videos/{vid}/retry")) as resp:
        assert resp.status == 202
        retried = await resp.json()
    validate(retried, "VideoRecord")
    assert retried["status"] == "ingested"
    assert retried["error"] is None
    assert retried["retries"] == 1
    assert retried["stages"]["ingest"]["state"] == "done"  # the stages before stay done
    assert (retried["stages"]["transcribe"]["state"], retried["stages"]["transcribe"]["attempts"]) == (
        "pending",
        0,
    )
    # The failed stage's input (the transcriber starts from the upload), published again although
    # the original is in the duplicate window; nothing else (ingest is done).
    uploaded = await _stream_events(gw, "vidsage.video.uploaded", vid)
    assert len(uploaded) == 2
    assert uploaded[1]["source_key"] == uploaded[0]["source_key"]
    assert await _stream_events(gw, "vidsage.video.transcribed", vid) == []

    async with gw.session.post(gw.url(f"/api/videos/{vid}/retry")) as resp:
        assert resp.status == 409  # not failed any more
        assert_error(await resp.json(), "not_failed")
    async with gw.session.post(gw.url(f"/api/videos/{'0' * 8}-0000-7000-8000-{'0' * 12}/retry")) as resp:
        assert resp.status == 404


async def test_retry_of_a_failed_ingest_publishes_uploaded_again(gw: Gateway, media: dict[str, Path]) -> None:
    _, body = await gw.upload(media["mp4"])
    vid = body["id"]
    await gw.rt.catalog.update(ADMIN_OWNER, vid, lambda r: r.begin("ingest", 1))
    await gw.rt.fail_video(vid, "ingest", "probe failed", 1, owner=ADMIN_OWNER)
    async with gw.session.post(gw.url(f"/api/videos/{vid}/retry")) as resp:
        assert resp.status == 202
        assert (await resp.json())["status"] == "uploaded"
    uploaded = await _stream_events(gw, "vidsage.video.uploaded", vid)
    assert len(uploaded) == 2  # the upload's and the retry's
    assert uploaded[0]["source_key"] == uploaded[1]["source_key"]
