"""``GET /api/search?q=&video_id=&limit=``: asks the indexer over NATS request-reply.

The search is the request owner's: the owner goes into the request and the indexer filters by it
inside the vector store's query. An admin's ``?owner=NAME`` searches that tenant, ``?owner=*``
every tenant. A ``video_id`` of another tenant is 404, like an unknown one.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from vidsage.contracts.names import ANY_OWNER
from vidsage.contracts.search import (
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    SearchFailed,
    SearchRequest,
    SearchUnavailable,
)
from vidsage.search_client import ask
from vidsage_gateway.auth import scope_owner
from vidsage_gateway.errors import ApiError, not_found
from vidsage_gateway.keys import RUNTIME


def parse_request(query: dict[str, str], owner: str) -> SearchRequest:
    """Validate the query string; every problem is a 400 with a clear message."""
    q = (query.get("q") or "").strip()
    if not q:
        raise ApiError(400, "bad_request", "the query parameter q is required and must not be empty")
    if len(q) > MAX_QUERY_CHARS:
        raise ApiError(
            400, "bad_request", f"the query is {len(q)} characters long; the limit is {MAX_QUERY_CHARS}"
        )
    try:
        limit = int(query.get("limit", "10"))
    except ValueError:
        raise ApiError(400, "bad_request", "limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_request", f"limit must be between 1 and {MAX_LIMIT}")
    try:
        return SearchRequest(
            q=q,
            video_id=query.get("video_id") or None,
            owner=None if owner == ANY_OWNER else owner,
            all_owners=owner == ANY_OWNER,
            limit=limit,
        )
    except ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


async def search(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    owner = scope_owner(request, allow_all=True)
    search_request = parse_request(dict(request.query), owner)
    video_id = search_request.video_id
    if video_id is not None:
        found = (
            await rt.catalog.find(video_id) if owner == ANY_OWNER else await rt.catalog.get(owner, video_id)
        )
        if found is None:
            raise not_found()
    cfg = rt.settings.indexer
    try:
        hits = await ask(rt.nc, cfg.search_subject, search_request, cfg.search_timeout_s)
    except SearchUnavailable as exc:
        raise ApiError(503, "search_unavailable", str(exc)) from None
    except SearchFailed as exc:
        raise ApiError(400 if exc.code == "bad_request" else 502, exc.code, exc.message) from None
    return web.json_response(
        {
            "query": search_request.q,
            "video_id": search_request.video_id,
            "hits": [h.model_dump() for h in hits],
        }
    )
