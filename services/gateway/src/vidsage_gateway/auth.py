"""Authentication and tenancy of every request: who it acts for (:class:`Principal`), checked by
the :func:`authenticate` middleware before any route runs.

**Credentials**, first match wins:

1. ``Authorization: Bearer <key>`` (an API key, or on ``/metrics`` the metrics token);
2. ``?link=<token>`` on the three media routes (GET/HEAD of the stream, the thumbnail and the
   transcript): a signed link, for that one video only;
3. the session cookie (``vidsage_session``) of a browser that signed in.

A key is checked against the gateway's watched in-memory copy of the ``keys`` bucket
(:class:`vidsage.auth.keystore.KeyCache`): no network round trip for a key the copy holds, and a
revoked key stops working within ``gateway.key_sync_bound_s`` (2 s). A key id the copy does not
hold is read from the bucket before it is called unknown, so a key just created (by any gateway)
works at once; made-up ids cost at most one read per id a second, 4 reads in flight per gateway.
When the copy is not known to be current, or that read fails, every authenticated request is
refused with 503 ``auth_unavailable`` (fail closed).

**Route policies** (:func:`policy_of`): the web page, ``/healthz``, ``/readyz`` and
``/api/openapi.json`` are public; ``POST``/``DELETE /api/session`` sign in and out (they carry
their own proof); ``/metrics`` wants the metrics token or an admin key; everything else under
``/api/``, ``/ws/`` and ``/v1/`` (unknown paths too) wants a credential.

**CSRF**: a request authenticated by the cookie that changes something (POST, PUT, PATCH, DELETE,
and the WebSocket upgrade) must carry an ``Origin`` that is the gateway's own or in
``gateway.allowed_origins`` (403 ``origin_not_allowed``); with a bearer key there is no ambient
credential to abuse, so no Origin is needed.

**Tenancy**: a member acts for its own owner; ``?owner=`` from a member is 403 ``owner_forbidden``.
An admin acts for its own owner too, or for another with ``?owner=NAME`` (``?owner=*``: every owner,
where a route allows it: the listing, search and usage). :func:`scope_owner` resolves it.

**Rate limit**: every authenticated request counts against its tenant's ``requests_per_minute``
(:mod:`vidsage_gateway.quotas`; 429 ``rate_limited`` with ``Retry-After`` over it).

Errors: 401 (with ``WWW-Authenticate: Bearer``) ``missing_credentials``, ``bad_authorization``,
``malformed_key``, ``unknown_key``, ``expired_key``, ``revoked_key``, ``session_invalid``; 403
``admin_only``, ``owner_forbidden``, ``origin_not_allowed``, ``link_invalid``, ``link_expired``,
``link_revoked``; 503 ``auth_unavailable``. No message ever quotes a key, a token or a cookie, and
nothing here logs one.
"""

from __future__ import annotations

import contextlib
import enum
import hmac
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import hdrs, web

from vidsage.auth.keys import MalformedKey, key_matches, parse_key
from vidsage.auth.keystore import KeyCache, KeyStore, KeysUnavailable, StoredKey
from vidsage.auth.signing import LinkExpired, LinkInvalid, session_digest, verify_link
from vidsage.bus import provision_kv
from vidsage.contracts import names
from vidsage.contracts.events import utcnow
from vidsage.contracts.keys import OWNER_PATTERN, is_valid_owner
from vidsage.contracts.names import ANY_OWNER
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.settings import GatewaySettings
from vidsage_gateway.errors import ApiError
from vidsage_gateway.metrics import METRICS
from vidsage_gateway.origins import origin_allowed, own_hosts
from vidsage_gateway.principal import PRINCIPAL, Principal
from vidsage_gateway.quotas import RATES_MAX_AGE_S, Quotas
from vidsage_gateway.sessions import BUCKET_MAX_AGE_S as SESSIONS_MAX_AGE_S
from vidsage_gateway.sessions import SESSION_COOKIE, SessionStore

log = get_logger("vidsage.gateway.auth")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_AUTHORIZATION_CHARS = 8192
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


class Policy(enum.Enum):
    PUBLIC = "public"
    SIGN_IN = "sign_in"
    """``POST``/``DELETE /api/session``: they check their own proof (and the Origin)."""
    METRICS = "metrics"
    MEDIA = "media"
    """A route a signed link may open (GET/HEAD of a video's stream, thumbnail, transcript)."""
    PROTECTED = "protected"


