"""Uploads in flight, bounded per gateway process (503 ``overloaded`` beyond the bound)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from vidsage_gateway.errors import ApiError

RETRY_AFTER_S = 5
"""``Retry-After`` of an upload refused for overload or a full spool folder."""


class UploadSlots:
    """Uploads in progress in this process, bounded; one more than the bound is refused at once."""

    def __init__(self) -> None:
        self.active = 0
        self.undo: set[asyncio.Task[None]] = set()
        """Background deletes of records whose creation timed out (:func:`_undo_record`)."""

    @contextlib.contextmanager
    def take(self, limit: int) -> Iterator[None]:
        """Hold one of ``limit`` slots; 503 ``overloaded`` with ``Retry-After`` when all are taken."""
        if self.active >= limit:
            raise ApiError(
                503,
                "overloaded",
                f"the gateway is receiving {limit} uploads already; try again shortly",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    async def close(self) -> None:
        """Cancel the background deletes still running (the gateway is stopping)."""
        for task in list(self.undo):
            task.cancel()
        await asyncio.gather(*self.undo, return_exceptions=True)
