"""The gateway's copy of the ``keys`` bucket (:class:`~vidsage.auth.keystore.KeyCache`) on a miss,
over a real nats-server: a key its watch has not brought yet is read from the bucket and works at
once; what the read finds never undoes what the watch applied (a revocation, a deletion); made-up
ids cost one read per id (per ``unknown_ttl_s``) and at most ``max_reads`` reads at once; a read
that cannot be made fails closed. The watch is stalled on purpose, never raced against a clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from nats.js.kv import KeyValue

from tests.support.auth import stall_key_watch
from vidsage.auth import keystore
from vidsage.auth.keys import generate_key
from vidsage.auth.keystore import KeyCache, KeyStore, KeysUnavailable, StoredKey
from vidsage.bus import provision_kv
from vidsage.contracts import names
from vidsage.runtime import Runtime
from vidsage_dev.infra import NatsServer

pytestmark = pytest.mark.timeout(60)


class GatedStore(KeyStore):
    """The real store, whose reads are counted and can be held after they have read (a slow reply)."""

    def __init__(self, kv: KeyValue) -> None:
        super().__init__(kv)
        self.gate = asyncio.Event()
        self.gate.set()
        self.has_read = asyncio.Event()
        self.reads = 0
        self.in_flight = 0
        self.peak = 0

    async def get(self, key_id: str) -> tuple[StoredKey, int] | None:
        self.reads += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            found = await super().get(key_id)
            self.has_read.set()
            await self.gate.wait()
            return found
        finally:
            self.in_flight -= 1


@pytest.fixture
async def writer(runtime: Runtime) -> KeyStore:
    """Another gateway's store on the same bucket (the first key in it: the bootstrap's place)."""
    store = KeyStore(await provision_kv(runtime.js, names.KEYS_BUCKET))
    await store.create("local", "admin")
    return store


@contextlib.asynccontextmanager
async def watched(
    rt: Runtime, writer: KeyStore, *, bound_s: float = 30, **options: float
) -> AsyncIterator[tuple[KeyCache, GatedStore]]:
    """A started copy reading through a :class:`GatedStore`; the bound is long so that a stalled
    watch is not restarted (nor the copy called stale) while a test runs."""
    reader = GatedStore(writer.kv)
    cache = KeyCache(rt.nc, rt.js, reader, names.KEYS_BUCKET, bound_s=bound_s, **options)  # type: ignore[arg-type]
    await cache.start()
    try:
        yield cache, reader
    finally:
        await cache.close()


async def until(what: str, done: object) -> None:
    """Poll the callable ``done`` until true (5 s at most)."""
    deadline = time.monotonic() + 5
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_key_the_watch_has_not_brought_is_read_once_and_kept(
    runtime: Runtime, writer: KeyStore
) -> None:
    async with watched(runtime, writer) as (cache, reader):
        await stall_key_watch(cache)
        _, stored = await writer.create("acme", "member")
        found = await cache.lookup(stored.id)
        assert found is not None
        assert (found[0].owner, found[0].hash) == ("acme", stored.hash)
        assert reader.reads == 1
        assert await cache.lookup(stored.id) == found  # kept: no second read
        assert reader.reads == cache.miss_reads == 1


async def test_a_revoked_key_read_on_a_miss_is_revoked(runtime: Runtime, writer: KeyStore) -> None:
    async with watched(runtime, writer) as (cache, reader):
        await stall_key_watch(cache)
        _, stored = await writer.create("acme", "member")
        await writer.revoke(stored.id)
        found = await cache.lookup(stored.id)
        assert found is not None
        assert found[0].revoked_at is not None
        assert reader.reads == 1


@pytest.mark.parametrize("change", ["revoke", "delete"])
async def test_an_older_read_never_undoes_what_the_watch_applied(
    runtime: Runtime, writer: KeyStore, change: str
) -> None:
    async with watched(runtime, writer) as (cache, reader):
        await stall_key_watch(cache)
        _, stored = await writer.create("acme", "member")
        reader.gate.clear()
        lookup = asyncio.create_task(cache.lookup(stored.id))
        await asyncio.wait_for(reader.has_read.wait(), 5)  # the read has the key as created...
        if change == "revoke":
            await writer.revoke(stored.id)
        else:
            await writer.kv.delete(stored.id)
        changed = (await runtime.js.stream_info(f"KV_{names.KEYS_BUCKET}")).state.last_seq
        await cache._watch()  # ... and the watch, running again, applies the change first
        await until(f"the watch to apply the {change}", lambda: cache._revision_of(stored.id) == changed)
        reader.gate.set()
        found = await lookup
        if change == "revoke":
            assert found is not None
            assert found[0].revoked_at is not None
        else:
            assert found is None
        assert await cache.lookup(stored.id) == found


async def test_made_up_ids_cost_one_read_each_and_at_most_max_reads_at_once(
    runtime: Runtime, writer: KeyStore
) -> None:
    async with watched(runtime, writer, unknown_ttl_s=60, max_reads=2) as (cache, reader):
        made_up = generate_key()[0]
        assert await asyncio.gather(*(cache.lookup(made_up) for _ in range(20))) == [None] * 20
        assert reader.reads == 1  # the concurrent lookups shared one read
        for _ in range(20):
            assert await cache.lookup(made_up) is None
        assert reader.reads == 1  # and it is remembered as unknown
        reader.gate.clear()
        lookups = [asyncio.create_task(cache.lookup(generate_key()[0])) for _ in range(8)]
        await until("two reads in flight", lambda: reader.in_flight == 2)
        for _ in range(10):  # the others had their chance to start, and wait their turn
            await asyncio.sleep(0.01)
        assert (reader.in_flight, reader.reads) == (2, 3)
        reader.gate.set()
        assert await asyncio.gather(*lookups) == [None] * 8
        assert (reader.reads, reader.peak) == (9, 2)


async def test_without_the_memory_of_unknown_ids_each_lookup_reads(
    runtime: Runtime, writer: KeyStore
) -> None:
    async with watched(runtime, writer, unknown_ttl_s=0) as (cache, reader):
        made_up = generate_key()[0]
        assert await cache.lookup(made_up) is None
        assert await cache.lookup(made_up) is None
        assert reader.reads == 2


async def test_the_memory_of_unknown_ids_is_bounded(
    runtime: Runtime, writer: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keystore, "UNKNOWN_MAX", 3)
    async with watched(runtime, writer, unknown_ttl_s=60) as (cache, reader):
        made_up = [generate_key()[0] for _ in range(5)]
        for key_id in made_up:
            assert await cache.lookup(key_id) is None
        assert reader.reads == 5
        assert await cache.lookup(made_up[-1]) is None  # remembered
        assert await cache.lookup(made_up[0]) is None  # forgotten (the oldest): read again
        assert reader.reads == 6


async def test_a_miss_that_cannot_be_read_fails_closed(
    nats_server: NatsServer, runtime: Runtime, writer: KeyStore
) -> None:
    async with watched(runtime, writer, bound_s=1) as (cache, _):
        nats_server.stop()
        with pytest.raises(KeysUnavailable):
            await cache.lookup(generate_key()[0])
