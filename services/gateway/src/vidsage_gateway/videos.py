"""Video endpoints: list, stream (ranges), delete (cascade), thumbnail, status, retry.

Every route reads the catalog under the request's owner (:func:`vidsage_gateway.auth.scope_owner`):
another tenant's video is not found, with the same 404 body as an id nobody has.

An S3 failure (:class:`~vidsage.storage.StorageUnavailable`) before the response starts is left to
the ``observe`` middleware, which answers it with 503 ``storage_unavailable``.
"""

from __future__ import annotations

import contextlib
import hashlib
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from vidsage.bus import publish_event
from vidsage.contracts import names
from vidsage.contracts.events import VideoDeleted
from vidsage.contracts.reasons import public_reason
from vidsage.contracts.record import Status, VideoRecord, status_rank
from vidsage.contracts.transcript import CONTENT_TYPES, RENDERERS
from vidsage.logging import get_logger
from vidsage.redrive import redrive_awaited
from vidsage.runtime import Runtime
from vidsage.storage import ObjectInfo, StorageUnavailable
from vidsage_gateway.auth import AUTH, principal_of, scope_owner
from vidsage_gateway.errors import ApiError, not_found
from vidsage_gateway.keys import RUNTIME
from vidsage_gateway.ranges import RangeNotSatisfiable, if_range_matches, parse_range

log = get_logger("vidsage.gateway.videos")


def _runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


async def _record(request: web.Request) -> VideoRecord:
    record = await _runtime(request).catalog.get(scope_owner(request), request.match_info["video_id"])
    if record is None:
        raise not_found()
    return record


def record_json(record: VideoRecord, acting_owner: str | None = None) -> dict[str, Any]:
    """The record as the API shows it, with its links; for a record of another owner than the one
    the request acts as (an admin's), the links carry ``?owner=``."""
    data = record.model_dump(mode="json")
    # reasons are stored public (VideoRecord.fail); records written before that are cleaned here
    if data.get("error"):
        data["error"]["reason"] = public_reason(data["error"]["reason"])
    for stage in data["stages"].values():
        if stage.get("error"):
            stage["error"] = public_reason(stage["error"])
    base = f"/api/videos/{record.id}"
    owner = "" if acting_owner in (None, record.owner) else f"?owner={record.owner}"
    data["links"] = {
        "self": f"{base}/status{owner}",
        "stream": f"{base}{owner}",
        "thumbnail": f"{base}/thumbnail{owner}",
        "transcript": f"{base}/transcript{owner}",
    }
    return data


async def list_videos(request: web.Request) -> web.Response:
    rt = _runtime(request)
    try:
        limit = int(request.query.get("limit", rt.settings.gateway.page_size))
    except ValueError:
        raise ApiError(400, "bad_request", "limit must be an integer") from None
    if not 1 <= limit <= 200:
        raise ApiError(400, "bad_request", "limit must be between 1 and 200")
    owner = scope_owner(request, allow_all=True)
    records, cursor = await rt.catalog.list(owner, limit=limit, cursor=request.query.get("cursor") or None)
    me = principal_of(request).owner
    return web.json_response({"items": [record_json(r, me) for r in records], "next_cursor": cursor})


async def video_status(request: web.Request) -> web.Response:
    return web.json_response(record_json(await _record(request), principal_of(request).owner))


async def _object_info(rt: Runtime, video_id: str, kind: str, key: str) -> ObjectInfo | None:
    """Object metadata through the shared cache (24 h TTL); deletes invalidate it."""

    async def load() -> dict[str, Any] | None:
        info = await rt.storage.stat(key)
        return info.to_dict() if info else None

    data = await rt.cache.get_or_load(names.video_cache_key(video_id, kind), load)
    return ObjectInfo.from_dict(data) if data else None


async def _serve_object(
    request: web.Request, info: ObjectInfo, *, content_type: str, filename: str | None = None
) -> web.StreamResponse:
    rt = _runtime(request)
    etag = f'"{info.etag}"'
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Type": content_type,
        "Cache-Control": "private, max-age=86400",
    }
    last_modified = format_datetime(info.last_modified, usegmt=True) if info.last_modified else None
    if last_modified:
        headers["Last-Modified"] = last_modified
    if filename:
        headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"

    if_none_match = request.headers.get("If-None-Match")
    if (if_none_match and etag in [t.strip() for t in if_none_match.split(",")]) or if_none_match == "*":
        return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})

    size = info.size
    byte_range = None
    if if_range_matches(request.headers.get("If-Range"), etag, last_modified):
        try:
            byte_range = parse_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable:
            raise ApiError(
                416,
                "range_not_satisfiable",
                f"the range lies outside the {size} bytes of the video",
                headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
            ) from None
    if byte_range is None:
        status, offset, length = 200, 0, size
    else:
        status, offset, length = 206, byte_range.start, byte_range.length
        headers["Content-Range"] = byte_range.content_range(size)

    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    if request.method == "HEAD" or length == 0:
        await response.prepare(request)
        await response.write_eof()
        return response
    chunks = rt.storage.iter_range(
        info.key, offset, length, chunk_size=rt.settings.gateway.stream_chunk_bytes
    )
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except (ConnectionResetError, StorageUnavailable) as exc:
        # The client went away, or the store failed mid-body: the status is sent; cut the body.
        log.info("stream_interrupted", key=info.key, error=str(exc))
        with contextlib.suppress(Exception):
            await chunks.aclose()
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def stream_video(request: web.Request) -> web.StreamResponse:
    rt = _runtime(request)
    record = await _record(request)
    key = record.objects.get("source")
    info = await _object_info(rt, record.id, "source", key) if key else None
    if info is None:
        raise not_found()
    return await _serve_object(request, info, content_type=record.mime, filename=record.filename)


