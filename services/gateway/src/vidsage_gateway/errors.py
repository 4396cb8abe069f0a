"""JSON errors: every failure answers ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """An error with an HTTP status, a stable machine code and a human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, headers=self.headers, extra=self.extra)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, **(extra or {})}
    return web.json_response({"error": body}, status=status, headers=headers)


def not_found(what: str = "video") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def bus_unavailable(what: str = "the message bus") -> ApiError:
    """503 ``bus_unavailable`` with ``Retry-After``: NATS is down or reconnecting."""
    return ApiError(503, "bus_unavailable", f"{what} is unavailable; try again", headers={"Retry-After": "5"})


# aiohttp's own HTTP errors (unknown route, wrong method...) get these codes.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_type",
}
