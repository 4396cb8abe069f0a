"""One event → a delivery to each endpoint of the video's owner that subscribed to its type.

Each (event, endpoint) pair has its own record in the deliveries bucket, written after every
attempt and before the event is acked: an endpoint that succeeded (or failed for good) is skipped
when the event comes again, so a failing endpoint is retried alone and never makes the others
receive it twice. While any is pending the event is nak'ed with an exponential delay
(:func:`retry_delay`) and JetStream redelivers it; at the last attempt (``notifier.max_deliver``)
the pending ones are recorded ``failed`` and the event is acked. An endpoint deleted meanwhile is
no longer listed, so its deliveries stop; one registered after the event does not get it.

An attempt whose record cannot be written (the bucket unreachable right after the receiver
answered) is kept in memory until it is: the Worker retries the event in place while the bus is
down, and that retry writes the kept record instead of sending the event again.
"""

from __future__ import annotations

import asyncio
import time

from vidsage.contracts.events import Event, utcnow
from vidsage.contracts.webhooks import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK_ID_HEADER,
    Delivery,
    DeliveryAttempt,
    StoredWebhook,
    WebhookPayload,
    derive_secret,
    sign,
    webhook_event_type,
)
from vidsage.logging import get_logger
from vidsage.settings import NotifierSettings
from vidsage.webhook_store import DeliveryLog, WebhookStore
from vidsage_notifier.sender import Sender

log = get_logger("vidsage.notifier")


UNSAVED_MAX = 10_000
"""Attempts kept in memory while their records cannot be written (each a few hundred bytes)."""


class DeliveriesPending(Exception):
    """Some endpoints have not had the event yet: redeliver it later."""


def retry_delay(settings: NotifierSettings, attempt: int) -> float:
    """The pause after failed attempt ``attempt``: ``backoff_s`` × 2^(attempt-1), capped."""
    return float(min(settings.backoff_s * 2 ** (attempt - 1), settings.backoff_max_s))


def payload(event: Event, endpoint: StoredWebhook) -> bytes:
    """The body: the same bytes on every attempt."""
    return (
        WebhookPayload(
            event_id=event.event_id,
            type=webhook_event_type(event.type),
            webhook_id=endpoint.id,
            occurred_at=event.occurred_at,
            data=event.model_dump(mode="json"),
        )
        .model_dump_json()
        .encode()
    )


class Notifier:
    """The consumer's handler (``vidsage.bus.Worker``): ``await notifier(event, attempt)``."""

    def __init__(
        self,
        settings: NotifierSettings,
        secret_key: str,
        endpoints: WebhookStore,
        deliveries: DeliveryLog,
        sender: Sender,
    ) -> None:
        self.settings = settings
        self._secret_key = secret_key  # webhooks.secret_key: each webhook's secret is derived from it
        self.endpoints = endpoints
        self.deliveries = deliveries
        self.sender = sender
        self._unsaved: dict[tuple[str, str, str], Delivery] = {}
        """(owner, webhook id, event id) → an attempt made whose record is not written yet."""

    async def __call__(self, event: Event, attempt: int) -> None:
        kind = webhook_event_type(event.type)
        targets = [
            e
            for e in await self.endpoints.list(event.owner)
            if kind in e.events and e.created_at <= event.occurred_at
        ]
        if not targets:
            return
        results = await asyncio.gather(
            *(self._deliver(e, event, attempt) for e in targets), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]  # the bus or the bucket: the Worker retries (in place when transient)
        pending = sum(1 for r in results if r is True)
        if pending:
            raise DeliveriesPending(f"{pending} of {len(targets)} webhook deliveries pending")

    async def _deliver(self, endpoint: StoredWebhook, event: Event, attempt: int) -> bool:
        """One attempt to ``endpoint`` unless it is done; True while it is still pending."""
        owner = endpoint.owner
        key = (owner, endpoint.id, event.event_id)
        unsaved = self._unsaved.get(key)
        if unsaved is not None:  # sent already: write what it got, send nothing
            await self.deliveries.put(owner, unsaved)
            del self._unsaved[key]
            return unsaved.state == "pending"
        record = await self.deliveries.get(owner, endpoint.id, event.event_id)
        if record is not None and record.state != "pending":
            return False  # succeeded (never sent twice) or failed for good
        now = utcnow()
        if record is None:
            record = Delivery(
                event_id=event.event_id,
                webhook_id=endpoint.id,
                event_type=webhook_event_type(event.type),
                video_id=event.video_id,
                state="pending",
                created_at=now,
                updated_at=now,
            )
        number = len(record.attempts) + 1
        body = payload(event, endpoint)
        headers = {
            SIGNATURE_HEADER: sign(
                derive_secret(self._secret_key, owner, endpoint.id), int(time.time()), body
            ),
            EVENT_ID_HEADER: event.event_id,
            EVENT_TYPE_HEADER: record.event_type,
            WEBHOOK_ID_HEADER: endpoint.id,
            ATTEMPT_HEADER: str(number),
            "User-Agent": "vidsage-notifier",
        }
        outcome = await self.sender.post(endpoint.url, body, headers)
        last = max(number, attempt) >= self.settings.max_deliver
        state = "succeeded" if outcome.ok else "failed" if last else "pending"
        attempts = [
            *record.attempts,
            DeliveryAttempt(at=now, status_code=outcome.status_code, error=outcome.error, ms=outcome.ms),
        ]
        done = record.model_copy(update={"state": state, "attempts": attempts, "updated_at": utcnow()})
        if len(self._unsaved) >= UNSAVED_MAX:  # an event abandoned mid-outage: forget its oldest
            self._unsaved.pop(next(iter(self._unsaved)))
        self._unsaved[key] = done
        await self.deliveries.put(owner, done)
        del self._unsaved[key]
        log.info(
            "webhook_attempt",
            webhook_id=endpoint.id,
            owner=owner,
            attempt=number,
            state=state,
            status_code=outcome.status_code,
            error=outcome.error,
            ms=outcome.ms,
        )
        return state == "pending"