async def thumbnail(request: web.Request) -> web.StreamResponse:
    rt = _runtime(request)
    record = await _record(request)
    key = record.objects.get("thumbnail")
    if key is None:
        if record.status is Status.FAILED or status_rank(record.status) >= status_rank(Status.INGESTED):
            raise ApiError(
                404, "no_thumbnail", "this video has no thumbnail", extra={"status": record.status.value}
            )
        raise ApiError(
            409,
            "not_ready",
            f"the thumbnail is not made yet (status: {record.status.value})",
            extra={"status": record.status.value},
        )
    info = await _object_info(rt, record.id, "thumbnail", key)
    if info is None:
        raise not_found("thumbnail")
    return await _serve_object(request, info, content_type="image/jpeg")


async def transcript(request: web.Request) -> web.Response:
    """The transcript as JSON, SRT, WebVTT or text; 409 ``not_ready`` (with the status) before it exists.

    The JSON transcript is read once per TTL through the shared cache (24 h); every format is
    rendered from it by the same functions the transcriber used for its SRT and VTT objects.
    """
    rt = _runtime(request)
    fmt = request.query.get("format", "json")
    if fmt not in RENDERERS:
        raise ApiError(400, "bad_request", f"format must be one of {', '.join(RENDERERS)}")
    record = await _record(request)
    if record.objects.get("transcript") is None:
        raise ApiError(
            409,
            "not_ready",
            f"the transcript is not made yet (status: {record.status.value})",
            extra={"status": record.status.value},
        )
    loaded = await rt.load_transcript(record)
    if loaded is None:
        raise not_found("transcript")
    body = RENDERERS[fmt](loaded).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400", "Content-Type": CONTENT_TYPES[fmt]}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    if fmt != "json":
        stem = record.filename.rsplit(".", 1)[0] or "transcript"
        headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(stem)}.{fmt}"
    return web.Response(body=body, headers=headers)


async def delete_video(request: web.Request) -> web.Response:
    """Objects, then the record (its bytes go back to the tenant's quota), then a second sweep of
    the objects (a worker that wrote an artifact before the record went away is caught by it; one
    that writes later sees no record and removes its own), the cache, and finally
    ``vidsage.video.deleted`` for the other services."""
    rt = _runtime(request)
    record = await _record(request)
    prefix = names.objects_prefix(record.id)
    removed = await rt.storage.delete_prefix(prefix)
    if await rt.catalog.delete(record.owner, record.id) is None:
        raise not_found()
    await request.app[AUTH].quotas.give_back(record.owner, record.size)
    removed += await rt.storage.delete_prefix(prefix)
    await rt.cache.invalidate_prefix(names.cache_prefix(record.id))
    try:
        await publish_event(rt.js, VideoDeleted(video_id=record.id, owner=record.owner, prefix=prefix))
    except Exception as exc:
        # The video is gone for the API; subscribers miss the event. Say so loudly.
        log.error("deleted_event_not_published", video_id=record.id, error=str(exc))
    log.info("video_deleted", video_id=record.id, objects=removed)
    return web.Response(status=204)


async def retry_video(request: web.Request) -> web.Response:
    """Re-run a failed video from the stage that failed: the record goes back to waiting for that
    stage (it, the stages that need it and any stage not done pending, the error cleared,
    ``retries`` counted), then the input event of every stage it waits for is published again
    (under a message id of its own, so JetStream does not drop it as a duplicate). 409 ``not_failed``
    for a video that has not failed.

    If the publish fails after the record changed (NATS lost in between), the answer is 503 and the
    record waits for its stage with no event: the stage's reconciler re-drives it
    (:mod:`vidsage.reconcile`), so nothing stays stuck."""
    rt = _runtime(request)
    record = await _record(request)
    if record.status is not Status.FAILED or record.error is None:
        raise ApiError(
            409, "not_failed", f"only a failed video can be retried; this one is {record.status.value}"
        )
    stage = record.error.stage

    def rewind(r: VideoRecord) -> VideoRecord | None:
        if r.status is not Status.FAILED or r.error is None or r.error.stage != stage:
            return None
        return r.rewind(stage)

    rewound, changed = await rt.catalog.update(record.owner, record.id, rewind)
    if rewound is None:
        raise not_found()
    if not changed:  # retried (or deleted and re-made) by someone else meanwhile
        raise ApiError(409, "not_failed", "the video is no longer failed (retried meanwhile)")
    await redrive_awaited(rt.js, rt.storage, rewound, f"retry-{rewound.retries}")
    log.info("video_retried", video_id=record.id, stage=stage, retries=rewound.retries)
    return web.json_response(record_json(rewound, principal_of(request).owner), status=202)