PUBLIC_PATHS = frozenset({"/", "/static/{path}", "/healthz", "/readyz", "/api/openapi.json"})
MEDIA_PATHS = frozenset(
    {"/api/videos/{video_id}", "/api/videos/{video_id}/thumbnail", "/api/videos/{video_id}/transcript"}
)
SESSION_PATH = "/api/session"
METRICS_PATH = "/metrics"


def canonical_path(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def policy_for(method: str, path: str) -> Policy:
    """What a request for the route ``path`` (as the router spells it) with ``method`` needs."""
    if path in PUBLIC_PATHS:
        return Policy.PUBLIC
    if path == METRICS_PATH:
        return Policy.METRICS
    if path == SESSION_PATH and method in ("POST", "DELETE"):
        return Policy.SIGN_IN
    if path in MEDIA_PATHS and method in ("GET", "HEAD"):
        return Policy.MEDIA
    return Policy.PROTECTED


def policy_of(request: web.Request) -> Policy:
    """What a request needs (see the module's documentation)."""
    path = canonical_path(request)
    if path is None:  # unknown path or method: under /api/, /ws/ and /v1/ not for strangers either
        return Policy.PROTECTED if request.path.startswith(("/api/", "/ws/", "/v1/")) else Policy.PUBLIC
    return policy_for(request.method, path)


def unauthorized(code: str, message: str) -> ApiError:
    """401 with ``WWW-Authenticate: Bearer`` (RFC 6750: ``invalid_token`` when one was sent)."""
    challenge = 'Bearer realm="vidsage"'
    if code != "missing_credentials":
        challenge += ', error="invalid_token"'
    return ApiError(401, code, message, headers={"WWW-Authenticate": challenge})


def forbidden(code: str, message: str) -> ApiError:
    return ApiError(403, code, message)


def auth_unavailable() -> ApiError:
    return ApiError(
        503,
        "auth_unavailable",
        "keys cannot be checked right now (the key store is unreachable); try again",
        headers={"Retry-After": "1"},
    )


_KEY_STATE_ERRORS = {
    "expired": ("expired_key", "this key has expired"),
    "revoked": ("revoked_key", "this key has been revoked"),
}


def bearer_token(header: str) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 ``bad_authorization`` otherwise."""
    if len(header) > MAX_AUTHORIZATION_CHARS:
        raise unauthorized(
            "malformed_key", f"the Authorization header is over {MAX_AUTHORIZATION_CHARS} characters"
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized("bad_authorization", "send the key as 'Authorization: Bearer <key>'")
    token = token.strip()
    if not token or " " in token:
        raise unauthorized("bad_authorization", "send exactly one key after 'Bearer '")
    return token


class Authenticator:
    """Credentials → :class:`Principal`; the sessions, the quotas and the signing secret it needs."""

    def __init__(
        self,
        cfg: GatewaySettings,
        keys: KeyStore,
        cache: KeyCache,
        sessions: SessionStore,
        quotas: Quotas,
        secret: bytes,
    ) -> None:
        self.cfg = cfg
        self.keys = keys
        self.cache = cache
        self.sessions = sessions
        self.quotas = quotas
        self.secret = secret
        self._metrics_token = cfg.metrics_token.get_secret_value() if cfg.metrics_token else None

    # -- keys -----------------------------------------------------------------------------------
    async def lookup(self, key_id: str) -> tuple[StoredKey, int] | None:
        try:
            return await self.cache.lookup(key_id)
        except KeysUnavailable:
            raise auth_unavailable() from None

    async def from_key(self, key: str) -> Principal:
        """The principal of an API key, or the 401 that says what is wrong with it."""
        try:
            key_id = parse_key(key)
        except MalformedKey as exc:
            raise unauthorized("malformed_key", f"this is not a vidsage key: {exc}") from None
        found = await self.lookup(key_id)
        # an id without the matching secret is unknown: its state (revoked...) is nobody's business
        if found is None or not key_matches(key, found[0].hash):
            raise unauthorized("unknown_key", "this key is not known")
        stored, revision = found
        self._check_state(stored)
        self.cache.used(stored, revision)
        return Principal(owner=stored.owner, role=stored.role, via="key", key_id=stored.id)

    def _check_state(self, stored: StoredKey) -> None:
        state = stored.state(utcnow())
        if state != "ok":
            raise unauthorized(*_KEY_STATE_ERRORS[state])

    # -- sessions and links ---------------------------------------------------------------------
    async def from_session(self, session_id: str) -> Principal:
        if not _SESSION_ID.match(session_id):
            raise unauthorized("session_invalid", "the session cookie is not one this gateway made")
        digest = session_digest(self.secret, session_id)
        try:
            session = await self.sessions.get(digest)
        except Exception:  # NATS down: a session cannot be told from a revoked one
            raise auth_unavailable() from None
        if session is None or session.expires_at <= utcnow():
            raise unauthorized(
                "session_invalid", "the session has ended (signed out or expired); sign in again"
            )
        found = await self.lookup(session.key_id)
        if found is None:
            raise unauthorized("session_invalid", "the key of this session no longer exists; sign in again")
        stored, revision = found
        self._check_state(stored)
        self.cache.used(stored, revision)
        return Principal(
            owner=stored.owner, role=stored.role, via="session", key_id=stored.id, session=digest
        )

    async def from_link(self, token: str, video_id: str) -> Principal:
        try:
            claims = verify_link(self.secret, token, video_id=video_id, now=time.time())
        except LinkExpired:
            raise forbidden("link_expired", "this link has expired; ask for a new one") from None
        except LinkInvalid as exc:
            raise forbidden("link_invalid", f"this link is not valid: {exc}") from None
        found = await self.lookup(claims.key_id)
        if found is None or found[0].state(utcnow()) != "ok":
            raise forbidden("link_revoked", "the key that made this link no longer works, nor does the link")
        stored = found[0]
        if stored.role != "admin" and stored.owner != claims.owner:
            raise forbidden("link_invalid", "this link is not valid")
        return Principal(
            owner=claims.owner, role="member", via="link", key_id=claims.key_id, video_id=video_id
        )

    # -- a request ------------------------------------------------------------------------------
    async def principal(self, request: web.Request, policy: Policy) -> Principal:
        """Who ``request`` acts for, or the 401/403/503 that refuses it."""
        if self.cfg.auth_disabled:
            return Principal(owner=self.cfg.owner, role="admin", via="disabled")
        header = request.headers.get(hdrs.AUTHORIZATION)
        if header is not None:
            token = bearer_token(header)
            if (
                policy is Policy.METRICS
                and self._metrics_token is not None
                and hmac.compare_digest(token.encode(), self._metrics_token.encode())
            ):
                return Principal(owner=self.cfg.owner, role="member", via="metrics")
            return await self.from_key(token)
        if policy is Policy.MEDIA and "link" in request.query:
            return await self.from_link(request.query["link"], request.match_info["video_id"])
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            return await self.from_session(cookie)
        raise unauthorized(
            "missing_credentials",
            "this needs an API key: send 'Authorization: Bearer <key>' (or sign in on the web page)",
        )

    async def recheck(self, principal: Principal) -> None:
        """Raise the 401 that now applies if ``principal``'s key or session stopped working (a
        long-lived WebSocket checks before each message)."""
        if principal.via in ("disabled", "metrics") or principal.key_id is None:
            return
        if principal.via == "session" and principal.session is not None:
            try:
                session = await self.sessions.get(principal.session)
            except Exception:
                raise auth_unavailable() from None
            if session is None or session.expires_at <= utcnow():
                raise unauthorized("session_invalid", "the session has ended; sign in again")
        found = await self.lookup(principal.key_id)
        if found is None:
            raise unauthorized("unknown_key", "this key is not known")
        self._check_state(found[0])

    def check_origin(self, request: web.Request, *, required: bool) -> None:
        """403 ``origin_not_allowed`` for a foreign Origin (or a missing one when ``required``)."""
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None and not required:
            return
        allowed = [*self.cfg.allowed_origins]
        if not origin_allowed(origin, own_hosts(request, self.cfg.trusted_proxies), allowed):
            raise forbidden(
                "origin_not_allowed",
                "a browser request with the session cookie must come from the gateway's own page "
                "(or an origin in VIDSAGE_GATEWAY__ALLOWED_ORIGINS)",
            )


AUTH = web.AppKey("auth", Authenticator)


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decide who the request acts for before any route runs (see the module's documentation)."""
    policy = policy_of(request)
    if policy is Policy.PUBLIC:
        return await handler(request)
    auth = request.app[AUTH]
    if policy is Policy.SIGN_IN:
        auth.check_origin(request, required=False)
        return await handler(request)
    try:
        principal = await auth.principal(request, policy)
        if principal.via == "session" and (request.method not in _SAFE_METHODS or _is_websocket(request)):
            auth.check_origin(request, required=True)
        if policy is Policy.METRICS and principal.via != "metrics" and not principal.is_admin:
            raise forbidden("admin_only", "the metrics are for an admin key or the metrics token")
        if "owner" in request.query and not principal.is_admin:
            raise forbidden("owner_forbidden", "only an admin key may act for another owner (?owner=)")
    except ApiError as exc:
        request.app[METRICS].auth_failures.labels(exc.code).inc()
        raise
    request[PRINCIPAL] = principal
    structlog.contextvars.bind_contextvars(owner=principal.owner, key_id=principal.key_id, via=principal.via)
    if principal.via not in ("disabled", "metrics"):
        await auth.quotas.count_request(principal.owner)
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def require_admin(request: web.Request) -> Principal:
    principal = request[PRINCIPAL]
    if not principal.is_admin:
        raise forbidden("admin_only", "this needs an admin key")
    return principal


