"""The gateway's aiohttp application: routes, middlewares, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vidsage.contracts.ids import new_id
from vidsage.logging import get_logger
from vidsage.runtime import open_runtime
from vidsage.settings import Settings
from vidsage.storage import StorageUnavailable
from vidsage_gateway import chat_socket, search_route, upload, videos
from vidsage_gateway.errors import HTTP_CODES, ApiError, error_response
from vidsage_gateway.keys import RUNTIME
from vidsage_gateway.metrics import METRICS, Metrics
from vidsage_gateway.openapi import openapi_document
from vidsage_gateway.web import add_routes as add_web_page_routes

log = get_logger("vidsage.gateway")

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
        response = error_response(503, "storage_unavailable", "object storage is unavailable; try again")
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
    structlog.contextvars.unbind_contextvars("request_id", "trace_id", "video_id")
    return response


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    checks: dict[str, str] = {}
    checks["nats"] = "ok" if rt.nc.is_connected else "disconnected"
    try:
        await asyncio.wait_for(rt.storage.ping(), timeout=3)
        checks["s3"] = "ok"
    except (TimeoutError, StorageUnavailable) as exc:
        checks["s3"] = f"unavailable: {exc}"
    ok = all(v == "ok" for v in checks.values())
    if ok:
        return web.json_response({"status": "ok", "checks": checks})
    return error_response(503, "not_ready", "a dependency is unavailable", extra={"checks": checks})


async def metrics_endpoint(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())


MAX_REQUEST_LINE = 64 * 1024
"""Longest request line (method, path and query string) the gateway reads, in bytes."""


def create_app(settings: Settings, stop: asyncio.Event | None = None) -> web.Application:
    """The gateway application; NATS, S3 and the catalog open on startup and close on cleanup.

    ``stop`` is the process's stop event (the one SIGTERM sets, from
    :func:`~vidsage.runtime.service_main`); without one (tests) the runtime gets its own.
    """
    # A request line up to 64 KiB reaches the handlers (aiohttp's own limit, 8190 bytes, would answer
    # a long search query with its plain-text 400): they refuse an overlong query in JSON.
    app = web.Application(middlewares=[observe], handler_args={"max_line_size": MAX_REQUEST_LINE})
    app[METRICS] = Metrics()
    stop = stop if stop is not None else asyncio.Event()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with open_runtime("gateway", settings, stop) as rt:
            app[RUNTIME] = rt
            yield

    app.cleanup_ctx.append(resources)
    r = app.router
    add_web_page_routes(r)  # GET / and /static/<file>
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics_endpoint)
    r.add_get("/api/openapi.json", openapi)
    r.add_post("/api/videos/upload", upload.handle_upload)
    r.add_get("/api/videos", videos.list_videos)
    r.add_get("/api/videos/{video_id}", videos.stream_video)  # GET also answers HEAD
    r.add_delete("/api/videos/{video_id}", videos.delete_video)
    r.add_get("/api/videos/{video_id}/thumbnail", videos.thumbnail)
    r.add_get("/api/videos/{video_id}/status", videos.video_status)
    r.add_get("/api/videos/{video_id}/transcript", videos.transcript)
    r.add_get("/api/search", search_route.search)
    r.add_get("/ws/chat", chat_socket.chat_socket, allow_head=False)
    r.add_get("/ws/chat/{video_id}", chat_socket.chat_socket, allow_head=False)
    return app
