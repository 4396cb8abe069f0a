"""Hostile HTTP against the real gateway (real nats-server and S3 server): requests aiohttp's parser
refuses, hostile multipart bodies, deep JSON, foreign Host headers, decompression bombs, slow and
stalled uploads, overload and a full spool folder, and the bus going away mid-request. Every answer
is the API's JSON error, and nothing is left behind."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.auth import ADMIN_KEY, ADMIN_OWNER
from tests.support.media import make_frame_bomb
from vidsage.contracts.names import ANY_OWNER
from vidsage.settings import Settings
from vidsage_dev.infra import NatsServer, start_nats
from vidsage_dev.ports import free_port
from vidsage_gateway.auth import AUTH
from vidsage_gateway.keys import UPLOADS

from .conftest import make_settings
from .test_gateway import Gateway, _start, assert_error

BOUNDARY = "hostileboundary"


async def raw_request(url: str, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send these); status, headers, body."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 20)  # the gateway closes after an error
    finally:
        writer.close()
    head_part, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, payload


def multipart(part_headers: bytes, data: bytes) -> bytes:
    b = BOUNDARY.encode()
    return b"--" + b + b"\r\n" + part_headers + b"\r\n\r\n" + data + b"\r\n--" + b + b"--\r\n"


def upload_head(gw: Gateway, length: int) -> bytes:
    host = gw.url("/").removeprefix("http://").rstrip("/")
    return (
        f"POST /api/videos/upload HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Authorization: Bearer {ADMIN_KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def json_error(payload: bytes, code: str) -> dict[str, Any]:
    body = json.loads(payload)
    assert_error(body, code)
    return body


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[Gateway]:
    async for g in _start(settings):
        yield g


# -- requests aiohttp's parser refuses -----------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # request line > 64 KiB
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 40_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n",  # a control character
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Nul: a\x00b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n",  # a space in a name
        b"G\x01T /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # not a method
        b"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=[
        "long-request-line",
        "long-header",
        "ctl-in-header",
        "nul-in-header",
        "bad-name",
        "bad-method",
        "bad-chunk",
    ],
)
async def test_unparsable_requests_get_the_json_error(
    gw: Gateway, head: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    status, headers, payload = await raw_request(gw.url("/").rstrip("/"), head)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    body = json_error(payload, "malformed_request")
    assert "aaaa" not in body["error"]["message"]  # the offending bytes are not quoted back
    assert not [r for r in caplog.records if r.exc_info]  # no traceback in the log


# -- hostile multipart ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part_headers",
    [
        b'Content-Disposition: form-data; name="file"; filename="a\x01b.mp4"',
        b'Content-Disposition: form-data; name="file"; filename="a\x00b.mp4"',
        b'Content-Disposition: form-data; name="file"; filename="' + b"a" * 40_000 + b'.mp4"',
        b'Content-Disposition: form-data; name="file"; filename="x.mp4"\r\nX-Pad: ' + b"p" * 40_000,
    ],
    ids=["ctl-in-filename", "nul-in-filename", "long-part-header", "long-extra-part-header"],
)
async def test_hostile_multipart_is_a_400_and_leaves_nothing(
    gw: Gateway,
    media: dict[str, Path],
    part_headers: bytes,
) -> None:
    body = multipart(part_headers, media["mp4"].read_bytes())
    status, _, payload = await raw_request(gw.url("/").rstrip("/"), upload_head(gw, len(body)), body)
    assert status == 400, payload
    json_error(payload, "malformed_request")
    await gw.assert_nothing_left()


async def test_a_tab_and_odd_characters_in_a_filename_are_cleaned_not_refused(
    gw: Gateway,
    media: dict[str, Path],
) -> None:
    status, body = await gw.upload(media["mp4"], filename="../..\\my\tclip\u202e.mp4")
    assert status == 201, body
    assert body["filename"] == "myclip.mp4"


# -- JSON bodies ---------------------------------------------------------------------------------


async def test_deeply_nested_json_bodies_are_a_clear_400(gw: Gateway) -> None:
    path = "/api/keys"
    deep = "[" * 2000 + "]" * 2000  # within the body's size limit
    async with gw.session.post(gw.url(path), data=deep, headers={"Content-Type": "application/json"}) as resp:
        body = await resp.json()
    assert resp.status == 400
    assert_error(body, "bad_request")
    assert "nested more than 32 levels" in body["error"]["message"]
    nested = '{"owner": "acme", "label": ' + "[" * 40 + "]" * 40 + "}"
    async with gw.session.post(gw.url(path), data=nested) as resp:
        assert resp.status == 400
        assert "nested more than 32 levels" in (await resp.json())["error"]["message"]


async def test_deep_json_in_the_sign_in_body(gw: Gateway) -> None:
    deep = "[" * 3000 + "]" * 3000
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.post(gw.url("/api/session"), data=deep) as resp,
    ):
        assert resp.status == 400
        assert_error(await resp.json(), "bad_request")


# -- Host allow-list (DNS rebinding) ---------------------------------------------------------------


async def test_a_foreign_host_is_refused_before_anything_else(gw: Gateway) -> None:
    port = gw.server.port
    for host in (f"attacker.example:{port}", "attacker.example", f"localhost.attacker.example:{port}"):
        async with gw.session.get(gw.url("/api/videos"), headers={"Host": host}) as resp:
            assert resp.status == 421, host
            assert_error(await resp.json(), "host_not_allowed")
        # before authentication: no 401 to probe with
        async with aiohttp.ClientSession() as anon, anon.get(gw.url("/"), headers={"Host": host}) as resp:
            assert resp.status == 421
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        async with gw.session.get(gw.url("/api/videos"), headers={"Host": host}) as resp:
            assert resp.status == 200, host
    # probes address pods by IP: they get their answer, not 421 (/readyz is 503 here only because
    # no indexer answers searches in this test; every other check passes)
    async with gw.session.get(gw.url("/healthz"), headers={"Host": "10.1.2.3:8080"}) as resp:
        assert resp.status == 200
    async with gw.session.get(gw.url("/readyz"), headers={"Host": "10.1.2.3:8080"}) as resp:
        assert resp.status == 503
        checks = (await resp.json())["error"]["checks"]
        assert [name for name, state in checks.items() if state != "ok"] == ["search"]


async def test_allowed_hosts_are_configurable(nats_server: NatsServer, s3_server: Any) -> None:
    settings = make_settings(
        nats_server.url, s3_server.endpoint, gateway={"allowed_hosts": [".vidsage.example", "localhost"]}
    )
    async for gw in _start(settings):
        for host, status in [
            ("vidsage.example", 200),
            ("api.vidsage.example:443", 200),
            ("localhost", 200),
            ("127.0.0.1", 421),
            ("evilvidsage.example", 421),
        ]:
            async with gw.session.get(gw.url("/api/videos"), headers={"Host": host}) as resp:
                assert resp.status == status, host


# -- decompression bomb --------------------------------------------------------------------------


async def test_a_decompression_bomb_is_refused_before_decoding(
    nats_server: NatsServer, s3_server: Any, tmp_path: Path
) -> None:
    bomb = make_frame_bomb(tmp_path / "bomb.mov", 1200)  # 1.44 megapixels in a few kB
    settings = make_settings(nats_server.url, s3_server.endpoint, gateway={"max_frame_pixels": 1_000_000})
    async for gw in _start(settings):
        status, body = await gw.upload(bomb, filename="bomb.mov")
        assert status == 422, body
        assert_error(body, "frame_too_large")
        assert "1200x1200" in body["error"]["message"]
        await gw.assert_nothing_left()


# -- slow clients, overload, a full spool --------------------------------------------------------


async def test_a_stalled_upload_times_out_and_leaves_nothing(
    nats_server: NatsServer,
    s3_server: Any,
    media: dict[str, Path],
) -> None:
    settings = make_settings(nats_server.url, s3_server.endpoint, gateway={"upload_read_timeout_s": 1})
    async for gw in _start(settings):
        body = multipart(
            b'Content-Disposition: form-data; name="file"; filename="x.mp4"', media["mp4"].read_bytes()
        )
        host, port = gw.url("/").removeprefix("http://").rstrip("/").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(upload_head(gw, len(body)) + body[: len(body) // 2])  # half, then silence
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 20)
        writer.close()
        assert raw.startswith(b"HTTP/1.1 408"), raw[:200]
        json_error(raw.partition(b"\r\n\r\n")[2], "upload_timeout")
        await gw.assert_nothing_left()
        status, _ = await gw.upload(media["mp4"])  # a client that keeps sending is not affected
        assert status == 201


async def test_a_trickling_upload_is_cut_off_at_its_deadline(
    nats_server: NatsServer, s3_server: Any, media: dict[str, Path]
) -> None:
    """A byte now and then beats any read timeout; the upload's deadline still ends it."""
    settings = make_settings(
        nats_server.url, s3_server.endpoint, gateway={"upload_read_timeout_s": 5, "upload_max_s": 1.5}
    )
    async for gw in _start(settings):
        body = multipart(
            b'Content-Disposition: form-data; name="file"; filename="x.mp4"', media["mp4"].read_bytes()
        )
        host, port = gw.url("/").removeprefix("http://").rstrip("/").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(upload_head(gw, len(body)) + body[:5000])
        await writer.drain()
        answer = asyncio.ensure_future(reader.read())
        for offset in range(5000, 5100):  # one byte every 0.2 s (20 s at most), until it answers
            if answer.done():
                break
            writer.write(body[offset : offset + 1])
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.wait([answer], timeout=0.2)
        raw = await asyncio.wait_for(answer, 5)
        writer.close()
        assert raw.startswith(b"HTTP/1.1 408"), raw[:200]
        json_error(raw.partition(b"\r\n\r\n")[2], "upload_timeout")
        await gw.assert_nothing_left()


