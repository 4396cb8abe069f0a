"""Listing the keys of a JetStream KV bucket without leaving consumers behind, and without missing
any.

A listing is a short-lived ordered consumer over the last message of each matching key (nats-py's
``kv.watch``). It ends with the entry after which the server had nothing more pending (each entry
carries that count), not with nats-py's "initial values done" marker: that marker can come first
when the server delivered an entry the client has not processed yet (an empty listing of a
non-empty bucket, seen under load). Whether anything is to come at all is asked of the consumer
itself right after it is created.
"""

from __future__ import annotations

import asyncio

from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

CONSUMER_TTL_S = 2.0
"""How long the server keeps the listing's ordered consumer after it is unsubscribed (nats-py's
``kv.keys()`` keeps it 5 minutes: hundreds of them for one browser polling the library)."""
LISTING_TIMEOUT_S = 30.0
"""A listing that has not ended by then raises :class:`TimeoutError` (the bus is gone)."""


async def live_keys(kv: KeyValue, pattern: str = ">") -> list[str]:
    """The keys matching ``pattern`` (a subject filter) that are neither deleted nor purged."""
    return [entry.key for entry in await live_entries(kv, pattern, meta_only=True)]


async def live_entries(kv: KeyValue, pattern: str = ">", *, meta_only: bool = False) -> list[KeyValue.Entry]:
    """The latest entries (with their values unless ``meta_only``) of the keys matching
    ``pattern`` that are neither deleted nor purged: one listing instead of a read per key."""
    watcher = await kv.watch(pattern, meta_only=meta_only, inactive_threshold=CONSUMER_TTL_S)
    entries: list[KeyValue.Entry] = []
    try:
        # nats-py keeps the subscription private; its consumer says whether anything matches
        subscription = watcher._sub
        assert subscription is not None  # set by kv.watch before it returns
        info = await subscription.consumer_info()
        if not info.num_pending and not (info.delivered and info.delivered.consumer_seq):
            return entries
        async with asyncio.timeout(LISTING_TIMEOUT_S):
            async for entry in watcher:
                if entry is None:  # nats-py's marker: not to be trusted as the end (see above)
                    continue
                if entry.operation not in (KV_DEL, KV_PURGE):
                    entries.append(entry)
                if not entry.delta:  # the server had nothing more pending after this one
                    break
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves KeyWatcher.stop unannotated
    return entries
