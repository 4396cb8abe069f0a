"""vidsage.catalog and vidsage.cache against a real nats-server (JetStream KV)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from vidsage.cache import Cache
from vidsage.contracts.ids import new_id
from vidsage.contracts.names import ANY_OWNER
from vidsage.contracts.names import cache_prefix as video_prefix
from vidsage.contracts.record import VideoRecord
from vidsage.kvkeys import live_keys
from vidsage.runtime import Runtime
from vidsage.settings import Settings


def record(video_id: str | None = None, **fields: object) -> VideoRecord:
    base: dict[str, object] = {
        "id": video_id or new_id(),
        "owner": "alice",
        "filename": "holiday.mp4",
        "size": 4096,
        "mime": "video/mp4",
        "format": "mp4",
        "duration_s": 12.5,
    }
    return VideoRecord.model_validate({**base, **fields})


# -- catalog ----------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_create_get_delete(runtime: Runtime) -> None:
    catalog = runtime.catalog
    rec = record()
    revision = await catalog.create(rec)
    assert revision >= 1
    got = await catalog.get_entry("alice", rec.id)
    assert got == (rec, revision)

    with pytest.raises(KeyWrongLastSequenceError):
        await catalog.create(record(rec.id, filename="other.mp4"))
    assert (await catalog.get("alice", rec.id)) == rec  # the first one is untouched

    assert await catalog.get("alice", new_id()) is None  # well-formed but unknown
    for bad in ("", "not-an-id", "../etc/passwd", "video.*", rec.id.upper(), rec.id + "x", "*", ">"):
        assert await catalog.get("alice", bad) is None, bad
    for bad_owner in ("", "*", ">", "alice.x", "Alice", "-a", "a" * 64):
        assert await catalog.get(bad_owner, rec.id) is None, bad_owner

    assert await catalog.delete("alice", rec.id) == rec
    assert await catalog.get("alice", rec.id) is None
    assert await catalog.delete("alice", rec.id) is None
    assert await catalog.ids(ANY_OWNER) == []
    assert await catalog.update("alice", rec.id, lambda r: r.model_copy(update={"size": 1})) == (None, False)


@pytest.mark.timeout(30)
async def test_another_owner_sees_nothing_of_a_record(runtime: Runtime) -> None:
    """Tenancy at the source: the key is ``<owner>.<id>``; another owner's reads, updates, deletes
    and listings never reach it, and only ``find`` (for the workers) or ANY_OWNER (admins) do."""
    catalog = runtime.catalog
    alices, bobs = record(), record(owner="bob")
    await catalog.create(alices)
    await catalog.create(bobs)
    assert await catalog.get("bob", alices.id) is None
    assert await catalog.update("bob", alices.id, lambda r: r.model_copy(update={"size": 1})) == (None, False)
    assert await catalog.delete("bob", alices.id) is None
    assert await catalog.get("alice", alices.id) == alices  # untouched
    assert await catalog.ids("alice") == [alices.id]
    assert await catalog.ids("bob") == [bobs.id]
    assert sorted(await catalog.ids(ANY_OWNER)) == sorted([alices.id, bobs.id])
    page, _ = await catalog.list("bob", limit=10)
    assert page == [bobs]
    everyone, _ = await catalog.list(ANY_OWNER, limit=10)
    assert [r.id for r in everyone] == sorted([alices.id, bobs.id], reverse=True)
    assert await catalog.find(alices.id) == "alice"
    assert await catalog.find(new_id()) is None
    assert await catalog.totals("alice") == (4096, 1)
    assert await catalog.totals("carol") == (0, 0)


@pytest.mark.timeout(30)
async def test_concurrent_deletes_return_the_record_once(runtime: Runtime) -> None:
    rec = record()
    await runtime.catalog.create(rec)
    results = await asyncio.gather(*(runtime.catalog.delete("alice", rec.id) for _ in range(5)))
    assert [r for r in results if r is not None] == [rec]


@pytest.mark.timeout(30)
async def test_records_from_before_tenancy_move_under_their_owner(runtime: Runtime) -> None:
    """A library stored under bare ``<id>`` keys (before tenancy) moves to ``<owner>.<id>`` at
    startup; running the migration again (another service, a restart) changes nothing."""
    kv = runtime.catalog._kv
    old = [record(owner="local"), record(owner="local"), record(owner="bob")]
    for rec in old:
        await kv.create(rec.id, rec.to_bytes())
    assert await runtime.catalog.get("local", old[0].id) is None  # not visible before the move
    counts = await asyncio.gather(runtime.catalog.migrate(), runtime.catalog.migrate())
    assert sum(counts) == 3  # each record moved once, whoever moved it
    assert await runtime.catalog.migrate() == 0
    for rec in old:
        assert await runtime.catalog.get(rec.owner, rec.id) == rec
    assert sorted(await live_keys(kv)) == sorted(f"{r.owner}.{r.id}" for r in old)  # no bare key left


@pytest.mark.timeout(30)
async def test_concurrent_updates_lose_nothing(runtime: Runtime) -> None:
    catalog = runtime.catalog
    rec = record()
    await catalog.create(rec)
    calls = 0

    def add(i: int) -> Callable[[VideoRecord], VideoRecord]:
        def change(r: VideoRecord) -> VideoRecord:
            nonlocal calls
            calls += 1
            return r.model_copy(update={"objects": {**r.objects, f"k{i:02d}": f"value-{i}"}})

        return change

    results = await asyncio.gather(*(catalog.update("alice", rec.id, add(i)) for i in range(20)))
    assert all(changed for _, changed in results)
    final = await catalog.get("alice", rec.id)
    assert final is not None
    assert final.objects == {f"k{i:02d}": f"value-{i}" for i in range(20)}
    assert calls >= 20
    # Untouched fields survived every read-modify-write.
    assert (final.owner, final.filename, final.size) == (rec.owner, rec.filename, rec.size)

    # A change that returns None leaves the record (and its revision) alone.
    _, revision = await catalog.get_entry("alice", rec.id) or (None, -1)
    assert await catalog.update("alice", rec.id, lambda r: None) == (final, False)
    assert (await catalog.get_entry("alice", rec.id)) == (final, revision)


@pytest.mark.timeout(30)
async def test_list_pages_newest_first(runtime: Runtime) -> None:
    catalog = runtime.catalog
    ids = [new_id() for _ in range(7)]
    assert ids == sorted(ids)  # time-sortable
    for video_id in ids:
        await catalog.create(record(video_id))

    pages: list[list[str]] = []
    cursors: list[str | None] = []
    cursor: str | None = None
    while True:
        page, cursor = await catalog.list("alice", limit=3, cursor=cursor)
        pages.append([r.id for r in page])
        cursors.append(cursor)
        if cursor is None:
            break
        assert len(pages) < 5, "the cursors do not end"
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [i for p in pages for i in p]
    assert flat == list(reversed(ids))  # newest first, each once
    assert cursors == [pages[0][-1], pages[1][-1], None]

    exact, end = await catalog.list("alice", limit=7)
    assert [r.id for r in exact] == list(reversed(ids))
    assert end is None
    empty, end = await catalog.list("alice", limit=3, cursor=ids[0])
    assert (empty, end) == ([], None)


@pytest.mark.timeout(60)
async def test_a_listing_never_misses_a_key_even_many_at_once(runtime: Runtime) -> None:
    """nats-py's "initial values done" marker can come before an entry the server has already
    delivered (seen under load: an empty listing of a one-record library); a listing ends on the
    server's own pending count instead."""
    rec = record()
    await runtime.catalog.create(rec)
    for _ in range(5):
        results = await asyncio.gather(*(runtime.catalog.ids("alice") for _ in range(40)))
        assert all(ids == [rec.id] for ids in results), [len(ids) for ids in results]
    await runtime.catalog.delete("alice", rec.id)  # a deleted key's marker is the last entry: no hang
    assert await runtime.catalog.ids("alice") == []


