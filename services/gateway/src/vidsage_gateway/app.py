"""The gateway's aiohttp application: routes, middlewares (``observe``, then ``authenticate``),
the security headers, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats.errors
import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vidsage.contracts.ids import new_id
from vidsage.logging import get_logger
from vidsage.runtime import Runtime, open_runtime
from vidsage.settings import Settings
from vidsage.storage import StorageUnavailable
from vidsage_gateway import (
    chat_socket,
    event_stream,
    key_routes,
    link_route,
    openai_audio,
    search_route,
    session_routes,
    tus_routes,
    upload,
    usage_route,
    videos,
    webhook_routes,
)
from vidsage_gateway.auth import AUTH, authenticate, open_authenticator
from vidsage_gateway.errors import HTTP_CODES, ApiError, bus_unavailable, error_response
from vidsage_gateway.event_stream import HUB, end_streams, open_event_hub
from vidsage_gateway.hosts import check_host
from vidsage_gateway.keys import RUNTIME, UPLOADS
from vidsage_gateway.metrics import METRICS, Metrics
from vidsage_gateway.openapi import openapi_document
from vidsage_gateway.overload import UploadSlots
from vidsage_gateway.security_headers import add_security_headers
from vidsage_gateway.server import parser_error_message
from vidsage_gateway.web import add_routes as add_web_page_routes

log = get_logger("vidsage.gateway")

MAX_REQUEST_LINE = 64 * 1024
"""Longest request line (method, path and query string) the gateway reads, in bytes."""

HANDLER_ARGS: dict[str, Any] = {"max_field_size": 32 * 1024, "max_line_size": MAX_REQUEST_LINE}
"""aiohttp's HTTP parser limits for the gateway (the application carries them, so its runner and
the tests' servers get them alike): a header line up to 32 KiB reaches the application, so an
oversized ``Authorization`` or cookie gets the API's own JSON 401 instead of the parser's 400;
a request line up to 64 KiB reaches the handlers (aiohttp's own limit, 8190 bytes, would answer a
long search query with its plain-text 400), which refuse an overlong query in JSON.
A longer line (and a multipart part header over 32 KiB) is still refused by the parser:
400 ``malformed_request`` from :mod:`vidsage_gateway.server`, whose log line says only that the
request was unparsable."""

RETRY_SOON = {"Retry-After": "5"}

_BOUND = ("request_id", "trace_id", "video_id", "owner", "key_id", "via")


class _QuietParserErrors(logging.Filter):
    """aiohttp logs a request it cannot parse with the exception, whose message quotes up to 100
    bytes of the offending line: that could be part of a key. Keep the line, drop the quote."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"unparsable HTTP request refused ({type(exc).__name__}, status {exc.code})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


