"""Live status over Server-Sent Events: ``GET /api/events`` (every video of the caller; an admin's
``?owner=NAME`` or ``?owner=*``) and ``GET /api/videos/<id>/events`` (one video).

The frames (``status``, ``progress``, ``deleted``, ``open``, ``reset``) and their ``id:`` are
:mod:`vidsage.contracts.live_events`; where they come from, :mod:`vidsage_gateway.event_hub`.

- **Before the stream starts** everything is a JSON error like on every route: 401 without a
  working key or session (the same middleware; a browser's ``EventSource`` sends the session
  cookie), 404 ``not_found`` for another tenant's video exactly as for an unknown id, 400
  ``bad_request`` for a ``Last-Event-ID`` that is not a sequence number, 429 ``too_many_streams``
  over ``sse.max_per_owner`` open streams of one tenant on this gateway, 503 ``streams_full`` over
  ``sse.max_streams`` on this gateway (both with ``Retry-After``).
- **Resume**: ``Last-Event-ID`` (what a browser sends when it reconnects) or ``?last_event_id=``
  (for clients that cannot set headers): the events after it are replayed from the stream, then
  the live ones follow, none missed, none twice. An id older than the stream keeps
  (``nats.stream_max_age_s``), newer than the stream, or more than ``sse.replay_max_events``
  behind gets ``event: reset`` (refetch the state), then live frames.
- **Keeping it open**: ``retry:`` (``sse.retry_ms``) first; a ``: ping`` comment after
  ``sse.heartbeat_s`` without a frame, when the key or session is also checked again (revoked,
  expired, signed out: the stream ends; the browser's reconnect then gets 401 and stops).
- **Ending**: the per-video stream ends after ``deleted``; every stream ends when the gateway
  stops, and when the client is too slow to take its frames (``sse.queue_frames``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats.errors
from aiohttp import web

from vidsage.contracts.live_events import LiveEvent
from vidsage.contracts.record import VideoRecord
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.settings import EventStreamSettings
from vidsage_gateway.auth import AUTH, principal_of, scope_owner
from vidsage_gateway.errors import ApiError, not_found
from vidsage_gateway.event_hub import EventHub, Frame, Listener, Overloaded, frame_of, record_status
from vidsage_gateway.keys import RUNTIME

log = get_logger("vidsage.gateway.events")

HUB = web.AppKey("event_hub", EventHub)

LAST_EVENT_ID = "Last-Event-ID"
MAX_EVENT_ID = 2**63 - 1
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and its kin: pass each frame on at once
}
PING = b": ping\n\n"


@contextlib.asynccontextmanager
async def open_event_hub(rt: Runtime, cfg: EventStreamSettings) -> AsyncIterator[EventHub]:
    """The gateway's one live feed, started; closed (every stream ended) on exit."""
    hub = EventHub(rt, cfg)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.close()


async def end_streams(app: web.Application) -> None:
    """``on_shutdown``: end every open stream, so the server's graceful stop does not wait for them."""
    if HUB in app:
        app[HUB].shutdown()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/events", all_events, allow_head=False)
    router.add_get("/api/videos/{video_id}/events", video_events, allow_head=False)


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get(LAST_EVENT_ID)
    if raw is None or not raw.strip():
        raw = request.query.get("last_event_id")
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_EVENT_ID:
        raise ApiError(
            400,
            "bad_request",
            "Last-Event-ID (or last_event_id) must be the id of a frame: a sequence number",
        )
    return int(raw)


async def all_events(request: web.Request) -> web.StreamResponse:
    """``GET /api/events``."""
    return await _serve(request, scope_owner(request, allow_all=True), None)


async def video_events(request: web.Request) -> web.StreamResponse:
    """``GET /api/videos/<id>/events``."""
    return await _serve(request, scope_owner(request), request.match_info["video_id"])


def _refused(exc: Overloaded, cfg: EventStreamSettings) -> ApiError:
    if exc.scope == "owner":
        return ApiError(
            429,
            "too_many_streams",
            f"this tenant has {cfg.max_per_owner} live streams open on this gateway already; close one",
            headers={"Retry-After": "5"},
        )
    return ApiError(
        503,
        "streams_full",
        "this gateway has as many live streams open as it serves; try again",
        headers={"Retry-After": "5"},
    )