def scope_owner(request: web.Request, *, allow_all: bool = False) -> str:
    """The owner whose videos this request reads or changes: the principal's own, or an admin's
    ``?owner=NAME`` (``*``, :data:`~vidsage.contracts.names.ANY_OWNER`, where ``allow_all``)."""
    principal = request[PRINCIPAL]
    asked = request.query.get("owner")
    if asked is None:
        return principal.owner
    if not principal.is_admin:  # the middleware refused it already; kept for callers outside it
        raise forbidden("owner_forbidden", "only an admin key may act for another owner (?owner=)")
    if asked == ANY_OWNER:
        if allow_all:
            return ANY_OWNER
        raise ApiError(
            400, "bad_request", "owner=* is for the listing, search and usage; name one owner here"
        )
    if not is_valid_owner(asked):
        raise ApiError(400, "bad_request", f"owner must match {OWNER_PATTERN}")
    return asked


@contextlib.asynccontextmanager
async def open_authenticator(rt: Runtime) -> AsyncIterator[Authenticator]:
    """Open the gateway's buckets (keys, sessions, usage, rates), make sure the bootstrap admin key
    exists, load and watch the keys; close the watch on exit."""
    cfg = rt.settings.gateway
    if cfg.auth_disabled:
        log.warning(
            "auth_disabled", note="for benchmarks only: every request acts as an admin", owner=cfg.owner
        )
    replicas = rt.settings.nats.replicas
    keys_kv = await provision_kv(rt.js, names.KEYS_BUCKET, replicas=replicas)
    sessions_kv = await provision_kv(
        rt.js, names.SESSIONS_BUCKET, ttl_s=SESSIONS_MAX_AGE_S, replicas=replicas
    )
    usage_kv = await provision_kv(rt.js, names.USAGE_BUCKET, replicas=replicas)
    rates_kv = await provision_kv(rt.js, names.RATES_BUCKET, ttl_s=RATES_MAX_AGE_S, replicas=replicas)
    store = KeyStore(keys_kv)
    if cfg.bootstrap_admin_key is not None:
        await store.ensure(cfg.bootstrap_admin_key.get_secret_value(), cfg.bootstrap_admin_owner, "admin")
    if cfg.signing_secret is not None:
        secret = cfg.signing_secret.get_secret_value().encode()
    else:
        secret = secrets.token_bytes(32)
        log.warning(
            "signing_secret_unset",
            note="a random one for this process: signed links and sessions will not survive a restart "
            "or work across replicas; set VIDSAGE_GATEWAY__SIGNING_SECRET",
        )
    cache = KeyCache(rt.nc, rt.js, store, names.KEYS_BUCKET, bound_s=cfg.key_sync_bound_s)
    await cache.start()
    try:
        quotas = Quotas(usage_kv, rates_kv, cfg, rt.catalog.totals)
        yield Authenticator(cfg, store, cache, SessionStore(sessions_kv), quotas, secret)
    finally:
        await cache.close()
