"""The gateway's HTTP server: aiohttp's, with a JSON error for every request it cannot parse.

aiohttp answers a request it cannot parse (a request line or header over ``max_line_size`` /
``max_field_size``, control characters in a header, an unknown method, broken chunked framing)
itself, before any application code runs: a plain-text 400, and a logged traceback that quotes up
to 100 bytes of the offending line (which could be part of a key). :class:`GatewayRunner` serves
the application with :class:`JsonErrorRequestHandler` instead, which answers these with the API's
JSON error (``{"error": {"code": "malformed_request", ...}}``) and logs one line naming only the
kind of error. ``python -m vidsage_gateway`` and the tests' servers (``tests/support/gateway.py``)
both use it.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from vidsage.logging import get_logger
from vidsage_gateway.errors import error_response

log = get_logger("vidsage.gateway.http")


def parser_error_message(exc: BaseException | None) -> str:
    """What the client is told about a request aiohttp could not parse (never the bytes sent)."""
    if isinstance(exc, LineTooLong):
        return "the request line (over 64 KiB) or a header field (over 32 KiB) is too long"
    if isinstance(exc, BadHttpMethod):
        return "the request method is not valid HTTP"
    return "the request is not valid HTTP (a malformed request line, header or body framing)"


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, with JSON errors and a quiet log line for unparsable requests."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # the response has started: nothing else can be sent
            raise ConnectionError("the response is sent already; cannot send the error")
        if isinstance(exc, HttpProcessingError) or status == 400:
            log.info("request_unparsable", error=type(exc).__name__ if exc else None, status=status)
            response = error_response(status, "malformed_request", parser_error_message(exc))
        elif status == 504:
            log.warning("request_handler_timeout")
            response = error_response(504, "timeout", "the request took too long")
        else:  # an exception that escaped the application's own handling (a bug)
            log.error("request_failed_outside_app", error=type(exc).__name__ if exc else None, exc_info=exc)
            response = error_response(status, "internal", "internal error")
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    __slots__ = ()

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are handled by :class:`JsonErrorRequestHandler`."""

    __slots__ = ()

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same layout; only the connection factory differs
        return server
