"""``POST /api/videos/<id>/links``: signed, expiring URLs of one video, usable without a session
(the stream with ranges, the thumbnail, the WebVTT transcript for a ``<track>``).

The token (:func:`vidsage.auth.signing.sign_link`) is an HMAC-SHA256, with the gateway's signing
secret, over the owner, the video id, the expiry (at most 24 h) and the grant (``media``), plus the
id of the key that asked for it: revoking that key ends its links too (403 ``link_revoked``). A
link is a bearer capability until it expires (a ``<video>`` makes many range requests with it);
changing anything in it is 403 ``link_invalid``, past its expiry 403 ``link_expired``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from vidsage.auth.signing import LinkClaims, sign_link
from vidsage.contracts.keys import LinkCreate, SignedLinks
from vidsage_gateway.auth import AUTH, principal_of, scope_owner
from vidsage_gateway.errors import ApiError, not_found
from vidsage_gateway.json_input import read_model
from vidsage_gateway.keys import RUNTIME

MAX_BODY_BYTES = 1024


async def create_links(request: web.Request) -> web.Response:
    principal = principal_of(request)
    owner = scope_owner(request)
    video_id = request.match_info["video_id"]
    wanted = await read_model(request, LinkCreate, MAX_BODY_BYTES)
    record = await request.app[RUNTIME].catalog.get(owner, video_id)
    if record is None:
        raise not_found()
    if principal.key_id is None:
        raise ApiError(400, "bad_request", "signed links need a key (authentication is disabled)")
    expires_at = int(time.time()) + wanted.expires_in_s
    token = sign_link(
        request.app[AUTH].secret,
        LinkClaims(owner=record.owner, video_id=record.id, key_id=principal.key_id, expires_at=expires_at),
    )
    base = f"/api/videos/{record.id}"
    links = SignedLinks(
        expires_at=datetime.fromtimestamp(expires_at, UTC),
        stream=f"{base}?link={token}",
        thumbnail=f"{base}/thumbnail?link={token}",
        transcript=f"{base}/transcript?format=vtt&link={token}",
    )
    return web.json_response(links.model_dump(mode="json"), status=201, headers={"Cache-Control": "no-store"})
