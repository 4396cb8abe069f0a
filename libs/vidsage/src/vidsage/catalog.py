"""The video catalog: one record per video in the JetStream KV bucket ``videos``, keyed
``<owner>.<video_id>`` (:func:`vidsage.contracts.names.catalog_key`).

Every read and write names the owner, so tenancy is decided at the source: another tenant's video
is not found, exactly like an id that does not exist, and a listing reads only the keys under
``<owner>.*``. :data:`~vidsage.contracts.names.ANY_OWNER` lists every owner's records (an admin's
``?owner=*``); :meth:`Catalog.find` tells the owner of an id (for the workers' failure path and an
admin across tenants).

Every change is a compare-and-set on the KV revision (:meth:`Catalog.update` re-reads and
retries on conflict), so two services never overwrite each other's fields. Stage transitions
are idempotent: applying a transition the record has already passed changes nothing (the record
and its transitions are :mod:`vidsage.contracts.record`).

:meth:`Catalog.migrate` moves records stored under a bare ``<video_id>`` key (before tenancy) to
``<record.owner>.<video_id>``; every service that may write the catalog (the gateway and the
workers, not chat: :func:`vidsage.contracts.permissions.writes_catalog`) runs it at startup,
before it takes work.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from nats.js.errors import APIError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from vidsage.contracts.ids import is_valid_id
from vidsage.contracts.keys import is_valid_owner
from vidsage.contracts.names import ANY_OWNER, catalog_key
from vidsage.contracts.record import VideoRecord
from vidsage.kvkeys import live_entries, live_keys
from vidsage.logging import get_logger

log = get_logger("vidsage.catalog")


_WRONG_LAST_SEQUENCE = (10071, 10164)
"""JetStream's error codes for a failed compare-and-set (expected last subject sequence)."""


class CatalogConflict(Exception):
    """A record kept changing under a compare-and-set update."""


