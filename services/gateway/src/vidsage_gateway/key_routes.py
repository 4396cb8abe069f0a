"""The admin-only key routes: ``POST /api/keys`` (the new key, shown once), ``GET /api/keys`` (never
a key or a digest; ``?owner=`` for one tenant's), ``DELETE /api/keys/<key_id>`` (revoke: 204; every
gateway refuses the key within ``gateway.key_sync_bound_s``)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from vidsage.auth.keys import is_key_id
from vidsage.contracts.events import utcnow
from vidsage.contracts.keys import KeyCreate, KeyCreated, KeyList
from vidsage_gateway.auth import AUTH, require_admin, scope_owner
from vidsage_gateway.errors import ApiError
from vidsage_gateway.json_input import read_model

MAX_BODY_BYTES = 4096


async def create_key(request: web.Request) -> web.Response:
    require_admin(request)
    wanted = await read_model(request, KeyCreate, MAX_BODY_BYTES)
    expires_at = utcnow() + timedelta(days=wanted.expires_in_days) if wanted.expires_in_days else None
    key, stored = await request.app[AUTH].keys.create(
        wanted.owner, wanted.role, expires_at=expires_at, label=wanted.label
    )
    created = KeyCreated(**stored.info().model_dump(), key=key)
    return web.json_response(
        created.model_dump(mode="json"),
        status=201,
        headers={"Location": f"/api/keys/{stored.id}", "Cache-Control": "no-store"},
    )


async def list_keys(request: web.Request) -> web.Response:
    require_admin(request)
    owner = scope_owner(request, allow_all=True) if "owner" in request.query else None
    stored = await request.app[AUTH].keys.all()
    items = [k.info() for k in stored if owner in (None, "*", k.owner)]
    return web.json_response(KeyList(items=items).model_dump(mode="json"))


async def revoke_key(request: web.Request) -> web.Response:
    require_admin(request)
    key_id = request.match_info["key_id"]
    if not is_key_id(key_id):
        raise ApiError(404, "not_found", "key not found")
    revoked = await request.app[AUTH].keys.revoke(key_id)
    if revoked is None:
        raise ApiError(404, "not_found", "key not found")
    return web.Response(status=204)
