"""The admin-only key routes: ``POST /api/keys`` (the new key, shown once), ``GET /api/keys`` (never
a key or a digest; ``?owner=`` for one tenant's), ``DELETE /api/keys/<key_id>`` (revoke: 204; every
gateway refuses the key within ``gateway.key_sync_bound_s``)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import ValidationError

from vidsage.auth.keys import is_key_id
from vidsage.contracts.events import utcnow
from vidsage.contracts.keys import KeyCreate, KeyCreated, KeyList
from vidsage_gateway.auth import AUTH, require_admin, scope_owner
from vidsage_gateway.errors import ApiError
from vidsage_gateway.json_input import TooDeep, parse_model

MAX_BODY_BYTES = 4096


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


async def create_key(request: web.Request) -> web.Response:
    require_admin(request)
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        wanted = parse_model(KeyCreate, body or b"{}")
    except TooDeep as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    except ValidationError as exc:
        raise ApiError(400, "bad_request", _first_problem(exc)) from None
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