class Catalog:
    """CRUD over the ``videos`` KV bucket with revision-checked updates."""

    def __init__(self, kv: KeyValue, *, max_retries: int = 16) -> None:
        self._kv = kv
        self._max_retries = max_retries

    async def create(self, record: VideoRecord) -> int:
        """Store a new record under its owner; fails if the id exists there."""
        return await self._kv.create(catalog_key(record.owner, record.id), record.to_bytes())

    async def get_entry(self, owner: str, video_id: str) -> tuple[VideoRecord, int] | None:
        if not is_valid_owner(owner) or not is_valid_id(video_id):
            return None
        return await self._entry(catalog_key(owner, video_id))

    async def _entry(self, key: str) -> tuple[VideoRecord, int] | None:
        try:
            entry = await self._kv.get(key)
        except NotFoundError:  # missing, deleted or purged
            return None
        if entry.value is None:
            return None
        return VideoRecord.model_validate_json(entry.value), entry.revision or 0

    async def get(self, owner: str, video_id: str) -> VideoRecord | None:
        """The record of ``owner``'s video, or None (also for another owner's video)."""
        found = await self.get_entry(owner, video_id)
        return found[0] if found else None

    async def find(self, video_id: str) -> str | None:
        """The owner of ``video_id``, whoever it is; None if no owner has it. A short listing (not
        a key read): for the workers' failure path and admins, never a tenant's request."""
        if not is_valid_id(video_id):
            return None
        for key in await live_keys(self._kv, catalog_key("*", video_id)):
            owner = key.split(".", 1)[0]
            if is_valid_owner(owner):
                return owner
        return None

    async def update(
        self, owner: str, video_id: str, change: Callable[[VideoRecord], VideoRecord | None]
    ) -> tuple[VideoRecord | None, bool]:
        """Apply ``change`` with compare-and-set; returns (record, changed).

        The record is None when the video does not exist (deleted meanwhile). ``change`` returns
        None to leave the record as it is; it may be called again after a conflict.
        """
        for attempt in range(self._max_retries):
            found = await self.get_entry(owner, video_id)
            if found is None:
                return None, False
            record, revision = found
            new = change(record)
            if new is None:
                return record, False
            try:
                await self._kv.update(catalog_key(owner, video_id), new.to_bytes(), last=revision)
            except KeyWrongLastSequenceError:
                # Lost the race: wait a random, growing moment so that contenders spread out
                # instead of colliding again in lockstep (which exhausts the retries).
                await asyncio.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
                continue
            return new, True
        raise CatalogConflict(f"record {video_id} kept changing; gave up after {self._max_retries} tries")

    async def delete(self, owner: str, video_id: str) -> VideoRecord | None:
        """Remove the record and its history; returns the record that was removed, None if there
        was none. Compare-and-set: of concurrent deletes exactly one gets the record (so the
        caller can give its bytes back to the quota once)."""
        key = catalog_key(owner, video_id)
        for _ in range(self._max_retries):
            found = await self.get_entry(owner, video_id)
            if found is None:
                return None
            record, revision = found
            try:
                await self._kv.delete(key, last=revision)
            except APIError as exc:
                if exc.err_code in _WRONG_LAST_SEQUENCE:  # changed (or deleted) meanwhile: look again
                    continue
                raise
            await self._kv.purge(key)  # drop the history and the delete marker's predecessors
            return record
        raise CatalogConflict(f"record {video_id} kept changing; gave up deleting it")

    async def _entries(self, owner: str, *, meta_only: bool) -> list[tuple[str, str, KeyValue.Entry]]:
        """(owner, video id, latest entry) of every record of ``owner`` (or of every owner:
        ANY_OWNER); the entries carry no value when ``meta_only``."""
        pattern = catalog_key("*" if owner == ANY_OWNER else owner, "*")
        if owner != ANY_OWNER and not is_valid_owner(owner):
            return []
        found = []
        for entry in await live_entries(self._kv, pattern, meta_only=meta_only):
            found_owner, _, video_id = entry.key.partition(".")
            if is_valid_owner(found_owner) and is_valid_id(video_id):
                found.append((found_owner, video_id, entry))
        return found

    async def _keys(self, owner: str) -> list[tuple[str, str]]:
        """(owner, video id) of every record of ``owner`` (or of every owner: ANY_OWNER)."""
        return [
            (found_owner, video_id) for found_owner, video_id, _ in await self._entries(owner, meta_only=True)
        ]

    async def records(self, owner: str) -> list[VideoRecord]:
        """Every record of ``owner`` (ANY_OWNER: everyone's), in no particular order, read in one
        listing rather than a read per key (for the reconciler's sweeps over the whole catalog)."""
        return [
            VideoRecord.model_validate_json(entry.value)
            for _, _, entry in await self._entries(owner, meta_only=False)
            if entry.value
        ]

    async def ids(self, owner: str) -> list[str]:
        """Every video id of ``owner`` (ANY_OWNER: of everyone); one short-lived ordered consumer,
        see :mod:`vidsage.kvkeys`."""
        return [video_id for _, video_id in await self._keys(owner)]

    async def list(
        self, owner: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[VideoRecord], str | None]:
        """``owner``'s records (ANY_OWNER: everyone's), newest first (ids sort by creation time);
        ``cursor`` is the last id of the previous page."""
        pairs = sorted(await self._keys(owner), key=lambda pair: pair[1], reverse=True)
        if cursor:
            pairs = [p for p in pairs if p[1] < cursor]
        records: list[VideoRecord] = []
        start = 0
        # A page's records are read at once; one deleted since the key listing is skipped and the
        # next id read in its place.
        while len(records) < limit and start < len(pairs):
            batch = pairs[start : start + limit - len(records)]
            start += len(batch)
            found = await asyncio.gather(*(self.get(o, video_id) for o, video_id in batch))
            records.extend(record for record in found if record is not None)
        more = bool(records) and any(p[1] < records[-1].id for p in pairs)
        return records, (records[-1].id if more else None)

    async def totals(self, owner: str) -> tuple[int, int]:
        """(bytes, videos) stored by ``owner``: the sum of its records' sizes, and their number."""
        records = await self.records(owner)
        return sum(r.size for r in records), len(records)

    async def migrate(self) -> int:
        """Move every record stored under a bare ``<video_id>`` key (before tenancy) to
        ``<record.owner>.<video_id>``; returns how many moved. Idempotent and safe when several
        services run it at once: the copy is a create (the first wins), the old key goes only once
        its copy exists."""
        moved = 0
        for key in await live_keys(self._kv, "*"):  # one-token keys: the bare ids
            if not is_valid_id(key):
                continue
            found = await self._entry(key)
            if found is None:
                continue
            record, _ = found
            if not is_valid_owner(record.owner):
                log.error("catalog_migration_skipped", video_id=key, reason="owner is not a valid owner name")
                continue
            try:
                await self._kv.create(catalog_key(record.owner, key), record.to_bytes())
                moved += 1
            except KeyWrongLastSequenceError:
                pass  # already copied (by another service, or an earlier run that stopped midway)
            await self._kv.purge(key)
        if moved:
            log.info("catalog_migrated", records=moved)
        return moved
