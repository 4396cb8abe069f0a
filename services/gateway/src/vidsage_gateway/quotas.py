"""Quotas and rate limits per tenant, counted in KV with compare-and-set, so they survive a gateway
restart and every replica agrees (nothing is counted in process memory; a replica only remembers
the last revision it wrote, to skip a read, and the write fails if that is stale).

**Rates** (bucket ``rates``, max age two hours): fixed clock windows, one counter per tenant and
window, ``requests.<owner>.<minute>`` and ``uploads.<owner>.<hour>``. A request over the limit
gets 429 ``rate_limited`` with ``Retry-After`` (the seconds to the window's end) and is not counted.

**Usage** (bucket ``usage``, one document per tenant): stored bytes and videos, and the uploads in
progress, each with the bytes it reserved. An upload reserves before it reads the body (its
``Content-Length``, or the upload cap when the length is unknown), against the quotas *including
the other reservations*, so uploads at once cannot overshoot; it settles with its real size when
the record is created, or releases the reservation (and its count in the hourly window) when it
is refused: a refused upload leaves no counter changed. A reservation lapses after an hour (a
gateway that died mid-upload). Deleting a video gives its bytes back. A tenant without a usage
document yet (a library from before quotas) is counted from the catalog on first use.

Over the bytes or videos quota: 403 ``quota_exceeded`` (with ``limit``, ``used`` and ``max``).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, Field

from vidsage.contracts.ids import new_id
from vidsage.contracts.keys import is_valid_owner
from vidsage.contracts.names import rate_key, usage_key
from vidsage.contracts.usage import Limits, Usage
from vidsage.kvkeys import live_keys
from vidsage.logging import get_logger
from vidsage.settings import GatewaySettings
from vidsage_gateway.errors import ApiError

log = get_logger("vidsage.gateway.quotas")

RATES_MAX_AGE_S = 2 * 3600.0
"""The ``rates`` bucket's max age: an hourly window's counter lives past its hour, then goes."""
RESERVATION_TTL_S = 3600.0
MAX_TRIES = 32

Counter = Callable[[str], Awaitable[tuple[int, int]]]
"""Counts an owner's stored (bytes, videos) from the catalog."""


class Reservation(BaseModel):
    bytes: int
    until: float
    """Unix seconds; a reservation older than this is dropped."""


class UsageDoc(BaseModel):
    bytes: int = 0
    videos: int = 0
    reservations: dict[str, Reservation] = Field(default_factory=dict)

    def live(self, now: float) -> UsageDoc:
        kept = {rid: r for rid, r in self.reservations.items() if r.until > now}
        return self.model_copy(update={"reservations": kept})

    @property
    def reserved_bytes(self) -> int:
        return sum(r.bytes for r in self.reservations.values())


@dataclass(frozen=True)
class UploadTicket:
    """An upload's reservation: settle it with the stored size, or release it."""

    owner: str
    reservation_id: str
    uploads_key: str


def _rate_limited(what: str, limit: int, retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"over the limit of {limit} {what}; try again in {retry_after_s} s",
        headers={"Retry-After": str(retry_after_s)},
        extra={"limit": what.replace(" ", "_"), "retry_after_s": retry_after_s},
    )


def _quota_exceeded(limit: str, used: int, maximum: int, message: str) -> ApiError:
    return ApiError(403, "quota_exceeded", message, extra={"limit": limit, "used": used, "max": maximum})


