"""Who a request acts for: the outcome of authentication, which every route reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from vidsage.contracts.keys import Role

Via = Literal["key", "session", "link", "metrics", "disabled"]


@dataclass(frozen=True)
class Principal:
    """The tenant (``owner``) and role a request acts with, and how it proved them."""

    owner: str
    role: Role
    via: Via
    key_id: str | None = None
    """The key behind the request (a session's and a link's too); None with auth disabled or the
    metrics token."""
    session: str | None = None
    """The session's digest (its key in the ``sessions`` bucket), for ``via="session"``."""
    video_id: str | None = None
    """The one video a signed link opens (``via="link"``)."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


PRINCIPAL = web.RequestKey("principal", Principal)
"""Who the request acts for (set by :func:`vidsage_gateway.auth.authenticate` on every non-public route)."""