async def test_uploads_beyond_the_limit_get_503_with_retry_after_at_once(
    nats_server: NatsServer,
    s3_server: Any,
    media: dict[str, Path],
) -> None:
    settings = make_settings(nats_server.url, s3_server.endpoint, gateway={"max_concurrent_uploads": 2})
    async for gw in _start(settings):
        body = multipart(
            b'Content-Disposition: form-data; name="file"; filename="x.mp4"', media["mp4"].read_bytes()
        )
        host, port = gw.url("/").removeprefix("http://").rstrip("/").split(":")
        held = []
        for _ in range(2):  # two uploads that have started and are still sending
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(upload_head(gw, len(body)) + body[:100])
            await writer.drain()
            held.append((reader, writer))
        await _until(lambda g=gw: g.server.app[UPLOADS].active == 2)
        async with gw.session.post(gw.url("/api/videos/upload"), data=b"x") as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
            assert_error(await resp.json(), "overloaded")
        for reader, writer in held:
            writer.write(body[100:])
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            assert raw.startswith(b"HTTP/1.1 201"), raw[:300]
        status, _ = await gw.upload(media["mp4"])  # the slots are free again
        assert status == 201


async def test_a_full_spool_folder_is_503_with_retry_after(
    nats_server: NatsServer,
    s3_server: Any,
    media: dict[str, Path],
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    settings = make_settings(
        nats_server.url,
        s3_server.endpoint,
        gateway={"spool_dir": str(spool), "spool_min_free_bytes": 2**62},  # more than any disk has
    )
    async for gw in _start(settings):
        status, body = await gw.upload(media["mp4"])
        assert status == 503
        assert_error(body, "spool_full")
        await gw.assert_nothing_left()
        assert list(spool.iterdir()) == []


# -- the bus goes away ---------------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_reads_while_nats_is_down_are_503_not_500(
    s3_server: Any,
    tmp_path: Path,
    media: dict[str, Path],
) -> None:
    """With authentication on, the rate counter answers 503 ``rate_unavailable`` first; without it
    (``auth_disabled``, benchmarks) the catalog read is what fails, and used to be a 500."""
    nats = start_nats(tmp_path / "nats", "127.0.0.1", free_port(), free_port(), sink=io.StringIO())
    settings = make_settings(nats.url, s3_server.endpoint, gateway={"auth_disabled": True})
    try:
        async for gw in _start(settings):
            status, record = await gw.upload(media["mp4"])
            assert status == 201
            nats.stop()
            await _until(lambda g=gw: not g.rt.nc.is_connected)
            for path in ("/api/videos", f"/api/videos/{record['id']}/status", f"/api/videos/{record['id']}"):
                async with gw.session.get(gw.url(path)) as resp:
                    assert resp.status == 503, path
                    assert resp.headers["Retry-After"] == "5"
                    assert_error(await resp.json(), "bus_unavailable")
    finally:
        nats.stop()


