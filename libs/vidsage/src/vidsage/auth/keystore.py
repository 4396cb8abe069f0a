"""The ``keys`` KV bucket and the watched in-memory copy every gateway authenticates from.

**The bucket** (:class:`KeyStore`) holds one JSON document per key id: owner, role, label, times
(created, last used, expires, revoked) and the SHA-256 digest of the key, never the key. Every
change is a compare-and-set on the KV revision. Revoking keeps the document (with ``revoked_at``),
so a revoked key answers ``revoked_key`` rather than ``unknown_key`` and stays listed.

**The copy** (:class:`KeyCache`) is fed by a KV watch, so a revocation reaches every gateway in
milliseconds. It is trusted only while it is known to be current: every ``bound_s / 8`` a check
reads the bucket's last sequence and, when the watch has applied at least that much, records that
the copy was complete as of the moment the check began. :meth:`KeyCache.lookup` raises
:class:`KeysUnavailable` when that moment is more than ``bound_s`` old (NATS down, the watch
stalled): authentication then fails closed instead of serving a key that may have been revoked.
So a revocation older than ``bound_s`` is always in effect. A watch that stays behind while NATS
is connected is restarted (it replays the current value of every key).

**A miss** (an id the copy does not hold) is read from the bucket before it is called unknown: a
key another gateway (or this one) has just created may not have come through the watch yet, and
must work at once. What the read finds goes into the copy only when its revision is newer than
what the copy has (the watch applies the same rule), so an older read never undoes a revocation
or a deletion the watch applied. A failed or slow read (over ``bound_s``) fails closed
(:class:`KeysUnavailable`). The cost of made-up ids is bounded: concurrent lookups of one id
share one read; an id the bucket does not hold is remembered as unknown for ``unknown_ttl_s``
(1 s; at most :data:`UNKNOWN_MAX` ids, oldest dropped first), so repeating it costs no read; and
at most ``max_reads`` (4) reads are in flight per gateway, the rest wait their turn (within
``bound_s``, then 503). A flood of distinct random ids thus costs at most 4 concurrent reads of
the bucket, never an unbounded fan-out; keys the copy holds never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta
from typing import Any, Literal

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from pydantic import ValidationError

from vidsage.auth.keys import generate_key, hash_key, is_key_id, key_matches, parse_key
from vidsage.contracts.events import utcnow
from vidsage.contracts.keys import KeyInfo, Role
from vidsage.kvkeys import live_keys
from vidsage.logging import get_logger

log = get_logger("vidsage.auth")

KeyState = Literal["ok", "expired", "revoked"]
TOUCH_INTERVAL_S = 60.0
"""``last_used_at`` is written at most this often per key and gateway (best effort)."""
UNKNOWN_TTL_S = 1.0
"""How long an id the bucket did not hold is answered unknown without reading it again."""
UNKNOWN_MAX = 10_000
"""At most this many such ids are remembered (the oldest is dropped first)."""
MAX_READS = 4
"""At most this many reads of the bucket for misses are in flight per gateway."""


class StoredKey(KeyInfo):
    """A key's document in the bucket: what :class:`KeyInfo` shows, plus the digest."""

    hash: str

    def info(self) -> KeyInfo:
        return KeyInfo.model_validate(self.model_dump(exclude={"hash"}))

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "ok"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class KeyConflict(Exception):
    """The bootstrap key's id exists with another key's digest (practically impossible: 71 random bits)."""


class KeysUnavailable(Exception):
    """The in-memory copy of the keys is not known to be current (see the module's documentation)."""


def _parse(value: bytes | None) -> StoredKey | None:
    if not value:
        return None
    try:
        return StoredKey.model_validate_json(value)
    except ValidationError:
        log.error("key_document_unreadable")
        return None


