"""``POST /api/videos/upload``: stream a multipart upload to S3 while validating it.

1. The first bytes decide the type (python-magic): MP4, MOV or AVI, else 415, before anything is
   stored.
2. The rest streams to S3 as it arrives (multipart, two parts in flight) and, in the same
   worker thread, into a short-lived spool file used only to probe the video. The size cap is
   checked on every chunk (413).
3. The probe (PyAV, local file only) measures the duration (422 over the limit) and proves the
   file decodes and is complete (422 otherwise). The spool file is removed right after.
4. Only then the record is created and ``vidsage.video.uploaded`` published. Any failure on the
   way removes what was written: a rejected upload leaves no object, no record and no event.

Before anything is read, the upload is counted against the tenant's uploads per hour and reserves
its bytes against the storage quota (:mod:`vidsage_gateway.quotas`: 429 / 403 ``quota_exceeded``);
a stored upload settles with its real size, a refused one releases the reservation and the count.
The video belongs to the request's owner (an admin's ``?owner=NAME`` uploads for that tenant).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader, web

from vidsage.bus import publish_event
from vidsage.contracts import names
from vidsage.contracts.events import VideoUploaded
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import VideoRecord
from vidsage.logging import get_logger
from vidsage.media import SNIFF_BYTES, MediaError, ProbeResult, VideoFormat, probe, sniff_format
from vidsage.runtime import Runtime
from vidsage.storage import StorageError
from vidsage_gateway.auth import AUTH, principal_of, scope_owner
from vidsage_gateway.errors import ApiError
from vidsage_gateway.keys import RUNTIME
from vidsage_gateway.videos import record_json

log = get_logger("vidsage.gateway.upload")

READ_CHUNK = 256 * 1024
# Multipart framing around the file: boundaries, part headers, other small fields.
MULTIPART_SLACK = 64 * 1024

_MEDIA_STATUS = {
    "empty_file": 400,
    "unsupported_type": 415,
    "too_long": 422,
    "undecodable": 422,
    "truncated": 422,
    "no_video_stream": 422,
}


class _TooLarge(Exception):
    pass


class _Incomplete(Exception):
    """The client stopped sending before the upload was complete."""


async def _read(part: BodyPartReader) -> bytes:
    try:
        return await part.read_chunk(READ_CHUNK)
    except Exception as exc:  # connection reset, bad chunked encoding, short body...
        raise _Incomplete(str(exc) or type(exc).__name__) from exc


def clean_filename(name: str | None) -> str:
    """A display-safe file name: no path, no control characters, at most 255 characters.

    Browsers escape only ``"``, CR and LF in multipart file names (HTML's form encoding), so
    exactly those escapes are decoded; any other ``%xx`` is part of the name.
    """
    name = (name or "").replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[:255] or "upload"


async def _file_part(request: web.Request) -> BodyPartReader:
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "missing_file", "send the video as multipart/form-data in a field named 'file'")
    try:
        reader: MultipartReader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            # Skip other fields, bounded: they are not used (yet).
            if isinstance(part, BodyPartReader):
                skipped = 0
                while chunk := await _read(part):
                    skipped += len(chunk)
                    if skipped > MULTIPART_SLACK:
                        raise ApiError(400, "bad_request", f"form field {part.name!r} is too large")
    except (ValueError, AssertionError) as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from exc
    raise ApiError(400, "missing_file", "no form field named 'file' in the upload")


async def handle_upload(request: web.Request) -> web.Response:
    """The upload endpoint; a client that stops sending midway gets 400 ``upload_incomplete``."""
    try:
        return await _upload(request)
    except _Incomplete as exc:
        raise ApiError(400, "upload_incomplete", f"the upload ended early: {exc}") from exc


async def _upload(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    cfg = rt.settings.gateway
    cap = cfg.max_upload_bytes
    if request.content_length is not None and request.content_length > cap + MULTIPART_SLACK:
        raise _too_large(cap)
    owner = scope_owner(request)
    quotas = request.app[AUTH].quotas
    # what the upload may add: its length, or the cap when it is not known (chunked)
    ticket = await quotas.reserve_upload(owner, min(request.content_length or cap, cap))
    try:
        response, size = await _store(request, rt, owner)
    except BaseException:
        await quotas.release(ticket)
        raise
    await quotas.settle(ticket, size)
    return response


async def _store(request: web.Request, rt: Runtime, owner: str) -> tuple[web.Response, int]:
    """Validate and store the upload; the answer and the stored size."""
    cfg = rt.settings.gateway
    cap = cfg.max_upload_bytes
    part = await _file_part(request)
    filename = clean_filename(part.filename)

    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = await _read(part)
        if not chunk:
            break
        head += chunk
    try:
        fmt = sniff_format(head[:SNIFF_BYTES])
    except MediaError as exc:
        raise ApiError(_MEDIA_STATUS.get(exc.code, 422), exc.code, exc.message) from exc

    video_id = new_id()
    key = names.source_key(video_id, fmt.extension)
    size = len(head)
    if size > cap:
        raise _too_large(cap)

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal size
        yield head
        while chunk := await _read(part):
            size += len(chunk)
            if size > cap:
                raise _TooLarge
            yield chunk

    spool_dir = cfg.spool_dir or Path(tempfile.gettempdir())
    stored = False
    try:
        with tempfile.NamedTemporaryFile(
            dir=spool_dir, prefix="vidsage-upload-", suffix=f".{fmt.extension}"
        ) as spool:
            try:
                info = await rt.storage.put_stream(key, chunks(), content_type=fmt.mime, tee=spool)
                stored = True
            except _TooLarge:
                raise _too_large(cap) from None
            spool.flush()
            result = await _probe(rt, spool.name, fmt, cfg.max_duration_s)
        record = VideoRecord(
            id=video_id,
            owner=owner,
            filename=filename,
            size=info.size,
            mime=fmt.mime,
            format=fmt.value,
            duration_s=round(result.duration_s, 3),
            width=result.width,
            height=result.height,
            fps=result.fps,
            video_codec=result.video_codec,
            audio_codec=result.audio_codec,
            has_audio=result.has_audio,
            objects={"source": key},
        )
        await _commit(rt, record, key)
    except BaseException:
        if stored:
            await _remove_quietly(rt, key)
        raise
    log.info(
        "upload_accepted", video_id=video_id, size=info.size, format=fmt.value, duration_s=record.duration_s
    )
    response = web.json_response(
        record_json(record, principal_of(request).owner),
        status=201,
        headers={"Location": f"/api/videos/{video_id}"},
    )
    return response, info.size


async def _probe(rt: Runtime, path: str, fmt: VideoFormat, max_duration_s: float) -> ProbeResult:
    try:
        return await rt.run_blocking(probe, path, fmt, max_duration_s=max_duration_s)
    except MediaError as exc:
        raise ApiError(_MEDIA_STATUS.get(exc.code, 422), exc.code, exc.message) from exc


async def _commit(rt: Runtime, record: VideoRecord, key: str) -> None:
    """Create the record, then publish the event; undo the record if the event cannot be sent."""
    try:
        await rt.catalog.create(record)
    except Exception as exc:
        raise ApiError(503, "bus_unavailable", "the catalog is unavailable; try again") from exc
    event = VideoUploaded(
        video_id=record.id,
        owner=record.owner,
        source_key=key,
        filename=record.filename,
        size=record.size,
        mime=record.mime,
        format=record.format,
        duration_s=record.duration_s,
    )
    try:
        await publish_event(rt.js, event)
    except Exception as exc:
        with contextlib.suppress(Exception):
            await rt.catalog.delete(record.owner, record.id)
        raise ApiError(503, "bus_unavailable", "the event bus is unavailable; try again") from exc


async def _remove_quietly(rt: Runtime, key: str) -> None:
    try:
        await asyncio.shield(rt.storage.delete(key))
    except (StorageError, asyncio.CancelledError) as exc:
        log.error("upload_cleanup_failed", key=key, error=str(exc))


def _too_large(cap: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload exceeds the limit of {cap} bytes ({cap / 2**20:.0f} MiB)")
