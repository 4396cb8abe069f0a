"""The video catalog: one record per video in the JetStream KV bucket ``videos``.

Every change is a compare-and-set on the KV revision (:meth:`Catalog.update` re-reads and
retries on conflict), so two services never overwrite each other's fields. Stage transitions
are idempotent: applying a transition the record has already passed changes nothing (the record
and its transitions are :mod:`vidsage.contracts.record`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from vidsage.contracts.ids import is_valid_id
from vidsage.contracts.record import VideoRecord
from vidsage.kvkeys import live_keys


class CatalogConflict(Exception):
    """A record kept changing under a compare-and-set update."""


class Catalog:
    """CRUD over the ``videos`` KV bucket with revision-checked updates."""

    def __init__(self, kv: KeyValue, *, max_retries: int = 16) -> None:
        self._kv = kv
        self._max_retries = max_retries

    async def create(self, record: VideoRecord) -> int:
        """Store a new record; fails if the id exists."""
        return await self._kv.create(record.id, record.to_bytes())

    async def get_entry(self, video_id: str) -> tuple[VideoRecord, int] | None:
        if not is_valid_id(video_id):
            return None
        try:
            entry = await self._kv.get(video_id)
        except NotFoundError:  # missing, deleted or purged
            return None
        if entry.value is None:
            return None
        return VideoRecord.model_validate_json(entry.value), entry.revision or 0

    async def get(self, video_id: str) -> VideoRecord | None:
        found = await self.get_entry(video_id)
        return found[0] if found else None

    async def update(
        self, video_id: str, change: Callable[[VideoRecord], VideoRecord | None]
    ) -> tuple[VideoRecord | None, bool]:
        """Apply ``change`` with compare-and-set; returns (record, changed).

        The record is None when the video does not exist (deleted meanwhile). ``change`` returns
        None to leave the record as it is; it may be called again after a conflict.
        """
        for attempt in range(self._max_retries):
            found = await self.get_entry(video_id)
            if found is None:
                return None, False
            record, revision = found
            new = change(record)
            if new is None:
                return record, False
            try:
                await self._kv.update(video_id, new.to_bytes(), last=revision)
            except KeyWrongLastSequenceError:
                # Lost the race: wait a random, growing moment so that contenders spread out
                # instead of colliding again in lockstep (which exhausts the retries).
                await asyncio.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))
                continue
            return new, True
        raise CatalogConflict(f"record {video_id} kept changing; gave up after {self._max_retries} tries")

    async def delete(self, video_id: str) -> bool:
        """Remove the record and its history; False if it did not exist."""
        if await self.get_entry(video_id) is None:
            return False
        await self._kv.purge(video_id)
        return True

    async def ids(self) -> list[str]:
        """Every video id (one short-lived ordered consumer, see :mod:`vidsage.kvkeys`)."""
        return [k for k in await live_keys(self._kv) if is_valid_id(k)]

    async def list(self, *, limit: int, cursor: str | None = None) -> tuple[list[VideoRecord], str | None]:
        """Newest first (ids sort by creation time); ``cursor`` is the last id of the previous page."""
        ids = sorted(await self.ids(), reverse=True)
        if cursor:
            ids = [i for i in ids if i < cursor]
        records: list[VideoRecord] = []
        start = 0
        # A page's records are read at once; one deleted since the key listing is skipped and the
        # next id read in its place.
        while len(records) < limit and start < len(ids):
            batch = ids[start : start + limit - len(records)]
            start += len(batch)
            found = await asyncio.gather(*(self.get(video_id) for video_id in batch))
            records.extend(record for record in found if record is not None)
        more = bool(records) and any(i < records[-1].id for i in ids)
        return records, (records[-1].id if more else None)