@pytest.mark.timeout(120)
async def test_an_upload_refused_while_nats_is_down_leaves_no_ghost_record(
    s3_server: Any, tmp_path: Path, media: dict[str, Path]
) -> None:
    """nats-server SIGKILLed while an upload streams, the upload refused with 503, the server back
    on the same store: no record appears (the client's buffered KV create used to land on
    reconnect: a record stuck in ``uploaded`` with its source deleted), no object, no event."""
    nats_port, monitor_port = free_port(), free_port()
    state = tmp_path / "nats"
    nats = start_nats(state, "127.0.0.1", nats_port, monitor_port, sink=io.StringIO())
    settings = make_settings(nats.url, s3_server.endpoint, gateway={"key_sync_bound_s": 60})
    try:
        async for gw in _start(settings):
            body = multipart(
                b'Content-Disposition: form-data; name="file"; filename="x.mp4"', media["mp4"].read_bytes()
            )
            host, port = gw.url("/").removeprefix("http://").rstrip("/").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(upload_head(gw, len(body)) + body[:1000])
            await writer.drain()
            quotas = gw.server.app[AUTH].quotas

            async def admitted(quotas: Any = quotas) -> bool:  # holds its reservation, reads the body
                return (await quotas.usage(ADMIN_OWNER)).reserved_bytes > 0

            await _until(admitted)
            nats.signal(signal.SIGKILL)
            await _until(lambda g=gw: not g.rt.nc.is_connected)
            writer.write(body[1000:])
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            assert raw.startswith(b"HTTP/1.1 503"), raw[:300]
            json_error(raw.partition(b"\r\n\r\n")[2], "bus_unavailable")

            nats = start_nats(state, "127.0.0.1", nats_port, monitor_port, sink=io.StringIO())
            await _until(lambda g=gw: g.rt.nc.is_connected)
            await gw.rt.nc.flush()  # whatever the client held back has reached the server now
            await asyncio.sleep(1)  # and a late write would have been applied
            assert await gw.rt.catalog.ids(ANY_OWNER) == []
            assert await gw.objects() == []
            assert await gw.events() == 0
            status, _ = await gw.upload(media["mp4"])  # and uploads work again
            assert status == 201
    finally:
        nats.stop()


async def test_a_record_whose_creation_seemed_to_fail_is_undone(gw: Gateway) -> None:
    """The create reached the server but its answer was lost: the background undo removes it."""
    from vidsage.contracts.ids import new_id
    from vidsage.contracts.record import VideoRecord
    from vidsage_gateway.intake import _undo_record

    record = VideoRecord(
        id=new_id(),
        owner=ADMIN_OWNER,
        filename="x.mp4",
        size=1,
        mime="video/mp4",
        format="mp4",
        duration_s=1.0,
        objects={"source": "videos/x/source.mp4"},
    )
    await gw.rt.catalog.create(record)
    await _undo_record(gw.rt, record, window_s=10)
    assert await gw.rt.catalog.ids(ANY_OWNER) == []
    await _undo_record(gw.rt, record, window_s=10)  # nothing there: returns, does not loop


async def _until(check: Any, within_s: float = 20) -> None:
    """Wait until ``check()`` (a function or a coroutine function) is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not (await check() if asyncio.iscoroutinefunction(check) else check()):
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