_PARSER_FILTER = _QuietParserErrors()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One log line and one metric sample per request; every error becomes a JSON error."""
    request_id = request.headers.get("X-Request-Id") or new_id()
    structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=request_id)
    video_id = request.match_info.get("video_id")
    if video_id:
        structlog.contextvars.bind_contextvars(video_id=video_id)
    started = time.perf_counter()
    try:
        check_host(request)
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(
            exc.status,
            HTTP_CODES.get(exc.status, "http_error"),
            exc.reason,
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except StorageUnavailable:
        response = error_response(
            503, "storage_unavailable", "object storage is unavailable; try again", headers=RETRY_SOON
        )
    except HttpProcessingError as exc:  # the multipart parser, reading inside a handler
        response = error_response(400, "malformed_request", parser_error_message(exc))
    except nats.errors.Error as exc:  # the bus is down or reconnecting (JetStream errors included)
        log.warning("bus_error", method=request.method, path=request.path, error=type(exc).__name__)
        response = bus_unavailable().response()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        response = error_response(500, "internal", "internal error; the request id is " + request_id)
    elapsed = time.perf_counter() - started
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics = request.app[METRICS]
    metrics.requests.labels(request.method, route, str(response.status)).inc()
    metrics.latency.labels(request.method, route).observe(elapsed)
    log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round(elapsed * 1000, 1),
    )
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    structlog.contextvars.unbind_contextvars(*_BOUND)
    return response


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _search_check(rt: Runtime) -> str:
    """ "ok" once an indexer answers on the search subject: it subscribes only after its model is
    loaded and its vector store open. The probe is an empty request, which it refuses at once
    (``bad_request``) without embedding or searching anything."""
    try:
        await rt.nc.request(rt.settings.indexer.search_subject, b"{}", timeout=2)
    except nats.errors.NoRespondersError:
        return "no indexer is serving searches yet"
    except (TimeoutError, nats.errors.Error) as exc:
        return f"the indexer did not answer ({type(exc).__name__})"
    return "ok"


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    checks: dict[str, str] = {}
    checks["nats"] = "ok" if rt.nc.is_connected else "disconnected"
    if not rt.settings.gateway.auth_disabled:
        checks["keys"] = "ok" if request.app[AUTH].cache.in_sync else "not in sync with the keys bucket"
    try:
        await asyncio.wait_for(rt.storage.ping(), timeout=3)
        checks["s3"] = "ok"
    except (TimeoutError, StorageUnavailable) as exc:
        # /readyz is open: the reason (endpoints, S3's words) goes to the log, not to the answer
        checks["s3"] = "unavailable"
        log.warning("readyz_s3_unavailable", error=str(exc) or type(exc).__name__)
    if rt.settings.gateway.ready_requires_search:
        checks["search"] = await _search_check(rt)
    ok = all(v == "ok" for v in checks.values())
    if ok:
        return web.json_response({"status": "ok", "checks": checks})
    return error_response(503, "not_ready", "a dependency is unavailable", extra={"checks": checks})


async def metrics_endpoint(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def create_app(settings: Settings, stop: asyncio.Event | None = None) -> web.Application:
    """The gateway application; NATS, S3 and the catalog open on startup and close on cleanup.

    ``stop`` is the process's stop event (the one SIGTERM sets, from
    :func:`~vidsage.runtime.service_main`); without one (tests) the runtime gets its own.
    """
    # openai_errors first: it rewrites the errors of the /v1/ routes into OpenAI's shape
    app = web.Application(
        middlewares=[openai_audio.openai_errors, observe, authenticate], handler_args=HANDLER_ARGS
    )
    app[METRICS] = Metrics()
    app[UPLOADS] = UploadSlots()
    add_security_headers(app, settings.gateway)
    stop = stop if stop is not None else asyncio.Event()
    if _PARSER_FILTER not in logging.getLogger("aiohttp.server").filters:
        logging.getLogger("aiohttp.server").addFilter(_PARSER_FILTER)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        # no write is buffered while NATS reconnects: a buffered KV create or event would land
        # after the request it belonged to was answered 503 (a record nobody uploaded)
        async with (
            open_runtime("gateway", settings, stop, reconnect_buffer=False) as rt,
            open_authenticator(rt) as auth,
            open_event_hub(rt, settings.sse) as hub,
        ):
            app[RUNTIME] = rt
            app[AUTH] = auth
            app[HUB] = hub
            try:
                yield
            finally:
                await app[UPLOADS].close()

    app.cleanup_ctx.append(resources)
    app.on_shutdown.append(end_streams)
    r = app.router
    add_web_page_routes(r)  # GET / and /static/<file>
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics_endpoint)
    r.add_get("/api/openapi.json", openapi)
    r.add_post("/api/session", session_routes.sign_in)
    r.add_get("/api/session", session_routes.who_am_i)
    r.add_delete("/api/session", session_routes.sign_out)
    r.add_post("/api/keys", key_routes.create_key)
    r.add_get("/api/keys", key_routes.list_keys)
    r.add_delete("/api/keys/{key_id}", key_routes.revoke_key)
    r.add_get("/api/usage", usage_route.usage)
    r.add_post("/api/videos/upload", upload.handle_upload)
    r.add_get("/api/videos", videos.list_videos)
    r.add_get("/api/videos/{video_id}", videos.stream_video)  # GET also answers HEAD
    r.add_delete("/api/videos/{video_id}", videos.delete_video)
    r.add_get("/api/videos/{video_id}/thumbnail", videos.thumbnail)
    r.add_get("/api/videos/{video_id}/status", videos.video_status)
    r.add_get("/api/videos/{video_id}/transcript", videos.transcript)
    r.add_post("/api/videos/{video_id}/links", link_route.create_links)
    r.add_post("/api/videos/{video_id}/retry", videos.retry_video)
    r.add_get("/api/search", search_route.search)
    r.add_get("/ws/chat", chat_socket.chat_socket, allow_head=False)
    r.add_get("/ws/chat/{video_id}", chat_socket.chat_socket, allow_head=False)
    # resumable uploads (tus 1.0): the uploads bucket and the expiry sweeper open after the runtime
    app.cleanup_ctx.append(tus_routes.context)
    tus_routes.add_routes(r)
    # the OpenAI-compatible transcription endpoint: /v1/audio/transcriptions, /v1/models
    openai_audio.add_routes(app)
    webhook_routes.add_routes(app)  # /api/webhooks (issue 16b)
    # live status over Server-Sent Events (issue 16, part a)
    event_stream.add_routes(r)  # GET /api/events, /api/videos/{video_id}/events
    return app
