"""The two webhook buckets: endpoints (``webhooks``: the gateway writes, the notifier reads) and
deliveries (``webhook-deliveries``: the notifier writes, the gateway reads). Every key starts with
the owner, so every read names the tenant at the source: another tenant's id is simply not there.
"""

from __future__ import annotations

import asyncio

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from vidsage.contracts import names
from vidsage.contracts.ids import is_valid_id
from vidsage.contracts.webhooks import Delivery, StoredWebhook
from vidsage.kvkeys import live_entries, live_keys


class WebhookStore:
    """Endpoints by ``<owner>.<endpoint_id>``."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def create(self, endpoint: StoredWebhook) -> None:
        await self.kv.create(
            names.webhook_key(endpoint.owner, endpoint.id), endpoint.model_dump_json().encode()
        )

    async def get(self, owner: str, endpoint_id: str) -> StoredWebhook | None:
        if not is_valid_id(endpoint_id):
            return None
        try:
            entry = await self.kv.get(names.webhook_key(owner, endpoint_id))
        except KeyNotFoundError:
            return None
        return StoredWebhook.model_validate_json(entry.value) if entry.value else None

    async def list(self, owner: str) -> list[StoredWebhook]:
        """The owner's endpoints, oldest first."""
        entries = await live_entries(self.kv, names.webhook_key(owner, "*"))
        found = [StoredWebhook.model_validate_json(e.value) for e in entries if e.value]
        return sorted(found, key=lambda w: w.id)

    async def count(self, owner: str) -> int:
        return len(await live_keys(self.kv, names.webhook_key(owner, "*")))

    async def delete(self, owner: str, endpoint_id: str) -> bool:
        if await self.get(owner, endpoint_id) is None:
            return False
        await self.kv.delete(names.webhook_key(owner, endpoint_id))
        return True


class DeliveryLog:
    """Deliveries by ``<owner>.<endpoint_id>.<event_id>`` (the bucket's max age bounds them)."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, owner: str, endpoint_id: str, event_id: str) -> Delivery | None:
        try:
            entry = await self.kv.get(names.webhook_delivery_key(owner, endpoint_id, event_id))
        except KeyNotFoundError:
            return None
        return Delivery.model_validate_json(entry.value) if entry.value else None

    async def put(self, owner: str, delivery: Delivery) -> None:
        key = names.webhook_delivery_key(owner, delivery.webhook_id, delivery.event_id)
        await self.kv.put(key, delivery.model_dump_json().encode())

    async def recent(self, owner: str, endpoint_id: str, limit: int) -> list[Delivery]:
        """The endpoint's ``limit`` newest deliveries, newest first (event ids are UUIDv7: their
        order is the events' order), reading only those."""
        keys = await live_keys(self.kv, names.webhook_delivery_key(owner, endpoint_id, "*"))
        newest = sorted(keys, reverse=True)[:limit]
        found = await asyncio.gather(
            *(self.get(owner, endpoint_id, key.rpartition(".")[2]) for key in newest)
        )  # the reads at once, not one round trip after another
        return [delivery for delivery in found if delivery is not None]