async def test_listing_leaves_no_consumers_behind(runtime: Runtime) -> None:
    """Each listing reads the keys through an ordered consumer; polling must not pile them up."""
    assert await runtime.catalog.ids("alice") == []  # an empty bucket answers at once
    await runtime.catalog.create(record(new_id()))
    stream = f"KV_{runtime.settings.nats.videos_bucket}"
    for _ in range(10):
        assert len(await runtime.catalog.ids("alice")) == 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (await runtime.js.stream_info(stream)).state.consumer_count:
        assert loop.time() < deadline, "listing consumers outlived the listing"
        await asyncio.sleep(0.2)


# -- cache ------------------------------------------------------------------------------------------


@pytest.fixture
async def other_cache(nc: NATS, settings: Settings) -> AsyncIterator[Cache]:
    """A second cache, as another process would have it: its own connection and LRU, the same KV."""
    kv = await nc.jetstream().key_value(settings.nats.cache_bucket)
    cache = Cache(nc, kv, lru_size=settings.cache.lru_size, lru_ttl_s=settings.cache.lru_ttl_s)
    await cache.start()
    yield cache
    await cache.close()


@pytest.mark.timeout(30)
async def test_cache_loads_once_and_is_shared_through_kv(
    runtime: Runtime, other_cache: Cache, settings: Settings
) -> None:
    cache = runtime.cache
    key = f"video.{new_id()}.transcript"
    loads = 0

    async def loader() -> dict[str, object]:
        nonlocal loads
        loads += 1
        return {"segments": [{"start": 0.0, "text": "hello"}], "n": loads}

    first = await cache.get_or_load(key, loader)
    second = await cache.get_or_load(key, loader)
    assert first == second == {"segments": [{"start": 0.0, "text": "hello"}], "n": 1}
    assert loads == 1
    assert (cache.hits, cache.misses) == (1, 1)

    async def must_not_load() -> None:
        raise AssertionError("the other instance should find the value in KV")

    assert other_cache.lru.get(key) is None
    assert await other_cache.get_or_load(key, must_not_load) == first
    assert (other_cache.hits, other_cache.misses) == (1, 0)
    assert other_cache.lru.get(key) is not None  # now in its LRU too

    async def nothing() -> None:
        return None

    none_key = f"video.{new_id()}.missing"
    assert await cache.get_or_load(none_key, nothing) is None
    assert await cache.get(none_key) is None  # a None result is not stored

    kv_stream = await runtime.js.stream_info(f"KV_{settings.nats.cache_bucket}")
    assert kv_stream.config.max_age == pytest.approx(settings.cache.ttl_s)
    assert settings.cache.ttl_s == 24 * 3600


