"""``GET /api/search?q=&video_id=&limit=``: asks the indexer over NATS request-reply."""

from __future__ import annotations

import nats.errors
from aiohttp import web
from pydantic import ValidationError

from vidsage.search import MAX_LIMIT, MAX_QUERY_CHARS, SearchReply, SearchRequest
from vidsage_gateway.errors import ApiError
from vidsage_gateway.keys import RUNTIME


def parse_request(query: dict[str, str]) -> SearchRequest:
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
        return SearchRequest(q=q, video_id=query.get("video_id") or None, limit=limit)
    except ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


async def search(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    search_request = parse_request(dict(request.query))
    if search_request.video_id is not None and await rt.catalog.get(search_request.video_id) is None:
        raise ApiError(404, "not_found", "video not found")
    cfg = rt.settings.indexer
    try:
        msg = await rt.nc.request(
            cfg.search_subject, search_request.model_dump_json().encode(), timeout=cfg.search_timeout_s
        )
    except nats.errors.NoRespondersError:
        raise ApiError(503, "search_unavailable", "the search service is not running; try again") from None
    except (TimeoutError, nats.errors.TimeoutError):
        raise ApiError(
            503, "search_unavailable", "the search service did not answer in time; try again"
        ) from None
    try:
        reply = SearchReply.model_validate_json(msg.data)
    except ValidationError:
        raise ApiError(502, "bad_gateway", "the search service sent an invalid reply") from None
    if reply.error is not None:
        status = 400 if reply.error.code == "bad_request" else 502
        raise ApiError(status, reply.error.code, reply.error.message)
    return web.json_response(
        {
            "query": search_request.q,
            "video_id": search_request.video_id,
            "hits": [h.model_dump() for h in reply.hits or []],
        }
    )
