"""``GET /api/usage``: the tenant's stored bytes and videos, its uploads this hour and requests
this minute, against its limits; an admin's ``?owner=NAME`` for another tenant, ``?owner=*`` for
every tenant that has stored something."""

from __future__ import annotations

import asyncio

from aiohttp import web

from vidsage.contracts.names import ANY_OWNER
from vidsage.contracts.usage import UsageList
from vidsage_gateway.auth import AUTH, scope_owner


async def usage(request: web.Request) -> web.Response:
    quotas = request.app[AUTH].quotas
    owner = scope_owner(request, allow_all=True)
    if owner == ANY_OWNER:
        items = await asyncio.gather(*(quotas.usage(o) for o in await quotas.owners()))
        return web.json_response(UsageList(items=list(items)).model_dump(mode="json"))
    return web.json_response((await quotas.usage(owner)).model_dump(mode="json"))
