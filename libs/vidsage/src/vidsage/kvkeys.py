"""Listing the keys of a JetStream KV bucket without leaving consumers behind."""

from __future__ import annotations

from nats.js.kv import KeyValue

CONSUMER_TTL_S = 2.0
"""How long the server keeps the listing's ordered consumer after it is unsubscribed (nats-py's
``kv.keys()`` keeps it 5 minutes: hundreds of them for one browser polling the library)."""


async def live_keys(kv: KeyValue, pattern: str = ">") -> list[str]:
    """The keys matching ``pattern`` (a subject filter) that are neither deleted nor purged."""
    watcher = await kv.watch(pattern, ignore_deletes=True, meta_only=True, inactive_threshold=CONSUMER_TTL_S)
    keys: list[str] = []
    try:
        async for entry in watcher:
            if entry is None:  # end of the current values
                break
            keys.append(entry.key)
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves KeyWatcher.stop unannotated
    return keys
