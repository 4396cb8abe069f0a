"""Typed application keys."""

from __future__ import annotations

from aiohttp import web

from vidsage.runtime import Runtime
from vidsage_gateway.overload import UploadSlots

RUNTIME = web.AppKey("runtime", Runtime)
UPLOADS = web.AppKey("uploads", UploadSlots)
