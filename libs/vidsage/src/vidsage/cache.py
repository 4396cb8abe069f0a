"""The shared cache: a JetStream KV bucket whose max age is the TTL (24 h by default), in front
of it a small in-process LRU with a short TTL of its own.

Invalidation (:meth:`Cache.invalidate_prefix`) purges the shared entries and broadcasts on core
NATS, so every process drops its LRU copies too. The cache never fails a request: if the bus
is down, reads fall through to the loader and writes are skipped (logged).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from vidsage.contracts import names
from vidsage.kvkeys import live_keys
from vidsage.logging import get_logger

log = get_logger("vidsage.cache")


class LRU:
    """A bounded mapping with per-entry expiry."""

    def __init__(self, size: int, ttl_s: float) -> None:
        self._size = size
        self._ttl = ttl_s
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def set(self, key: str, value: bytes) -> None:
        if self._size <= 0:
            return
        self._data[key] = (time.monotonic() + self._ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._size:
            self._data.popitem(last=False)

    def drop_prefix(self, prefix: str) -> int:
        doomed = [k for k in self._data if k.startswith(prefix)]
        for key in doomed:
            del self._data[key]
        return len(doomed)

    def __len__(self) -> int:
        return len(self._data)


class Cache:
    """Two-tier cache of small JSON values. Keys use KV-safe characters: ``video.<id>.<what>``
    (:mod:`vidsage.contracts.names` builds them)."""

    def __init__(self, nc: NATS, kv: KeyValue, *, lru_size: int, lru_ttl_s: float) -> None:
        self._nc = nc
        self._kv = kv
        self.lru = LRU(lru_size, lru_ttl_s)
        self._sub: Subscription | None = None
        self.hits = 0
        self.misses = 0

    async def start(self) -> None:
        """Listen for invalidations from other processes."""

        async def on_invalidate(msg: Any) -> None:
            self.lru.drop_prefix(msg.data.decode())

        self._sub = await self._nc.subscribe(names.CACHE_INVALIDATE_SUBJECT, cb=on_invalidate)

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def get(self, key: str, *, fresh: bool = False) -> Any | None:
        """The value, or None; ``fresh`` skips the in-process copy (for values other processes
        change, like a conversation continued on another replica)."""
        raw = None if fresh else self.lru.get(key)
        if raw is None:
            try:
                entry = await self._kv.get(key)
            except NotFoundError:  # missing, deleted or purged
                return None
            except Exception as exc:
                log.warning("cache_read_failed", key=key, error=str(exc))
                return None
            if not entry.value:
                return None
            raw = entry.value
            self.lru.set(key, raw)
        return json.loads(raw)

    async def set(self, key: str, value: Any) -> None:
        raw = json.dumps(value, separators=(",", ":")).encode()
        self.lru.set(key, raw)
        try:
            await self._kv.put(key, raw)
        except Exception as exc:
            log.warning("cache_write_failed", key=key, error=str(exc))

    async def get_or_load(self, key: str, loader: Callable[[], Awaitable[Any | None]]) -> Any | None:
        """The cached value, or the loader's (stored unless it is None)."""
        value = await self.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = await loader()
        if value is not None:
            await self.set(key, value)
        return value

    async def invalidate_prefix(self, prefix: str) -> None:
        """Drop every entry whose key starts with ``prefix`` (which must end with ``.``)."""
        self.lru.drop_prefix(prefix)
        try:
            for key in await self._keys(prefix):
                await self._kv.purge(key)
            await self._nc.publish(names.CACHE_INVALIDATE_SUBJECT, prefix.encode())
        except Exception as exc:
            log.warning("cache_invalidate_failed", prefix=prefix, error=str(exc))

    async def _keys(self, prefix: str) -> list[str]:
        """Live keys under ``prefix`` (a subject-filtered watch, not a scan of the bucket)."""
        return await live_keys(self._kv, prefix + ">")
