"""Asking the indexer's search over NATS request-reply (the gateway and the chat service do).

The request and reply models and the exceptions are the contract in :mod:`vidsage.contracts.search`.
"""

from __future__ import annotations

import nats.errors
from nats.aio.client import Client as NATS
from pydantic import ValidationError

from vidsage.contracts.search import SearchFailed, SearchHit, SearchReply, SearchRequest, SearchUnavailable


async def ask(nc: NATS, subject: str, request: SearchRequest, timeout_s: float) -> list[SearchHit]:
    """Ask the indexer; raises :class:`SearchUnavailable` or :class:`SearchFailed`."""
    try:
        msg = await nc.request(subject, request.model_dump_json().encode(), timeout=timeout_s)
    except nats.errors.NoRespondersError:
        raise SearchUnavailable("the search service is not running; try again") from None
    except (TimeoutError, nats.errors.TimeoutError):
        raise SearchUnavailable("the search service did not answer in time; try again") from None
    try:
        reply = SearchReply.model_validate_json(msg.data)
    except ValidationError:
        raise SearchFailed("bad_gateway", "the search service sent an invalid reply") from None
    if reply.error is not None:
        raise SearchFailed(reply.error.code, reply.error.message)
    return reply.hits or []
