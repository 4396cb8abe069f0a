"""Resumable uploads (tus 1.0.0 under ``/api/uploads/``) on the in-process gateway over a real
nats-server and a real S3 server (rclone): uploads cut at several points and resumed byte for
byte, the protocol's refusals (409, 412, 413, 423, 460), expiry aborting the S3 parts, termination,
tenant isolation, and a completed upload that fails the seed upload's checks leaving nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.auth import ADMIN_KEY, bearer, create_key
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.media import pad_mp4
from vidsage.contracts import names
from vidsage.contracts.names import ANY_OWNER, TUS_PREFIX
from vidsage.media import VideoFormat
from vidsage.settings import Settings
from vidsage.storage import ObjectNotFound
from vidsage_client.client import Client
from vidsage_client.tus import UploadState, file_key
from vidsage_gateway.intake import commit_video, probe_video, video_record
from vidsage_gateway.keys import UPLOADS
from vidsage_gateway.tus_routes import TUS
from vidsage_gateway.tus_state import TusPart

MiB = 1024 * 1024
TUS_HEADERS = {"Tus-Resumable": "1.0.0"}


def metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


class Tus:
    """A minimal tus client over aiohttp, for the tests."""

    def __init__(self, gw: RunningGateway, session: aiohttp.ClientSession, key: str = ADMIN_KEY) -> None:
        self.gw = gw
        self.session = session
        self.auth = bearer(key)

    def h(self, **extra: str) -> dict[str, str]:
        return {**self.auth, **TUS_HEADERS, **extra}

    async def create(self, length: int, filename: str = "clip.mp4") -> str:
        headers = self.h(**{"Upload-Length": str(length), "Upload-Metadata": metadata(filename=filename)})
        async with self.session.post(f"{self.gw.url}/api/uploads/", headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            assert resp.headers["Upload-Expires"]
            return self.gw.url + resp.headers["Location"]

    async def offset(self, url: str) -> int:
        async with self.session.head(url, headers=self.h()) as resp:
            assert resp.status == 200, resp.status
            return int(resp.headers["Upload-Offset"])

    async def info(self, url: str) -> dict[str, Any]:
        async with self.session.get(url, headers=self.auth) as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            return body

    async def patch(self, url: str, offset: int, data: bytes, **extra: str) -> aiohttp.ClientResponse:
        headers = self.h(
            **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **extra}
        )
        async with self.session.patch(url, data=data, headers=headers) as resp:
            await resp.read()
            return resp

    async def start_patch(self, url: str, offset: int, data: bytes, declared: int) -> asyncio.StreamWriter:
        """Begin a PATCH announcing ``declared`` bytes, send ``data`` and return once the gateway
        holds the upload (its lock is visible); the caller drops or finishes the connection."""
        target = url.removeprefix(self.gw.url)
        host, port = self.gw.url.removeprefix("http://").split(":")
        _, writer = await asyncio.open_connection(host, int(port))
        head = (
            f"PATCH {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: {self.auth['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        await self.wait(url, in_progress=True)
        return writer

    async def wait(self, url: str, *, in_progress: bool) -> dict[str, Any]:
        for _ in range(400):
            info = await self.info(url)
            if info["in_progress"] is in_progress:
                return info
            await asyncio.sleep(0.05)
        raise AssertionError(f"the upload never became in_progress={in_progress}: {info}")

    async def cut_patch(self, url: str, offset: int, data: bytes, declared: int) -> int:
        """A PATCH whose connection drops after ``data``; the offset the gateway kept."""
        writer = await self.start_patch(url, offset, data, declared)
        await asyncio.sleep(
            0.3
        )  # let it read what is in flight (what it had not read is lost, as on a real drop)
        writer.close()
        await writer.wait_closed()
        kept: int = (await self.wait(url, in_progress=False))["offset"]
        assert offset <= kept <= offset + len(data)
        return kept


@pytest.fixture(scope="module")
def big_video(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid MP4 of 12.5 MiB: more than two S3 parts."""
    return pad_mp4(media["mp4"], tmp_path_factory.mktemp("tus") / "big.mp4", 12 * MiB + MiB // 2)


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[RunningGateway]:
    async with running_gateway(settings) as gateway:
        yield gateway


@pytest.fixture
async def tus(gw: RunningGateway) -> AsyncIterator[Tus]:
    async with aiohttp.ClientSession() as session:
        yield Tus(gw, session)


async def objects(gw: RunningGateway, prefix: str = "") -> list[str]:
    return [o.key for o in await gw.rt.storage.list_objects(prefix)]


async def assert_nothing_left(gw: RunningGateway, owner: str = "local") -> None:
    assert await objects(gw) == []
    assert await gw.rt.catalog.ids(ANY_OWNER) == []
    info = await gw.rt.js.stream_info(gw.rt.settings.nats.stream)
    assert info.state.messages == 0
    usage = await gw.auth.quotas.usage(owner)
    assert (usage.bytes, usage.videos, usage.reserved_bytes, usage.uploads_this_hour) == (0, 0, 0, 0)
    assert await gw.app[TUS].store.all() == []


async def test_an_upload_cut_at_several_points_resumes_to_the_exact_video(tus: Tus, big_video: Path) -> None:
    data = big_video.read_bytes()
    url = await tus.create(len(data), "big talk.mp4")
    assert await tus.offset(url) == 0
    # cut inside the first bytes (before the type is known), inside the first part, past it
    kept = []
    for cut in (1000, 3 * MiB, 7 * MiB + 12345):
        offset = await tus.offset(url)
        kept.append(await tus.cut_patch(url, offset, data[offset:cut], declared=len(data) - offset))
        assert await tus.offset(url) == kept[-1]
    assert kept[-1] > 5 * MiB  # past the first part: something was stored in S3 parts
    # the bytes past the last full part are one small object, named by the offset it ends at
    tails = [k for k in await objects(tus.gw) if k.startswith(TUS_PREFIX)]
    if kept[-1] % tus.gw.rt.settings.s3.part_size:
        assert tails == [f"{TUS_PREFIX}{url.rsplit('/', 1)[1]}/tail-{kept[-1]}"]
    offset = await tus.offset(url)
    resp = await tus.patch(url, offset, data[offset:])
    assert resp.status == 204
    video_id = resp.headers["Vidsage-Video-Id"]
    assert resp.headers["Location"] == f"/api/videos/{video_id}"
    assert resp.headers["Upload-Offset"] == str(len(data))
    record = await tus.gw.rt.catalog.get("local", video_id)
    assert record is not None
    assert (record.filename, record.size, record.format, record.status) == (
        "big talk.mp4",
        len(data),
        "mp4",
        "uploaded",
    )
    assert record.duration_s == pytest.approx(3.0, abs=0.2)
    stored = await tus.gw.rt.storage.get_bytes(record.objects["source"])
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    # the tail is gone, the upload answers with its video, the quota holds the video
    assert [k for k in await objects(tus.gw) if k.startswith(TUS_PREFIX)] == []
    async with tus.session.head(url, headers=tus.h()) as head:
        assert head.headers["Vidsage-Video-Id"] == video_id
    usage = await tus.gw.auth.quotas.usage("local")
    assert (usage.bytes, usage.videos, usage.reserved_bytes) == (len(data), 1, 0)
    info = await tus.gw.rt.js.stream_info(tus.gw.rt.settings.nats.stream)
    assert info.state.messages == 1  # vidsage.video.uploaded, once


async def test_small_patches_and_a_checksum(tus: Tus, media: dict[str, Path]) -> None:
    data = media["mov"].read_bytes()
    url = await tus.create(len(data), "clip.mov")
    step = len(data) // 3
    bad = base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    resp = await tus.patch(url, 0, data[:step], **{"Upload-Checksum": f"sha1 {bad}"})
    assert resp.status == 460
    assert await tus.offset(url) == 0  # nothing kept
    resp = await tus.patch(url, 0, data[:step], **{"Upload-Checksum": "crc32 AAAA"})
    assert resp.status == 400
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        good = base64.b64encode(hashlib.sha1(chunk).digest()).decode()
        resp = await tus.patch(url, start, chunk, **{"Upload-Checksum": f"sha1 {good}"})
        assert resp.status == 204, resp.status
    record = await tus.gw.rt.catalog.get("local", resp.headers["Vidsage-Video-Id"])
    assert record is not None
    assert record.format == "mov"
    assert await tus.gw.rt.storage.get_bytes(record.objects["source"]) == data


async def test_protocol_refusals(tus: Tus, media: dict[str, Path]) -> None:
    data = media["mp4"].read_bytes()
    cap = tus.gw.rt.settings.gateway.max_upload_bytes
    base = f"{tus.gw.url}/api/uploads/"
    async with tus.session.options(base, headers=tus.auth) as resp:
        assert resp.status == 204
        assert resp.headers["Tus-Version"] == "1.0.0"
        assert resp.headers["Tus-Max-Size"] == str(cap)
        assert set(resp.headers["Tus-Extension"].split(",")) == {
            "creation",
            "termination",
            "expiration",
            "checksum",
        }
    async with tus.session.post(base, headers={**tus.auth, "Upload-Length": "10"}) as resp:
        assert resp.status == 412
        assert resp.headers["Tus-Version"] == "1.0.0"
        assert (await resp.json())["error"]["code"] == "tus_version_unsupported"
    for headers, status, code in (
        ({"Upload-Length": str(cap + 1)}, 413, "too_large"),
        ({}, 400, "missing_length"),
        ({"Upload-Defer-Length": "1"}, 400, "defer_length_unsupported"),
        ({"Upload-Length": "0"}, 400, "empty_file"),
        ({"Upload-Length": "10", "Upload-Metadata": "filename ***"}, 400, "bad_metadata"),
    ):
        async with tus.session.post(base, headers=tus.h(**headers)) as resp:
            assert resp.status == status, headers
            assert resp.headers["Tus-Resumable"] == "1.0.0"
            assert (await resp.json())["error"]["code"] == code
    url = await tus.create(len(data))
    resp = await tus.patch(url, 0, data[:1000])
    assert resp.status == 204
    assert resp.headers["Upload-Offset"] == "1000"
    wrong = await tus.patch(url, 500, data[500:1500])  # wrong offset
    assert wrong.status == 409
    too_big = await tus.patch(url, 1000, data[1000:] + b"x")  # past the declared length
    assert too_big.status == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: refused once it passes
        yield data[1000:]
        yield b"one byte too many"

    headers = tus.h(**{"Upload-Offset": "1000", "Content-Type": "application/offset+octet-stream"})
    async with tus.session.patch(url, data=chunked(), headers=headers) as resp:
        assert resp.status == 413
    plain = await tus.patch(url, 1000, data[1000:], **{"Content-Type": "application/octet-stream"})
    assert plain.status == 415
    assert await tus.offset(url) == 1000  # nothing of the refused bodies was kept
    resp = await tus.patch(url, 1000, data[1000:])
    assert resp.status == 204
    assert resp.headers["Vidsage-Video-Id"]


async def test_a_second_patch_while_one_runs_is_locked(tus: Tus, big_video: Path) -> None:
    data = big_video.read_bytes()
    url = await tus.create(len(data))
    writer = await tus.start_patch(url, 0, data[:4096], declared=len(data))
    second = await tus.patch(url, 0, data[:100])
    assert second.status == 423
    async with tus.session.delete(url, headers=tus.h()) as resp:
        assert resp.status == 423
    writer.close()
    await writer.wait_closed()


async def test_expiry_aborts_the_parts_and_releases_the_quota(tus: Tus, big_video: Path) -> None:
    data = big_video.read_bytes()
    url = await tus.create(len(data))
    assert await tus.cut_patch(url, 0, data[: 6 * MiB], declared=len(data)) > 5 * MiB
    upload_id = url.rsplit("/", 1)[1]
    entry = await tus.gw.app[TUS].store.get("local", upload_id)
    assert entry is not None
    up = entry.upload
    assert len(up.parts) == 1
    assert up.s3_upload_id is not None
    assert up.key is not None
    assert await tus.gw.app[TUS].sweep() == []  # not expired yet
    later = time.time() + tus.gw.rt.settings.gateway.tus_expiry_s + 1
    assert await tus.gw.app[TUS].sweep(now=later) == [upload_id]
    with pytest.raises(ObjectNotFound):  # the multipart upload is gone (NoSuchUpload)
        await tus.gw.rt.storage.upload_part(up.key, up.s3_upload_id, 2, b"x")
    async with tus.session.head(url, headers=tus.h()) as resp:
        assert resp.status == 404
    await assert_nothing_left(tus.gw)


async def test_an_accepted_upload_whose_gateway_died_before_saving_it_done_keeps_its_video(
    tus: Tus, media: dict[str, Path]
) -> None:
    """A gateway SIGKILLed between recording the video and saving the upload as done: the expiry
    sweep must not delete the accepted video's source, and it settles the reservation."""
    data = media["mp4"].read_bytes()
    url = await tus.create(len(data))
    upload_id = url.rsplit("/", 1)[1]
    store = tus.gw.app[TUS].store
    entry = await store.get("local", upload_id)
    assert entry is not None
    up = entry.upload
    # what _finish did before the kill: the object, the record and its event
    up.format, up.key = VideoFormat.MP4.value, names.source_key(up.video_id, "mp4")
    await store.save(entry)
    rt = tus.gw.rt
    await rt.storage.put_bytes(up.key, data, content_type=VideoFormat.MP4.mime)
    result = await probe_video(rt, str(media["mp4"]), VideoFormat.MP4)
    record = video_record(up.video_id, "local", up.filename, len(data), VideoFormat.MP4, result, up.key)
    await commit_video(rt, tus.gw.app[UPLOADS], record, up.key)
    later = time.time() + rt.settings.gateway.tus_expiry_s + 1
    assert await tus.gw.app[TUS].sweep(now=later) == [upload_id]
    assert await store.all() == []
    assert await rt.storage.stat(up.key) is not None
    assert await rt.catalog.get("local", up.video_id) is not None
    usage = await tus.gw.auth.quotas.usage("local")
    assert (usage.bytes, usage.videos, usage.reserved_bytes) == (len(data), 1, 0)


@pytest.mark.parametrize("recorded", [False, True], ids=["before-the-record", "after-the-record"])
async def test_a_completion_whose_gateway_died_is_finished_by_the_resumed_patch(
    tus: Tus, big_video: Path, recorded: bool
) -> None:
    """A gateway SIGKILLed after completing the S3 multipart upload (and maybe recording the
    video), before saving the upload as done: HEAD shows the full offset without a video id, the
    client PATCHes nothing at that offset, and that PATCH finishes the upload (one video, one
    event, the quota settled) instead of deleting the completed object."""
    data = big_video.read_bytes()
    url = await tus.create(len(data))
    upload_id = url.rsplit("/", 1)[1]
    rt = tus.gw.rt
    store = tus.gw.app[TUS].store
    entry = await store.get("local", upload_id)
    assert entry is not None
    up = entry.upload
    # what the killed PATCH did: all parts, the multipart upload completed, the state saved per part
    up.format, up.key = VideoFormat.MP4.value, names.source_key(up.video_id, "mp4")
    up.s3_upload_id = await rt.storage.start_multipart(up.key, content_type=VideoFormat.MP4.mime)
    size = rt.settings.s3.part_size
    for number, start in enumerate(range(0, len(data), size), start=1):
        chunk = data[start : start + size]
        etag = await rt.storage.upload_part(up.key, up.s3_upload_id, number, chunk)
        up.parts.append(TusPart(number=number, etag=etag, size=len(chunk)))
    await rt.storage.complete_multipart(up.key, up.s3_upload_id, [(p.number, p.etag) for p in up.parts])
    await store.save(entry)
    if recorded:
        result = await probe_video(rt, str(big_video), VideoFormat.MP4)
        record = video_record(up.video_id, "local", up.filename, len(data), VideoFormat.MP4, result, up.key)
        await commit_video(rt, tus.gw.app[UPLOADS], record, up.key)
    async with tus.session.head(url, headers=tus.h()) as resp:
        assert int(resp.headers["Upload-Offset"]) == len(data)
        assert "Vidsage-Video-Id" not in resp.headers
    patch = tus.h(**{"Upload-Offset": str(len(data)), "Content-Type": "application/offset+octet-stream"})
    async with tus.session.patch(url, data=b"", headers=patch) as resp:
        assert resp.status == 204, await resp.text()
        assert resp.headers["Vidsage-Video-Id"] == up.video_id
    assert await rt.storage.get_bytes(up.key) == data
    assert await rt.catalog.ids(ANY_OWNER) == [up.video_id]
    info = await rt.js.stream_info(rt.settings.nats.stream)
    assert info.state.messages == 1
    usage = await tus.gw.auth.quotas.usage("local")
    assert (usage.bytes, usage.videos, usage.reserved_bytes) == (len(data), 1, 0)


async def test_termination_leaves_nothing(tus: Tus, big_video: Path) -> None:
    data = big_video.read_bytes()
    url = await tus.create(len(data))
    await tus.cut_patch(url, 0, data[: 5 * MiB + 100], declared=len(data))
    async with tus.session.delete(url, headers=tus.h()) as resp:
        assert resp.status == 204
        assert resp.headers["Tus-Resumable"] == "1.0.0"
    async with tus.session.head(url, headers=tus.h()) as resp:
        assert resp.status == 404
    await assert_nothing_left(tus.gw)


async def test_a_tail_left_by_a_gateway_killed_mid_patch_is_removed_with_the_upload(
    tus: Tus, big_video: Path
) -> None:
    """A gateway SIGKILLed after writing a PATCH's tail but before saving the state leaves a tail
    that no state names: terminating (or expiring) the upload removes it too."""
    data = big_video.read_bytes()
    url = await tus.create(len(data))
    await tus.cut_patch(url, 0, data[: 5 * MiB + 100], declared=len(data))
    upload_id = url.rsplit("/", 1)[1]
    stray = names.tus_tail_key(upload_id, 5 * MiB + 4242)
    await tus.gw.rt.storage.put_bytes(stray, b"x" * 4242, content_type="application/octet-stream")
    async with tus.session.delete(url, headers=tus.h()) as resp:
        assert resp.status == 204
    await assert_nothing_left(tus.gw)


@pytest.mark.parametrize(
    ("name", "status", "code"), [("text", 415, "unsupported_type"), ("long", 422, "too_long")]
)
async def test_a_completed_upload_that_fails_the_checks_leaves_nothing(
    tus: Tus, media: dict[str, Path], name: str, status: int, code: str
) -> None:
    data = media[name].read_bytes()
    url = await tus.create(len(data), f"{name}.mp4")
    half = len(data) // 2 if name == "long" else 100  # the text is refused by its first bytes
    first = await tus.patch(url, 0, data[:half])
    if first.status == 204:
        resp = await tus.patch(url, half, data[half:])
    else:
        resp = first
    assert resp.status == status
    async with tus.session.head(url, headers=tus.h()) as head:
        assert head.status == 404
    await assert_nothing_left(tus.gw)


async def test_another_tenants_upload_is_unknown(tus: Tus, media: dict[str, Path]) -> None:
    data = media["mp4"].read_bytes()
    key, _ = await create_key(tus.session, tus.gw.url, "acme")
    other = Tus(tus.gw, tus.session, key)
    url = await tus.create(len(data))
    unknown = url.rsplit("/", 1)[0] + "/0190b8a4-0000-7000-8000-000000000000"
    answers = []
    for target in (url, unknown):
        async with tus.session.head(target, headers=other.h()) as resp:
            answers.append((resp.status, await resp.read()))
        patched = await other.patch(target, 0, data[:10])
        answers.append((patched.status, b""))
        async with tus.session.delete(target, headers=other.h()) as resp:
            answers.append((resp.status, await resp.read()))
    assert answers[:3] == answers[3:]
    assert [status for status, _ in answers[:3]] == [404, 404, 404]
    assert await tus.offset(url) == 0  # untouched


async def test_the_client_resumes_an_upload_an_earlier_run_left(
    gw: RunningGateway, big_video: Path, tmp_path: Path
) -> None:
    state = UploadState(tmp_path / "uploads.json")
    data = big_video.read_bytes()
    loop = asyncio.get_running_loop()
    midway = asyncio.Event()

    def progress(sent: int) -> None:  # from aiohttp's reading thread
        if sent > 7 * MiB:
            loop.call_soon_threadsafe(midway.set)

    async with Client(gw.url, api_key=ADMIN_KEY) as client:
        first = asyncio.create_task(client.upload_resumable(big_video, progress, state=state))
        await midway.wait()
        first.cancel()  # as Ctrl-C does, midway through the body
        with pytest.raises(asyncio.CancelledError):
            await first
        key, _ = file_key(gw.url, big_video)
        url = state.get(key)
        assert url is not None
        assert url.startswith(f"{gw.url}/api/uploads/")
        await Tus(gw, client.session).wait(url, in_progress=False)  # the gateway saw the drop
        seen: list[int] = []
        record = await client.upload_resumable(big_video, seen.append, state=state)
    assert seen[0] > 5 * MiB  # resumed where the gateway had got to, not from zero
    assert state.get(key) is None  # done: forgotten
    assert record["filename"] == "big.mp4"
    stored = await gw.rt.catalog.get("local", record["id"])
    assert stored is not None
    assert await gw.rt.storage.get_bytes(stored.objects["source"]) == data


async def test_another_gateway_replica_continues_the_upload(
    gw: RunningGateway, settings: Settings, big_video: Path
) -> None:
    """The state is in KV and the tail in S3: a second gateway on the same bus and store takes over."""
    data = big_video.read_bytes()
    async with running_gateway(settings) as other, aiohttp.ClientSession() as session:
        first, second = Tus(gw, session), Tus(other, session)
        url = await first.create(len(data))
        cut = 6 * MiB + 777  # one S3 part and a tail
        assert (await first.patch(url, 0, data[:cut])).status == 204
        there = url.replace(gw.url, other.url)
        assert await second.offset(there) == cut
        resp = await second.patch(there, cut, data[cut:])
        assert resp.status == 204
        record = await other.rt.catalog.get("local", resp.headers["Vidsage-Video-Id"])
        assert record is not None
        assert await other.rt.storage.get_bytes(record.objects["source"]) == data
