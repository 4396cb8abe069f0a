"""``POST /api/session`` signs in with a key, ``GET /api/session`` says who a request acts for,
``DELETE /api/session`` signs out (the sessions themselves: :mod:`vidsage_gateway.sessions`)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import hdrs, web
from pydantic import ValidationError

from vidsage.auth.signing import new_session_id, session_digest
from vidsage.contracts.events import utcnow
from vidsage.contracts.keys import SessionCreate, SessionInfo
from vidsage_gateway.auth import AUTH, Authenticator, bearer_token, unauthorized
from vidsage_gateway.errors import ApiError
from vidsage_gateway.json_input import TooDeep, parse_model
from vidsage_gateway.origins import is_https
from vidsage_gateway.principal import PRINCIPAL
from vidsage_gateway.sessions import SESSION_COOKIE, Session

MAX_BODY_BYTES = 8192


def _auth(request: web.Request) -> Authenticator:
    return request.app[AUTH]


async def _key_from_request(request: web.Request) -> str:
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        return bearer_token(header)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        return parse_model(SessionCreate, body or b"{}").key
    except TooDeep as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    except ValidationError:
        raise unauthorized(
            "missing_credentials",
            'send the key as JSON {"key": "vsk_..."} or as "Authorization: Bearer <key>"',
        ) from None


async def sign_in(request: web.Request) -> web.Response:
    """``POST /api/session``: the key (JSON body or bearer header) → a session cookie (201)."""
    auth = _auth(request)
    principal = await auth.from_key(await _key_from_request(request))
    assert principal.key_id is not None
    session_id = new_session_id()
    now = utcnow()
    ttl = auth.cfg.session_ttl_s
    session = Session(key_id=principal.key_id, created_at=now, expires_at=now + timedelta(seconds=ttl))
    try:
        await auth.sessions.create(session_digest(auth.secret, session_id), session)
    except Exception as exc:
        raise ApiError(503, "auth_unavailable", "sessions cannot be stored right now; try again") from exc
    info = SessionInfo(
        owner=principal.owner, role=principal.role, key_id=principal.key_id, expires_at=session.expires_at
    )
    response = web.json_response(info.model_dump(mode="json"), status=201)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(ttl),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request, auth.cfg.trusted_proxies),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def who_am_i(request: web.Request) -> web.Response:
    """``GET /api/session``: the owner, role and key of this request, and when its session ends."""
    principal = request[PRINCIPAL]
    auth = _auth(request)
    expires_at = None
    if principal.session is not None:
        session = await auth.sessions.get(principal.session)
        expires_at = session.expires_at if session else None
    elif principal.key_id is not None:
        found = await auth.lookup(principal.key_id)
        expires_at = found[0].expires_at if found else None
    info = SessionInfo(
        owner=principal.owner, role=principal.role, key_id=principal.key_id or "", expires_at=expires_at
    )
    return web.json_response(info.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


async def sign_out(request: web.Request) -> web.Response:
    """``DELETE /api/session``: end this browser's session (if any) and clear its cookie; 204."""
    auth = _auth(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        try:
            await auth.sessions.delete(session_digest(auth.secret, session_id))
        except Exception as exc:
            raise ApiError(
                503, "auth_unavailable", "the session cannot be ended right now; try again"
            ) from exc
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
