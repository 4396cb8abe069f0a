"""Browser sessions, stored server-side (the routes are :mod:`vidsage_gateway.session_routes`).

A session is server-side: the cookie ``vidsage_session`` holds a random id (256 bits; HttpOnly,
SameSite=Strict, Path=/, ``Secure`` when the browser talks HTTPS, Max-Age the session lifetime);
the ``sessions`` bucket holds, under the HMAC of that id (:func:`vidsage.auth.signing.session_digest`),
the key id it was made with and when it ends. Every request with the cookie reads that record and
checks the key, so signing out, or revoking the key, ends the session at once on every replica.
The bucket's max age (:data:`BUCKET_MAX_AGE_S`) bounds how long a record can outlive its end.
"""

from __future__ import annotations

from datetime import datetime

from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError

SESSION_COOKIE = "vidsage_session"
BUCKET_MAX_AGE_S = 30 * 24 * 3600.0
"""The ``sessions`` bucket's max age: the longest ``gateway.session_ttl_s`` allows."""


class Session(BaseModel):
    """A session's record (never the session id itself)."""

    key_id: str
    created_at: datetime
    expires_at: datetime


class SessionStore:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def create(self, digest: str, session: Session) -> None:
        await self.kv.put(digest, session.model_dump_json().encode())

    async def get(self, digest: str) -> Session | None:
        try:
            entry = await self.kv.get(digest)
        except NotFoundError:
            return None
        if not entry.value:
            return None
        try:
            return Session.model_validate_json(entry.value)
        except ValidationError:
            return None

    async def delete(self, digest: str) -> None:
        await self.kv.purge(digest)