async def _serve(request: web.Request, owner: str, video_id: str | None) -> web.StreamResponse:
    hub = request.app[HUB]
    rt = request.app[RUNTIME]
    cfg = rt.settings.sse
    resume = _last_event_id(request)
    if hub.closing:
        raise ApiError(
            503, "shutting_down", "the gateway is stopping; try again", headers={"Retry-After": "1"}
        )
    try:
        listener = hub.add(owner, video_id)
    except Overloaded as exc:
        raise _refused(exc, cfg) from None
    position = hub.position  # every event after it reaches the listener
    try:
        record: VideoRecord | None = None
        if video_id is not None:
            record = await rt.catalog.get(owner, video_id)  # read after add: it knows `position` at least
            if record is None:
                raise not_found()
            hub.remember_owner(video_id, record.owner)  # only now: another tenant's id teaches nothing
        # what the stream holds, before the stream starts: the bus away is a 503 JSON error here
        held = await hub.first_seq() if resume is not None else None
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        await response.prepare(request)
        try:
            await _run(request, response, hub, listener, cfg, position, resume, record, held)
        except ConnectionError:
            pass
        except nats.errors.Error as exc:  # the bus went away mid-replay: end the stream (no error
            # document can follow a started stream); the client resumes from its last frame
            log.warning("sse_stream_bus_lost", error=type(exc).__name__)
        return response
    finally:
        hub.remove(listener)


async def _run(
    request: web.Request,
    response: web.StreamResponse,
    hub: EventHub,
    listener: Listener,
    cfg: EventStreamSettings,
    position: int,
    resume: int | None,
    record: VideoRecord | None,
    held: tuple[int, int] | None,
) -> None:
    await response.write(f"retry: {cfg.retry_ms}\n\n".encode())
    floor = position
    if resume is None or held is None:  # held: read with the resume id (both or neither)
        if record is not None:
            snapshot = record_status(record, event=None, at=record.updated_at)
            await response.write(frame_of(snapshot, position).wire)
        else:
            await response.write(frame_of(LiveEvent(type="open"), position).wire)
    else:
        first, last = held
        if resume > last or resume + 1 < first or position - resume > cfg.replay_max_events:
            why = "the stream no longer holds the events after this id" if resume < last else "unknown id"
            await response.write(frame_of(LiveEvent(type="reset", reason=why), max(position, last)).wire)
            floor = max(position, last) if resume > last else position
        else:
            # closed here even when a write fails (the client left mid-replay): its consumer is
            # deleted now, not whenever the generator is collected
            async with contextlib.aclosing(hub.replay(listener, resume, position)) as frames:
                async for frame in frames:
                    await response.write(frame.wire)
            floor = max(position, resume)
    await _live(request, response, listener, cfg, floor)


async def _live(
    request: web.Request,
    response: web.StreamResponse,
    listener: Listener,
    cfg: EventStreamSettings,
    floor: int,
) -> None:
    """Write the listener's frames (skipping sequences at or below ``floor``: sent already) and the
    heartbeats until the stream ends."""
    loop = asyncio.get_running_loop()
    auth = request.app[AUTH]
    principal = principal_of(request)
    quiet_since = loop.time()
    while not listener.closed.is_set():
        if listener.queue.empty():
            listener.wake.clear()
            wait = max(quiet_since + cfg.heartbeat_s - loop.time(), 0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await listener.wake.wait()
        if listener.closed.is_set() or request.transport is None or request.transport.is_closing():
            break
        ended = False
        while not listener.queue.empty():
            frame: Frame = listener.queue.get_nowait()
            if frame.seq is not None:
                if frame.seq <= floor:
                    continue
                floor = frame.seq
            await response.write(frame.wire)
            quiet_since = loop.time()
            if frame.kind == "deleted" and listener.video_id is not None:
                ended = True
                break
        if ended:
            break
        if loop.time() - quiet_since >= cfg.heartbeat_s:
            try:
                await auth.recheck(principal)
            except ApiError as exc:
                log.info("sse_stream_closed", reason=exc.code)
                break
            await response.write(PING)
            quiet_since = loop.time()
    if listener.overflowed:
        log.info("sse_stream_dropped_slow_client", queued=listener.max_frames)
