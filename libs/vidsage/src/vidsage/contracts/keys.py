"""Tenants and API keys on the wire: owner names, roles, and the models of the admin key routes
(``POST /api/keys``, ``GET /api/keys``, ``DELETE /api/keys/<id>``) and of ``/api/session``.

A key belongs to one owner (the tenant) and has a role: ``member`` (its own tenant's videos) or
``admin`` (also other tenants', through ``?owner=``, and the keys). The key itself (``vsk_…``) is
shown once, in :class:`KeyCreated`; nothing else ever carries it or its hash. The key format and
hashing are :mod:`vidsage.auth.keys`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OWNER_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""An owner (tenant) name: 1 to 63 characters, lower-case letters, digits, ``_`` and ``-``, not
starting with ``_`` or ``-``. It is a part of KV keys (``<owner>.<video_id>``), so it can hold no
``.``, ``*`` or ``>``."""
_OWNER_RE = re.compile(OWNER_PATTERN)

Role = Literal["admin", "member"]
ROLES: tuple[Role, ...] = ("admin", "member")

MAX_EXPIRES_IN_DAYS = 3650
"""The longest expiry a key may be given at creation (ten years); none at all is allowed too."""
MAX_LABEL_CHARS = 100


def is_valid_owner(value: str) -> bool:
    """True when ``value`` matches :data:`OWNER_PATTERN`."""
    return bool(_OWNER_RE.match(value))


class KeyCreate(BaseModel):
    """``POST /api/keys``: a new key for ``owner``."""

    model_config = ConfigDict(extra="forbid")

    owner: str = Field(pattern=OWNER_PATTERN, description="The tenant the key belongs to.")
    role: Role = Field(default="member", description="`member` (the default) or `admin`.")
    expires_in_days: float | None = Field(
        default=None,
        gt=0,
        le=MAX_EXPIRES_IN_DAYS,
        description="Days until the key stops working; none: it never expires.",
    )
    label: str | None = Field(
        default=None, max_length=MAX_LABEL_CHARS, description="What the key is for (display only)."
    )


class KeyInfo(BaseModel):
    """A key as ``GET /api/keys`` lists it: never the key, never its hash."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(description="The key id: the part after `vsk_` (used to list and revoke).")
    owner: str
    role: Role
    label: str | None = None
    created_at: datetime
    last_used_at: datetime | None = Field(
        default=None, description="Last successful use (updated at most once a minute)."
    )
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class KeyCreated(KeyInfo):
    """``POST /api/keys``: the new key's record and, this once, the key itself."""

    key: str = Field(description="The API key (`vsk_<id>_<secret>`); shown only in this answer.")


class KeyList(BaseModel):
    """``GET /api/keys``."""

    items: list[KeyInfo]


class SessionCreate(BaseModel):
    """``POST /api/session``: the key to sign in with (or send it as `Authorization: Bearer`)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=4096)


class SessionInfo(BaseModel):
    """``POST /api/session`` and ``GET /api/session``: who is signed in, until when."""

    owner: str
    role: Role
    key_id: str
    expires_at: datetime | None = Field(
        description="When the session ends (sign in again then); for a bearer key, the key's expiry."
    )


class LinkCreate(BaseModel):
    """``POST /api/videos/<id>/links``: a signed link to the video, for sharing outside a session."""

    model_config = ConfigDict(extra="forbid")

    expires_in_s: int = Field(default=3600, ge=60, le=24 * 3600, description="At most 24 h.")


class SignedLinks(BaseModel):
    """The signed, expiring URLs of one video (stream with ranges, thumbnail, WebVTT transcript)."""

    expires_at: datetime
    stream: str
    thumbnail: str
    transcript: str = Field(description="The WebVTT transcript, for a `<track>`; add `format=` for another.")
