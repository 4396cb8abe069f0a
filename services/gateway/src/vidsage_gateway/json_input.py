"""JSON from clients, with a bound on nesting depth.

Python's ``json`` recurses once per nesting level: ``'[' * 7000`` raises ``RecursionError`` (on
the WebSocket that closed the connection with 1002). Every JSON input of the gateway (the
request bodies and the chat frames) is checked here first: deeper than :data:`MAX_DEPTH` levels
is a clear ``bad_request``, decided by one linear scan that never recurses.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from vidsage_gateway.errors import ApiError

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a client's JSON (the API's own need 3)."""

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
"""A string (skipped whole, so brackets inside it do not count) or a bracket."""

M = TypeVar("M", bound=BaseModel)


class TooDeep(ValueError):
    """The JSON nests deeper than allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the JSON is nested more than {limit} levels deep")


def check_depth(data: str | bytes, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`TooDeep` if ``data`` nests arrays/objects deeper than ``limit`` levels.

    Only the nesting is checked (malformed JSON is the parser's to report)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the common case: no scan needed
        return
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise TooDeep(limit)
        elif token in (b"]", b"}"):
            depth -= 1


def loads(data: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` after :func:`check_depth`; any problem is a ``ValueError``."""
    check_depth(data, limit)
    return json.loads(data)


def parse_model(model: type[M], data: str | bytes, limit: int = MAX_DEPTH) -> M:
    """``model.model_validate_json`` after :func:`check_depth` (:class:`TooDeep` or pydantic's
    ``ValidationError``)."""
    check_depth(data, limit)
    return model.model_validate_json(data)


async def read_model(request: web.Request, model: type[M], max_bytes: int) -> M:
    """A small JSON request body as ``model`` (no body reads as ``{}``): over ``max_bytes`` is 413
    ``too_large``; too deep or invalid is 400 ``bad_request`` naming the first problem."""
    body = await request.content.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ApiError(413, "too_large", f"the body is over {max_bytes} bytes")
    try:
        return parse_model(model, body or b"{}")
    except TooDeep as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise ApiError(400, "bad_request", f"{where}: {err['msg']}") from None
