"""vidsage.storage against the real S3 server (rclone serve s3): streamed multipart uploads with a
tee, ranged reads, aborted uploads, prefix deletes and an unreachable endpoint."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from vidsage.runtime import Runtime
from vidsage.settings import MiB, Settings
from vidsage.storage import ObjectNotFound, Storage, StorageUnavailable
from vidsage_dev.ports import free_port

PART = 5 * MiB


class UploadAborted(Exception):
    """Raised by a chunk source midway (like the gateway's size limit or a client disconnect)."""


def uneven_chunks(data: bytes, seed: int = 7) -> Iterator[bytes]:
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        size = rng.choice([1, 17, 4096, 65_536, 333_333, 1_000_003, 2 * MiB + 5])
        yield data[pos : pos + size]
        pos += size


async def agen(chunks: Iterator[bytes], *, fail_after: int | None = None) -> AsyncIterator[bytes]:
    """Yield ``chunks``; raise UploadAborted once ``fail_after`` bytes have been yielded."""
    sent = 0
    for chunk in chunks:
        if fail_after is not None and sent >= fail_after:
            raise UploadAborted(f"aborted after {sent} bytes")
        yield chunk
        sent += len(chunk)
    if fail_after is not None:
        raise UploadAborted(f"aborted after {sent} bytes")


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    s3 = settings.s3.model_copy(update={"part_size": PART})
    store = Storage(s3)
    await store.ensure_bucket()
    yield store
    store.close()


@pytest.mark.timeout(60)
async def test_put_stream_multipart_roundtrip_with_tee(storage: Storage, tmp_path: Path) -> None:
    data = random.Random(1).randbytes(12 * MiB + 12_345)
    chunks = list(uneven_chunks(data))
    assert len({len(c) for c in chunks}) > 3  # really uneven
    key = "videos/abc/source.mp4"
    tee_path = tmp_path / "spool.bin"
    with tee_path.open("wb") as tee:
        info = await storage.put_stream(key, agen(iter(chunks)), content_type="video/mp4", tee=tee)
    assert info.size == len(data)
    assert info.key == key
    assert tee_path.read_bytes() == data

    st = await storage.stat(key)
    assert st is not None
    assert st.size == len(data)
    assert st.content_type == "video/mp4"
    # A multipart upload: 12 MiB in 5 MiB parts is three parts, and the upload's ETag says so.
    parts = [data[i : i + PART] for i in range(0, len(data), PART)]
    assert len(parts) == 3
    md5_of_md5s = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert info.etag == f"{md5_of_md5s}-3"
    # rclone (over a folder) answers HEAD with the MD5 of the whole file rather than the multipart
    # ETag, so ETags for HTTP caching must come from stat(), which is stable.
    assert st.etag in {info.etag, hashlib.md5(data).hexdigest()}
    assert (await storage.stat(key)) == st

    assert await storage.get_bytes(key) == data
    last = len(data) - 1
    for offset, length in [
        (0, 1),
        (0, 100),
        (PART - 3, 10),  # across the first part boundary
        (2 * PART - 1, 2),  # across the second
        (1_234_567, 3 * MiB),
        (last, 1),  # the last byte
        (last - 99, 100),
        (last - 99, None),  # to the end
        (7 * MiB, None),
    ]:
        expected = data[offset : None if length is None else offset + length]
        assert await storage.get_bytes(key, offset, length) == expected, (offset, length)


@pytest.mark.timeout(60)
async def test_put_stream_failing_midway_leaves_no_object(storage: Storage, tmp_path: Path) -> None:
    data = random.Random(2).randbytes(12 * MiB)
    key = "videos/big/source.mp4"
    tee_path = tmp_path / "spool.bin"
    with tee_path.open("wb") as tee, pytest.raises(UploadAborted) as caught:
        await storage.put_stream(
            key, agen(uneven_chunks(data), fail_after=PART + MiB), content_type="video/mp4", tee=tee
        )
    assert type(caught.value) is UploadAborted  # not wrapped into a storage error
    assert str(caught.value).startswith("aborted after ")
    assert tee_path.stat().st_size > PART  # more than one part had gone up before the failure
    assert await storage.stat(key) is None
    assert await storage.delete_prefix("videos/big/") == 0


@pytest.mark.timeout(30)
async def test_small_put_stream_failing_leaves_no_object(storage: Storage) -> None:
    key = "videos/small/source.mp4"
    with pytest.raises(UploadAborted) as caught:
        await storage.put_stream(
            key, agen(iter([b"x" * 1000, b"y" * 1000]), fail_after=1500), content_type="video/mp4"
        )
    assert type(caught.value) is UploadAborted
    assert await storage.stat(key) is None
    assert await storage.delete_prefix("videos/small/") == 0


@pytest.mark.timeout(30)
async def test_iter_range_streams_in_chunks_and_closes_on_early_exit(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = random.Random(3).randbytes(300_000)
    await storage.put_bytes("obj", data, content_type="application/octet-stream")

    chunks = [c async for c in storage.iter_range("obj", chunk_size=65_536)]
    assert [len(c) for c in chunks] == [65_536] * 4 + [300_000 - 4 * 65_536]
    assert b"".join(chunks) == data

    chunks = [c async for c in storage.iter_range("obj", 1000, 100_000, chunk_size=30_000)]
    assert [len(c) for c in chunks] == [30_000, 30_000, 30_000, 10_000]
    assert b"".join(chunks) == data[1000:101_000]

    # Watch the real HTTP responses the SDK hands out, to see that an early exit closes them.
    responses: list[Any] = []
    real_get_object = storage.client.get_object

    def spy(*args: Any, **kwargs: Any) -> Any:
        resp = real_get_object(*args, **kwargs)
        responses.append(resp)
        return resp

    monkeypatch.setattr(storage.client, "get_object", spy)
    got: list[bytes] = []
    async with aclosing(storage.iter_range("obj", chunk_size=10_000)) as stream:
        async for chunk in stream:
            got.append(chunk)
            if len(got) == 2:
                break
    assert got == [data[:10_000], data[10_000:20_000]]
    assert len(responses) == 1
    assert responses[0].closed

    # Many abandoned reads in a row do not exhaust the connection pool or hang.
    started = time.monotonic()
    for _ in range(3 * storage.settings.io_threads):
        async with aclosing(storage.iter_range("obj", chunk_size=1000)) as stream:
            async for _chunk in stream:
                break
    assert all(r.closed for r in responses)
    assert await storage.get_bytes("obj") == data
    assert time.monotonic() - started < 10


@pytest.mark.timeout(30)
async def test_delete_prefix_removes_only_that_prefix(storage: Storage) -> None:
    doomed = [f"videos/a/{name}" for name in ("source.mp4", "thumbnail.jpg", "sub/transcript.json")]
    kept = ["videos/ab/source.mp4", "videos/b/source.mp4", "videos/a.txt"]
    for key in doomed + kept:
        await storage.put_bytes(key, key.encode(), content_type="text/plain")

    assert await storage.delete_prefix("videos/a/") == 3
    for key in doomed:
        assert await storage.stat(key) is None, key
    for key in kept:
        assert await storage.get_bytes(key) == key.encode(), key
    assert await storage.delete_prefix("videos/a/") == 0
    assert await storage.delete_prefix("videos/nothing-here/") == 0


@pytest.mark.timeout(60)
async def test_unreachable_endpoint_raises_storage_unavailable_quickly(settings: Settings) -> None:
    dead = settings.s3.model_copy(update={"endpoint": f"http://127.0.0.1:{free_port()}", "retries": 2})
    store = Storage(dead)
    try:
        calls = {
            "ping": lambda: store.ping(),
            "put_bytes": lambda: store.put_bytes("k", b"data", content_type="text/plain"),
            "stat": lambda: store.stat("k"),
            "put_stream": lambda: store.put_stream(
                "k", agen(iter([b"abc", b"def"])), content_type="text/plain"
            ),
            "ensure_bucket": lambda: store.ensure_bucket(),
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                await call()
            assert time.monotonic() - started < 5, name
    finally:
        store.close()


@pytest.mark.timeout(30)
async def test_ensure_bucket_is_idempotent(settings: Settings) -> None:
    store = Storage(settings.s3)
    try:
        with pytest.raises(StorageUnavailable, match="does not exist"):
            await store.ping()
        await store.ensure_bucket()
        await store.put_bytes("keep", b"me", content_type="text/plain")
        await store.ensure_bucket()
        await store.ensure_bucket()
        await store.ping()
        assert await store.get_bytes("keep") == b"me"
        buckets = [b.name for b in store.client.list_buckets()]
        assert buckets.count(settings.s3.bucket) == 1
    finally:
        store.close()


async def test_missing_keys_are_not_found_not_unavailable(runtime: Runtime) -> None:
    """A GET of a missing key is ObjectNotFound (rclone's error body is not S3 XML)."""
    with pytest.raises(ObjectNotFound):
        await runtime.storage.get_bytes("videos/none/source.mp4")
    assert await runtime.storage.stat("videos/none/source.mp4") is None