class Quotas:
    """The counters of every tenant (see the module's documentation)."""

    def __init__(
        self, usage_kv: KeyValue, rates_kv: KeyValue, cfg: GatewaySettings, count_stored: Counter
    ) -> None:
        self.usage_kv = usage_kv
        self.rates_kv = rates_kv
        self.cfg = cfg
        self.count_stored = count_stored
        self._revisions: dict[str, tuple[int, int]] = {}  # rate key → (count, revision) last written
        self._window = 0

    def limits(self, owner: str) -> Limits:
        cfg = self.cfg
        override = cfg.tenant_limits.get(owner)
        values: dict[str, Any] = {
            "quota_bytes": cfg.quota_bytes,
            "quota_videos": cfg.quota_videos,
            "uploads_per_hour": cfg.uploads_per_hour,
            "requests_per_minute": cfg.requests_per_minute,
        }
        if override is not None:
            values.update(override.model_dump(exclude_none=True))
        return Limits(**values)

    # -- windowed counters ------------------------------------------------------------------------
    async def _read_count(self, key: str) -> tuple[int, int]:
        try:
            entry = await self.rates_kv.get(key)
        except NotFoundError:
            return 0, 0
        try:
            return int(entry.value or b"0"), entry.revision or 0
        except ValueError:
            return 0, entry.revision or 0

    async def _add(self, key: str, delta: int, limit: int) -> int | None:
        """Add ``delta`` to the counter unless that passes ``limit`` (0: none); the new count, or
        None when refused."""
        for attempt in range(MAX_TRIES):
            known = self._revisions.pop(key, None)
            count, revision = known if known is not None else await self._read_count(key)
            new = max(count + delta, 0)
            if delta > 0 and limit and new > limit:
                if known is not None:  # what this replica last wrote may be stale: read it again
                    continue
                self._revisions[key] = (count, revision)
                return None
            try:
                if revision == 0:
                    written = await self.rates_kv.create(key, str(new).encode())
                else:
                    written = await self.rates_kv.update(key, str(new).encode(), last=revision)
            except KeyWrongLastSequenceError:  # another request or replica counted meanwhile
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 8)))
                continue
            self._revisions[key] = (new, written)
            return new
        raise ApiError(503, "rate_unavailable", "the rate counters are too busy; try again")

    def _forget_old_windows(self, minute: int) -> None:
        if minute != self._window:
            self._window = minute
            self._revisions.clear()

    async def count_request(self, owner: str) -> None:
        """One authenticated request of ``owner``; 429 over ``requests_per_minute``."""
        now = time.time()
        minute = int(now // 60)
        self._forget_old_windows(minute)
        limit = self.limits(owner).requests_per_minute
        try:
            counted = await self._add(rate_key("requests", owner, minute), 1, limit)
        except ApiError:
            raise
        except Exception as exc:  # NATS down: refuse rather than serve uncounted
            raise ApiError(
                503,
                "rate_unavailable",
                "the rate counters are unavailable; try again",
                headers={"Retry-After": "5"},
            ) from exc
        if counted is None:
            raise _rate_limited("requests per minute", limit, max(1, math.ceil((minute + 1) * 60 - now)))

    async def _window_count(self, kind: str, owner: str, window: int) -> int:
        count, _ = await self._read_count(rate_key(kind, owner, window))
        return count

    # -- usage ------------------------------------------------------------------------------------
    async def _usage_entry(self, owner: str) -> tuple[UsageDoc, int]:
        """The owner's usage document and revision (0: none yet, counted from the catalog)."""
        try:
            entry = await self.usage_kv.get(usage_key(owner))
        except NotFoundError:
            entry = None
        if entry is not None and entry.value:
            return UsageDoc.model_validate_json(entry.value), entry.revision or 0
        stored_bytes, videos = await self.count_stored(owner)
        return UsageDoc(bytes=stored_bytes, videos=videos), 0

    async def _change_usage(self, owner: str, change: Callable[[UsageDoc], UsageDoc]) -> UsageDoc:
        """Apply ``change`` (which may raise to refuse) with compare-and-set."""
        key = usage_key(owner)
        for attempt in range(MAX_TRIES):
            doc, revision = await self._usage_entry(owner)
            new = change(doc.live(time.time()))
            data = new.model_dump_json().encode()
            try:
                if revision == 0:
                    await self.usage_kv.create(key, data)
                else:
                    await self.usage_kv.update(key, data, last=revision)
            except KeyWrongLastSequenceError:
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 8)))
                continue
            return new
        raise ApiError(503, "quota_unavailable", "the usage counters are too busy; try again")

    async def reserve_upload(self, owner: str, nbytes: int) -> UploadTicket:
        """Count the upload in this hour's window and reserve ``nbytes`` (429 / 403 if over)."""
        limits = self.limits(owner)
        now = time.time()
        hour = int(now // 3600)
        uploads_key = rate_key("uploads", owner, hour)
        if await self._add(uploads_key, 1, limits.uploads_per_hour) is None:
            raise _rate_limited(
                "uploads per hour", limits.uploads_per_hour, max(1, math.ceil((hour + 1) * 3600 - now))
            )
        reservation_id = new_id()

        def reserve(doc: UsageDoc) -> UsageDoc:
            videos = doc.videos + len(doc.reservations)
            if limits.quota_videos and videos + 1 > limits.quota_videos:
                raise _quota_exceeded(
                    "quota_videos",
                    doc.videos,
                    limits.quota_videos,
                    f"this tenant has {doc.videos} of its {limits.quota_videos} videos"
                    + (f" ({len(doc.reservations)} more uploading)" if doc.reservations else "")
                    + "; delete some to upload more",
                )
            used = doc.bytes + doc.reserved_bytes
            if limits.quota_bytes and used + nbytes > limits.quota_bytes:
                raise _quota_exceeded(
                    "quota_bytes",
                    doc.bytes,
                    limits.quota_bytes,
                    f"this upload ({nbytes} bytes) would pass the storage quota: {doc.bytes} of "
                    f"{limits.quota_bytes} bytes are stored"
                    + (
                        f" and {doc.reserved_bytes} reserved by uploads in progress"
                        if doc.reservations
                        else ""
                    ),
                )
            held = {
                **doc.reservations,
                reservation_id: Reservation(bytes=nbytes, until=now + RESERVATION_TTL_S),
            }
            return doc.model_copy(update={"reservations": held})

        try:
            await self._change_usage(owner, reserve)
        except BaseException:
            await self._refund(uploads_key)
            raise
        return UploadTicket(owner, reservation_id, uploads_key)

    async def _refund(self, uploads_key: str) -> None:
        try:
            await asyncio.shield(self._add(uploads_key, -1, 0))
        except Exception as exc:
            log.error("upload_count_refund_failed", error=type(exc).__name__)

    async def settle(self, ticket: UploadTicket, size: int) -> None:
        """The upload is stored: its real size and one video replace the reservation."""

        def settle(doc: UsageDoc) -> UsageDoc:
            held = {k: v for k, v in doc.reservations.items() if k != ticket.reservation_id}
            return doc.model_copy(
                update={"bytes": doc.bytes + size, "videos": doc.videos + 1, "reservations": held}
            )

        for attempt in range(3):
            try:
                await asyncio.shield(self._change_usage(ticket.owner, settle))
                return
            except Exception as exc:
                if attempt == 2:
                    log.error("usage_settle_failed", owner=ticket.owner, size=size, error=type(exc).__name__)
                else:
                    await asyncio.sleep(0.2)

    async def release(self, ticket: UploadTicket) -> None:
        """The upload was refused: drop its reservation and its count in the hourly window."""

        def release(doc: UsageDoc) -> UsageDoc:
            held = {k: v for k, v in doc.reservations.items() if k != ticket.reservation_id}
            return doc.model_copy(update={"reservations": held})

        try:
            await asyncio.shield(self._change_usage(ticket.owner, release))
        except Exception as exc:  # the reservation lapses after an hour anyway
            log.error("usage_release_failed", owner=ticket.owner, error=type(exc).__name__)
        await self._refund(ticket.uploads_key)

    async def give_back(self, owner: str, size: int) -> None:
        """A video of ``owner`` was deleted: its bytes and its place count no more."""

        def give_back(doc: UsageDoc) -> UsageDoc:
            return doc.model_copy(
                update={"bytes": max(doc.bytes - size, 0), "videos": max(doc.videos - 1, 0)}
            )

        try:
            await asyncio.shield(self._change_usage(owner, give_back))
        except Exception as exc:
            log.error("usage_give_back_failed", owner=owner, size=size, error=type(exc).__name__)

    async def usage(self, owner: str) -> Usage:
        now = time.time()
        doc, _ = await self._usage_entry(owner)
        doc = doc.live(now)
        return Usage(
            owner=owner,
            bytes=doc.bytes,
            videos=doc.videos,
            reserved_bytes=doc.reserved_bytes,
            uploads_this_hour=await self._window_count("uploads", owner, int(now // 3600)),
            requests_this_minute=await self._window_count("requests", owner, int(now // 60)),
            limits=self.limits(owner),
        )

    async def owners(self) -> list[str]:
        """Every owner with a usage document."""
        return sorted(k for k in await live_keys(self.usage_kv) if is_valid_owner(k))
