"""HMAC-SHA256 with the gateway's signing secret: signed media links and session-id digests.

**Signed links.** A link token is ``<claims>.<mac>``, both base64url without padding: ``claims``
is compact JSON ``{"o": owner, "v": video_id, "k": key_id, "e": expiry (Unix seconds), "g":
grant}``, ``mac`` the HMAC-SHA256 of the claims' bytes. The grant is ``media``: GET and HEAD of
the video stream (with ranges), the thumbnail and the transcript. The token rides in the query
string (``?link=<token>``), so a ``<video>``, an ``<img>`` or a ``<track>`` can use it without a
session. Changing any byte of the claims (another video, owner, expiry or grant) breaks the MAC.

**Sessions.** The browser's cookie holds a random session id; the ``sessions`` bucket is keyed by
its HMAC digest (:func:`session_digest`), so reading the bucket gives no usable cookie.

Nothing here puts a token or a secret into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Final

MEDIA_GRANT: Final = "media"
"""What a link grants: reading the video's stream, thumbnail and transcript."""
MAX_TOKEN_CHARS = 1024
SESSION_ID_BYTES = 32
"""Random bytes of a session id (256 bits)."""


class LinkInvalid(ValueError):
    """Not a link this gateway signed for this video (tampered, forged, truncated, another video)."""


class LinkExpired(ValueError):
    """A genuine link past its expiry."""


@dataclass(frozen=True)
class LinkClaims:
    owner: str
    video_id: str
    key_id: str
    expires_at: int
    """Unix seconds."""
    grant: str = MEDIA_GRANT


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, data: bytes) -> bytes:
    return hmac.new(secret, data, hashlib.sha256).digest()


def sign_link(secret: bytes, claims: LinkClaims) -> str:
    """The token of ``claims``."""
    body = json.dumps(
        {
            "o": claims.owner,
            "v": claims.video_id,
            "k": claims.key_id,
            "e": claims.expires_at,
            "g": claims.grant,
        },
        separators=(",", ":"),
    ).encode()
    return f"{_b64(body)}.{_b64(_mac(secret, body))}"


def verify_link(secret: bytes, token: str, *, video_id: str, now: float) -> LinkClaims:
    """The claims of a genuine, unexpired token for ``video_id``; raises :class:`LinkInvalid` or
    :class:`LinkExpired`. The MAC is checked before anything in the claims is believed."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise LinkInvalid("the link is malformed")
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise LinkInvalid("the link is malformed") from None
    if not hmac.compare_digest(mac, _mac(secret, body)):
        raise LinkInvalid("the link's signature does not match (tampered, or signed by another secret)")
    try:
        data = json.loads(body)
        claims = LinkClaims(
            owner=str(data["o"]),
            video_id=str(data["v"]),
            key_id=str(data["k"]),
            expires_at=int(data["e"]),
            grant=str(data["g"]),
        )
    except (ValueError, KeyError, TypeError):
        raise LinkInvalid("the link is malformed") from None
    if claims.video_id != video_id or claims.grant != MEDIA_GRANT:
        raise LinkInvalid("the link is for another video")
    if now >= claims.expires_at:
        raise LinkExpired("the link has expired")
    return claims


def new_session_id() -> str:
    """A random session id for a cookie (256 bits, base64url)."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def session_digest(secret: bytes, session_id: str) -> str:
    """The key of a session in the ``sessions`` bucket: HMAC-SHA256 of its id, hex."""
    return hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()
