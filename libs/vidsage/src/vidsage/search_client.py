"""Asking the indexer's search over NATS request-reply (the gateway and the chat service do).

The request and reply models and the exceptions are the contract in :mod:`vidsage.contracts.search`.
"""

from __future__ import annotations

import nats.errors
from nats.aio.client import Client as NATS
from pydantic import ValidationError

from vidsage.contracts.search import (
    SearchFailed,
    SearchHit,
    SearchReply,
    SearchRequest,
    SearchUnavailable,
    SimilarityReply,
    SimilarityRequest,
)


async def _request(nc: NATS, subject: str, data: bytes, timeout_s: float) -> bytes:
    try:
        msg = await nc.request(subject, data, timeout=timeout_s)
    except nats.errors.NoRespondersError:
        raise SearchUnavailable("the search service is not running; try again") from None
    except (TimeoutError, nats.errors.TimeoutError):
        raise SearchUnavailable("the search service did not answer in time; try again") from None
    return msg.data


async def ask(nc: NATS, subject: str, request: SearchRequest, timeout_s: float) -> list[SearchHit]:
    """Ask the indexer; raises :class:`SearchUnavailable` or :class:`SearchFailed`."""
    data = await _request(nc, subject, request.model_dump_json().encode(), timeout_s)
    try:
        reply = SearchReply.model_validate_json(data)
    except ValidationError:
        raise SearchFailed("bad_gateway", "the search service sent an invalid reply") from None
    if reply.error is not None:
        raise SearchFailed(reply.error.code, reply.error.message)
    return reply.hits or []


async def similarity(nc: NATS, subject: str, request: SimilarityRequest, timeout_s: float) -> list[float]:
    """The cosine similarity of each pair by the indexer's embedding model, in order; raises
    :class:`SearchUnavailable` or :class:`SearchFailed`."""
    data = await _request(nc, subject, request.model_dump_json().encode(), timeout_s)
    try:
        reply = SimilarityReply.model_validate_json(data)
    except ValidationError:
        raise SearchFailed("bad_gateway", "the search service sent an invalid reply") from None
    if reply.error is not None:
        raise SearchFailed(reply.error.code, reply.error.message)
    if reply.scores is None or len(reply.scores) != len(request.pairs):
        raise SearchFailed("bad_gateway", "the search service sent the wrong number of scores")
    return reply.scores
