"""Webhooks on the wire: the endpoint and delivery models of ``/api/webhooks``, the JSON body the
notifier POSTs, its headers, and the signature (made by the notifier, checked by receivers:
:func:`verify_signature`, also ``vidsage_client.webhooks``).

A delivery is ``POST <url>`` with a JSON body (:class:`WebhookPayload`) and these headers:

- ``Vidsage-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``;
- ``Vidsage-Event-Id``: the event's id, the same on every attempt (with ``Vidsage-Webhook-Id`` the
  idempotency key of the delivery: a receiver that has seen the pair drops the repeat);
- ``Vidsage-Event-Type`` (``video.indexed``...), ``Vidsage-Webhook-Id``, ``Vidsage-Attempt``.

The secret is never stored: it is derived from ``webhooks.secret_key`` (a key only the gateway
and the notifier are given) and the endpoint's owner and id (:func:`derive_secret`), so the
gateway can show it once and the notifier can sign with it, while the bucket holds nothing that
would let a reader of NATS's data sign deliveries. Rotating that key changes every webhook's secret.

Pure (the standard library and pydantic only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vidsage.contracts import names
from vidsage.contracts.events import EventType

WEBHOOK_EVENT_TYPES: tuple[str, ...] = tuple(names.webhook_event_type(e.value) for e in EventType)
"""The event types an endpoint may subscribe to: ``video.uploaded``, ``video.ingested``,
``video.transcribed``, ``video.indexed``, ``video.failed``, ``video.deleted``."""

SIGNATURE_HEADER = "Vidsage-Signature"
EVENT_ID_HEADER = "Vidsage-Event-Id"
EVENT_TYPE_HEADER = "Vidsage-Event-Type"
WEBHOOK_ID_HEADER = "Vidsage-Webhook-Id"
ATTEMPT_HEADER = "Vidsage-Attempt"

SECRET_PREFIX = "whsec_"
MAX_URL_CHARS = 2048
MAX_DESCRIPTION_CHARS = 200
SIGNATURE_TOLERANCE_S = 300
"""How old a signature's timestamp may be before :func:`verify_signature` refuses it (replays)."""

DeliveryState = Literal["pending", "succeeded", "failed"]


def webhook_event_type(event: EventType) -> str:
    """``video.<event>``: the webhook name of a bus event type."""
    return names.webhook_event_type(event.value)


def derive_secret(key: str, owner: str, webhook_id: str) -> str:
    """The signing secret of ``owner``'s webhook ``webhook_id`` under ``key`` (``webhooks.secret_key``):
    ``whsec_`` + the URL-safe base64 of HMAC-SHA256(key, "webhook.<owner>.<id>")."""
    digest = hmac.new(key.encode(), f"webhook.{owner}.{webhook_id}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Vidsage-Signature`` header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when ``header`` (``Vidsage-Signature``) signs ``body`` (the raw request body, as
    received) with ``secret`` and its timestamp is within ``tolerance_s`` of ``now``."""
    parts: dict[str, str] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, value)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookCreate(BaseModel):
    """``POST /api/webhooks``: where to deliver which events. The URL and the event types are
    checked by the gateway, each problem with its own error code."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description=f"http(s) URL to POST deliveries to (at most {MAX_URL_CHARS} characters).")
    events: list[str] = Field(description="Event types to deliver: any of " + ", ".join(WEBHOOK_EVENT_TYPES))
    description: str | None = Field(default=None, description=f"At most {MAX_DESCRIPTION_CHARS} characters.")


class WebhookInfo(BaseModel):
    """An endpoint as the API shows it (never its secret)."""

    id: str
    owner: str
    url: str
    events: list[str]
    description: str | None = None
    created_at: datetime


class WebhookCreated(WebhookInfo):
    """The answer to ``POST /api/webhooks``: the only time the secret is shown."""

    secret: str = Field(description="The signing secret (`whsec_…`), shown once: keep it.")


class WebhookList(BaseModel):
    items: list[WebhookInfo]


class StoredWebhook(WebhookInfo):
    """An endpoint in the ``webhooks`` bucket (the gateway writes it, the notifier reads it): no
    secret (:func:`derive_secret`)."""

    def info(self) -> WebhookInfo:
        return WebhookInfo.model_validate(self.model_dump())


class DeliveryAttempt(BaseModel):
    at: datetime
    status_code: int | None = Field(default=None, description="The receiver's HTTP status, if it answered.")
    error: str | None = Field(default=None, description="Why the attempt failed, briefly.")
    ms: float = Field(ge=0, description="How long the attempt took.")


class Delivery(BaseModel):
    """One event's delivery to one endpoint (``GET /api/webhooks/<id>/deliveries``)."""

    event_id: str
    webhook_id: str
    event_type: str
    video_id: str
    state: DeliveryState
    attempts: list[DeliveryAttempt] = []
    created_at: datetime
    updated_at: datetime


class DeliveryView(Delivery):
    """A delivery as the API shows it: the attempts, their count and the last error."""

    attempt_count: int
    last_status_code: int | None = None
    last_error: str | None = None


class DeliveryList(BaseModel):
    items: list[DeliveryView]


def delivery_view(delivery: Delivery) -> DeliveryView:
    last = delivery.attempts[-1] if delivery.attempts else None
    data: dict[str, Any] = delivery.model_dump()
    return DeliveryView(
        **data,
        attempt_count=len(delivery.attempts),
        last_status_code=last.status_code if last else None,
        last_error=last.error if last else None,
    )


class WebhookPayload(BaseModel):
    """The JSON body of a delivery."""

    event_id: str
    type: str = Field(description="`video.<event>`.")
    webhook_id: str
    occurred_at: datetime
    data: dict[str, Any] = Field(
        description="The event as the bus carries it (its JSON Schema is in docs/events/)."
    )