@pytest.mark.timeout(30)
async def test_invalidate_prefix_clears_kv_and_every_lru(runtime: Runtime, other_cache: Cache) -> None:
    cache = runtime.cache
    doomed_vid, kept_vid = new_id(), new_id()
    doomed = [f"video.{doomed_vid}.transcript", f"video.{doomed_vid}.search.abc"]
    kept = [f"video.{kept_vid}.transcript"]
    for i, key in enumerate(doomed + kept):
        await cache.set(key, {"i": i})
    for key in doomed + kept:  # warm the other instance's LRU from KV
        assert await other_cache.get(key) is not None
        assert other_cache.lru.get(key) is not None

    await cache.invalidate_prefix(video_prefix(doomed_vid))

    for key in doomed:
        assert cache.lru.get(key) is None
        with pytest.raises(KeyNotFoundError):
            await cache._kv.get(key)
    deadline = time.monotonic() + 3
    while any(other_cache.lru.get(key) is not None for key in doomed):
        assert time.monotonic() < deadline, "the other instance kept its LRU copies"
        await asyncio.sleep(0.02)
    for key in doomed:
        assert await other_cache.get(key) is None

    # The other video is untouched, in KV and in both LRUs.
    assert (await cache._kv.get(kept[0])).value == b'{"i":2}'
    assert other_cache.lru.get(kept[0]) == b'{"i":2}'
    assert await cache.get(kept[0]) == {"i": 2}
    assert await other_cache.get(kept[0]) == {"i": 2}
