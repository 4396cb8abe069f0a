"""The webhook routes: ``POST /api/webhooks`` (the new endpoint and its signing secret, shown
once), ``GET /api/webhooks`` (the caller's, never a secret), ``GET``/``DELETE
/api/webhooks/<id>`` and ``GET /api/webhooks/<id>/deliveries`` (the newest first). The notifier
service makes the deliveries.

Every route is the caller's tenant's (an admin's ``?owner=`` acts for another): the store's keys
start with the owner, so another tenant's id answers exactly like an id nobody has. The secret is
never stored: it is derived from ``webhooks.secret_key`` and the webhook's owner and id
(:func:`vidsage.contracts.webhooks.derive_secret`), which the notifier derives again to sign; no
answer but the 201 carries it, and no log line. The ``webhooks`` bucket (the URLs) is readable by
the gateway and the notifier only (NATS permissions).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError

from vidsage.bus import provision_kv
from vidsage.contracts import names
from vidsage.contracts.events import utcnow
from vidsage.contracts.ids import new_id
from vidsage.contracts.webhooks import (
    MAX_DESCRIPTION_CHARS,
    WEBHOOK_EVENT_TYPES,
    DeliveryList,
    StoredWebhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    delivery_view,
    derive_secret,
)
from vidsage.settings import WebhookSettings
from vidsage.webhook_store import DeliveryLog, WebhookStore
from vidsage.webhook_targets import TargetPolicy, TargetRefused, check_url
from vidsage_gateway.auth import scope_owner
from vidsage_gateway.errors import ApiError
from vidsage_gateway.json_input import read_model
from vidsage_gateway.keys import RUNTIME

MAX_BODY_BYTES = 8192

WEBHOOKS = web.AppKey("webhooks", WebhookStore)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "webhook not found")


def _settings(request: web.Request) -> WebhookSettings:
    return request.app[RUNTIME].settings.webhooks


def _event_types(wanted: list[str]) -> list[str]:
    if not wanted:
        raise ApiError(400, "no_event_types", "name at least one event type in events")
    unknown = [t for t in wanted if t not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise ApiError(
            400,
            "unknown_event_type",
            f"unknown event type {unknown[0][:64]!r}; choose from {', '.join(WEBHOOK_EVENT_TYPES)}",
        )
    return [t for t in WEBHOOK_EVENT_TYPES if t in wanted]  # the documented order, no repeats


async def create_webhook(request: web.Request) -> web.Response:
    owner = scope_owner(request)
    settings = _settings(request)
    if settings.secret_key is None:
        raise ApiError(
            503, "webhooks_unavailable", "webhooks are not configured here (VIDSAGE_WEBHOOKS__SECRET_KEY)"
        )
    wanted = await read_model(request, WebhookCreate, MAX_BODY_BYTES)
    events = _event_types(wanted.events)
    if wanted.description is not None and len(wanted.description) > MAX_DESCRIPTION_CHARS:
        raise ApiError(400, "description_too_long", f"description is over {MAX_DESCRIPTION_CHARS} characters")
    try:
        await check_url(wanted.url, TargetPolicy.of(settings))
    except TargetRefused as exc:
        raise ApiError(400, exc.code, exc.message) from None
    store = request.app[WEBHOOKS]
    if await store.count(owner) >= settings.max_per_owner:
        raise ApiError(
            409, "too_many_webhooks", f"a tenant may have {settings.max_per_owner} webhooks; delete one first"
        )
    stored = StoredWebhook(
        id=new_id(),
        owner=owner,
        url=wanted.url,
        events=events,
        description=wanted.description,
        created_at=utcnow(),
    )
    try:
        await store.create(stored)
    except KeyWrongLastSequenceError:  # a new UUIDv7 that exists: never in practice
        raise ApiError(409, "conflict", "try again") from None
    secret = derive_secret(settings.secret_key.get_secret_value(), owner, stored.id)
    created = WebhookCreated(**stored.model_dump(), secret=secret)
    return web.json_response(
        created.model_dump(mode="json"),
        status=201,
        headers={"Location": f"/api/webhooks/{stored.id}", "Cache-Control": "no-store"},
    )


async def list_webhooks(request: web.Request) -> web.Response:
    owner = scope_owner(request)
    found = await request.app[WEBHOOKS].list(owner)
    return web.json_response(WebhookList(items=[w.info() for w in found]).model_dump(mode="json"))


async def _own(request: web.Request) -> StoredWebhook:
    owner = scope_owner(request)
    found = await request.app[WEBHOOKS].get(owner, request.match_info["webhook_id"])
    if found is None:
        raise _not_found()
    return found


async def get_webhook(request: web.Request) -> web.Response:
    found = await _own(request)
    return web.json_response(found.info().model_dump(mode="json"))


async def delete_webhook(request: web.Request) -> web.Response:
    owner = scope_owner(request)
    if not await request.app[WEBHOOKS].delete(owner, request.match_info["webhook_id"]):
        raise _not_found()
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    found = await _own(request)
    most = _settings(request).deliveries_listed
    raw = request.query.get("limit", str(most))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ApiError(400, "bad_request", f"limit must be a whole number from 1 to {most}")
    rt = request.app[RUNTIME]
    try:  # the notifier creates the bucket: before its first start there is nothing to list
        log = DeliveryLog(await rt.js.key_value(names.WEBHOOK_DELIVERIES_BUCKET))
    except BucketNotFoundError:
        return web.json_response(DeliveryList(items=[]).model_dump(mode="json"))
    deliveries = await log.recent(found.owner, found.id, int(raw))
    body = DeliveryList(items=[delivery_view(d) for d in deliveries])
    return web.json_response(body.model_dump(mode="json"))


async def _open_store(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    kv = await provision_kv(rt.js, names.WEBHOOKS_BUCKET, replicas=rt.settings.nats.replicas)
    app[WEBHOOKS] = WebhookStore(kv)
    yield


def add_routes(app: web.Application) -> None:
    """The routes, and opening (creating) the ``webhooks`` bucket once the runtime is open."""
    app.cleanup_ctx.append(_open_store)
    r = app.router
    r.add_post("/api/webhooks", create_webhook)
    r.add_get("/api/webhooks", list_webhooks)
    r.add_get("/api/webhooks/{webhook_id}", get_webhook)
    r.add_delete("/api/webhooks/{webhook_id}", delete_webhook)
    r.add_get("/api/webhooks/{webhook_id}/deliveries", list_deliveries)