class KeyStore:
    """Create, read, list, revoke and touch keys in the ``keys`` bucket (compare-and-set)."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def create(
        self,
        owner: str,
        role: Role,
        *,
        expires_at: datetime | None = None,
        label: str | None = None,
    ) -> tuple[str, StoredKey]:
        """A new random key for ``owner``: ``(key, document)``. The key exists only in the answer."""
        for _ in range(5):
            key_id, key = generate_key()
            stored = StoredKey(
                id=key_id,
                owner=owner,
                role=role,
                label=label,
                created_at=utcnow(),
                expires_at=expires_at,
                hash=hash_key(key),
            )
            try:
                await self.kv.create(key_id, stored.to_bytes())
            except KeyWrongLastSequenceError:  # the id exists already: draw another
                continue
            log.info("key_created", key_id=key_id, owner=owner, role=role)
            return key, stored
        raise RuntimeError("could not find a free key id")

    async def ensure(self, key: str, owner: str, role: Role = "admin") -> StoredKey:
        """Make sure ``key`` exists (the bootstrap admin key): create it, or find it as it was.

        Idempotent and safe when many gateways start at once (the first create wins; the others
        find its document). A key that exists is left alone: a revoked bootstrap key stays revoked.
        """
        key_id = parse_key(key)
        digest = hash_key(key)
        found = await self.get(key_id)
        if found is None:
            stored = StoredKey(
                id=key_id,
                owner=owner,
                role=role,
                label="bootstrap",
                created_at=utcnow(),
                hash=digest,
            )
            try:
                await self.kv.create(key_id, stored.to_bytes())
                log.info("bootstrap_key_created", key_id=key_id, owner=owner, role=role)
                return stored
            except KeyWrongLastSequenceError:  # another replica created it first
                found = await self.get(key_id)
                if found is None:
                    raise
        stored, _ = found
        if not key_matches(key, stored.hash):
            raise KeyConflict(f"key id {key_id} exists with another key's digest")
        if stored.revoked_at is not None:
            log.warning("bootstrap_key_revoked", key_id=key_id)
        return stored

    async def get(self, key_id: str) -> tuple[StoredKey, int] | None:
        if not is_key_id(key_id):
            return None
        try:
            entry = await self.kv.get(key_id)
        except NotFoundError:
            return None
        stored = _parse(entry.value)
        return None if stored is None else (stored, entry.revision or 0)

    async def all(self) -> list[StoredKey]:
        """Every key, oldest first."""
        found = await asyncio.gather(*(self.get(k) for k in await live_keys(self.kv)))
        return sorted((f[0] for f in found if f is not None), key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> StoredKey | None:
        """Mark the key revoked (idempotent: a revoked key keeps its first ``revoked_at``); None if
        there is no such key."""
        for _ in range(16):
            found = await self.get(key_id)
            if found is None:
                return None
            stored, revision = found
            if stored.revoked_at is not None:
                return stored
            revoked = stored.model_copy(update={"revoked_at": utcnow()})
            try:
                await self.kv.update(key_id, revoked.to_bytes(), last=revision)
            except KeyWrongLastSequenceError:
                continue
            log.info("key_revoked", key_id=key_id, owner=stored.owner)
            return revoked
        raise RuntimeError(f"key {key_id} kept changing; could not revoke it")

    async def touch(self, stored: StoredKey, revision: int, at: datetime) -> None:
        """Best effort: record ``at`` as the last use (skipped when the document changed meanwhile)."""
        touched = stored.model_copy(update={"last_used_at": at})
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self.kv.update(stored.id, touched.to_bytes(), last=revision)


class KeyCache:
    """The gateway's watched copy of the ``keys`` bucket (see the module's documentation)."""

    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        store: KeyStore,
        bucket: str,
        *,
        bound_s: float,
        unknown_ttl_s: float = UNKNOWN_TTL_S,
        max_reads: int = MAX_READS,
    ) -> None:
        self.nc = nc
        self.js = js
        self.store = store
        self.stream = f"KV_{bucket}"
        self.bound_s = bound_s
        self.check_interval_s = bound_s / 8
        self._keys: dict[str, tuple[StoredKey, int]] = {}
        self._gone: dict[str, int] = {}
        """Ids the watch saw deleted or purged: the revision of that (so no older read revives them)."""
        self.unknown_ttl_s = unknown_ttl_s
        self._unknown: dict[str, float] = {}
        """Ids a read did not find → when that stops counting (monotonic), oldest first."""
        self._read_slots = asyncio.Semaphore(max_reads)
        self._reads: dict[str, asyncio.Task[tuple[StoredKey, int] | None]] = {}
        self.miss_reads = 0
        """Reads of the bucket made for misses (a count, for the tests and the curious)."""
        self._seen = 0
        self._synced_at: float | None = None
        self._behind_since: float | None = None
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: KeyValue.KeyWatcher | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._initial = asyncio.Event()
        self._first_sync = asyncio.Event()
        self._closing = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, timeout_s: float = 10.0) -> None:
        """Load every key, then keep up; returns once the copy is in sync."""
        await self._watch()
        self._sync_task = asyncio.create_task(self._sync_loop())
        async with asyncio.timeout(timeout_s):
            await self._initial.wait()
            await self._first_sync.wait()

    async def close(self) -> None:
        # The flag, not only the cancel, ends the loops: on Python 3.11 a cancel that lands just as a
        # NATS reply arrives can be lost (the loop would then run on, and close wait for ever).
        self._closing = True
        tasks: list[asyncio.Task[Any]] = [
            t
            for t in (self._sync_task, self._watch_task, *self._tasks, *self._reads.values())
            if t is not None
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.bound_s + 5)
        await self._stop_watcher()

    async def _stop_watcher(self) -> None:
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated
            self._watcher = None

    async def _watch(self) -> None:
        await self._stop_watcher()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task
        self._watcher = await self.store.kv.watch(">")
        self._watch_task = asyncio.create_task(self._apply(self._watcher))

    async def _apply(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is None:  # the current values are all in
                self._initial.set()
                continue
            revision = entry.revision or 0
            self._unknown.pop(entry.key, None)
            if revision > self._revision_of(entry.key):  # a miss read may have brought it already
                if entry.operation in (KV_DEL, KV_PURGE):
                    self._keys.pop(entry.key, None)
                    self._gone[entry.key] = revision
                else:
                    stored = _parse(entry.value)
                    if stored is not None:
                        self._keys[entry.key] = (stored, revision)
                        self._gone.pop(entry.key, None)
            self._seen = max(self._seen, revision)

    def _revision_of(self, key_id: str) -> int:
        found = self._keys.get(key_id)
        return found[1] if found is not None else self._gone.get(key_id, 0)

    async def _sync_loop(self) -> None:
        was_in_sync = True
        while not self._closing:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.bound_s):
                    info = await self.js.stream_info(self.stream)
                last = info.state.last_seq or 0
            except Exception:  # NATS down or slow: the copy ages until lookups fail closed
                last = None
            if last is not None and self._seen >= last:
                self._synced_at = started
                self._behind_since = None
                self._first_sync.set()
            elif last is not None and self.nc.is_connected:
                self._behind_since = self._behind_since or started
                if started - self._behind_since > self.bound_s:
                    log.warning("key_watch_restarted", seen=self._seen, last=last)
                    self._behind_since = None
                    with contextlib.suppress(Exception):
                        await self._watch()
            if self.in_sync != was_in_sync:
                was_in_sync = self.in_sync
                if was_in_sync:
                    log.info("keys_in_sync")
                else:
                    log.error("keys_out_of_sync", bound_s=self.bound_s)
            await asyncio.sleep(self.check_interval_s)

    # -- reading --------------------------------------------------------------------------------
    @property
    def in_sync(self) -> bool:
        """True while the copy is known current as of at most ``bound_s`` ago."""
        return self._synced_at is not None and time.monotonic() - self._synced_at <= self.bound_s

    async def lookup(self, key_id: str) -> tuple[StoredKey, int] | None:
        """The key's document and revision, None if there is no such key; raises
        :class:`KeysUnavailable` when the copy is not known to be current or a miss cannot be
        read (see the module's documentation)."""
        if not self.in_sync:
            raise KeysUnavailable("the key store is unavailable; try again")
        found = self._keys.get(key_id)
        if found is not None or self._known_unknown(key_id):
            return found
        read = self._reads.get(key_id)
        if read is None:  # the first miss on this id reads it; the others wait for that read
            read = asyncio.create_task(self._read(key_id))
            self._reads[key_id] = read
            read.add_done_callback(lambda task: self._read_done(key_id, task))
        return await asyncio.shield(read)  # a waiter that gives up does not cancel the others' read

    def _known_unknown(self, key_id: str) -> bool:
        until = self._unknown.get(key_id)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self._unknown[key_id]
        return False

    def _note_unknown(self, key_id: str) -> None:
        now = time.monotonic()
        self._unknown.pop(key_id, None)
        while self._unknown and (
            len(self._unknown) >= UNKNOWN_MAX or next(iter(self._unknown.values())) <= now
        ):
            del self._unknown[next(iter(self._unknown))]
        self._unknown[key_id] = now + self.unknown_ttl_s

    async def _read(self, key_id: str) -> tuple[StoredKey, int] | None:
        """Read a miss from the bucket; keep it if newer than the copy; what the copy now says."""
        try:
            async with asyncio.timeout(self.bound_s), self._read_slots:
                self.miss_reads += 1
                found = await self.store.get(key_id)
        except Exception as exc:  # NATS down or slow: fail closed, as an out-of-date copy does
            log.warning("key_read_failed", key_id=key_id, error=type(exc).__name__)
            raise KeysUnavailable("the key store is unavailable; try again") from None
        if found is None:
            if key_id not in self._keys:
                self._note_unknown(key_id)
        elif found[1] > self._revision_of(key_id):
            self._keys[key_id] = found
            self._gone.pop(key_id, None)
        return self._keys.get(key_id)

    def _read_done(self, key_id: str, task: asyncio.Task[tuple[StoredKey, int] | None]) -> None:
        if self._reads.get(key_id) is task:
            del self._reads[key_id]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have given up on it

    def used(self, stored: StoredKey, revision: int) -> None:
        """Note a successful use; writes ``last_used_at`` at most once a minute (in the background)."""
        now = time.monotonic()
        if now - self._touched.get(stored.id, -TOUCH_INTERVAL_S) < TOUCH_INTERVAL_S:
            return
        self._touched[stored.id] = now
        at = utcnow()
        if stored.last_used_at is not None and at - stored.last_used_at < timedelta(seconds=TOUCH_INTERVAL_S):
            return
        task = asyncio.create_task(self._touch(stored, revision, at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _touch(self, stored: StoredKey, revision: int, at: datetime) -> None:
        try:
            await self.store.touch(stored, revision, at)
        except Exception as exc:  # best effort
            log.info("key_touch_failed", key_id=stored.id, error=type(exc).__name__)
