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

Overload is answered, not absorbed: beyond ``gateway.max_concurrent_uploads`` uploads at once, or
when the spool folder would keep less than ``gateway.spool_min_free_bytes`` free (or fills up
during the upload), the answer is 503 (``overloaded`` / ``spool_full``) with ``Retry-After``, at
once. A client that sends nothing for ``gateway.upload_read_timeout_s``, or has not sent the whole
body after ``gateway.upload_max_s`` (a trickle), gets 408 ``upload_timeout``. A multipart body
aiohttp cannot parse (control characters in a part header, a part header over the line limit) is
400 ``malformed_request``.

A record whose creation timed out may still have been stored (the request reached the server,
the answer did not): the gateway then deletes it in the background as soon as the bus answers
again (:func:`_undo_record`), so a refused upload leaves no record behind; the gateway's NATS
connection never buffers writes while reconnecting (a buffered create would land after its
upload was refused).

Before anything is read, the upload is counted against the tenant's uploads per hour and reserves
its bytes against the storage quota (:mod:`vidsage_gateway.quotas`: 429 / 403 ``quota_exceeded``);
a stored upload settles with its real size, a refused one releases the reservation and the count.
The video belongs to the request's owner (an admin's ``?owner=NAME`` uploads for that tenant).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import shutil
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from vidsage.bus import publish_event
from vidsage.contracts import names
from vidsage.contracts.events import VideoUploaded
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import VideoRecord
from vidsage.logging import get_logger
from vidsage.media import SNIFF_BYTES, MediaError, ProbeResult, VideoFormat, probe, sniff_format
from vidsage.runtime import Runtime
from vidsage.settings import GatewaySettings
from vidsage.storage import StorageError
from vidsage_gateway.auth import AUTH, principal_of, scope_owner
from vidsage_gateway.errors import ApiError, bus_unavailable
from vidsage_gateway.keys import RUNTIME, UPLOADS
from vidsage_gateway.overload import RETRY_AFTER_S, UploadSlots
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
    "frame_too_large": 422,
}

UNDO_WINDOW_S = 600.0
"""How long a refused upload's record is looked for (and deleted) once the bus answers again."""

T = TypeVar("T")


class _TooLarge(Exception):
    pass


class _Incomplete(Exception):
    """The client stopped sending before the upload was complete."""


class _Stalled(Exception):
    """The client sent nothing for ``gateway.upload_read_timeout_s``, or the body is still not in
    after ``gateway.upload_max_s``."""


_DEADLINE = web.RequestKey("upload_deadline", float)


async def _timed(request: web.Request, step: Awaitable[T]) -> T:
    """``step`` (a read from the client), bounded by the read timeout and the upload's deadline."""
    cfg = request.app[RUNTIME].settings.gateway
    left = request[_DEADLINE] - asyncio.get_running_loop().time()
    try:
        return await asyncio.wait_for(step, max(0.0, min(cfg.upload_read_timeout_s, left)))
    except TimeoutError:
        raise _Stalled from None


async def _read(request: web.Request, part: BodyPartReader) -> bytes:
    try:
        return await _timed(request, part.read_chunk(READ_CHUNK))
    except _Stalled:
        raise
    except Exception as exc:  # connection reset, bad chunked encoding, short body...
        raise _Incomplete(str(exc) or type(exc).__name__) from exc


def _spool_full() -> ApiError:
    return ApiError(
        503,
        "spool_full",
        "the gateway has no room for the upload right now; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


@contextlib.contextmanager
def _spool_space() -> Iterator[None]:
    """A full spool disk (ENOSPC, EDQUOT) while writing is 503 ``spool_full``; other errors pass."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise _spool_full() from exc


def _spool_dir(cfg: GatewaySettings) -> Path:
    return cfg.spool_dir or Path(tempfile.gettempdir())


def _check_spool_room(spool_dir: Path, needed: int, keep_free: int) -> None:
    try:
        free = shutil.disk_usage(spool_dir).free
    except OSError:
        return  # cannot tell: writing will tell
    if free - needed < keep_free:
        log.warning("spool_full", free=free, needed=needed, keep_free=keep_free)
        raise _spool_full()


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
            part = await _timed(request, reader.next())
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            # Skip other fields, bounded: they are not used (yet).
            if isinstance(part, BodyPartReader):
                skipped = 0
                while chunk := await _read(request, part):
                    skipped += len(chunk)
                    if skipped > MULTIPART_SLACK:
                        raise ApiError(400, "bad_request", "a form field besides 'file' is too large")
    except HttpProcessingError as exc:  # a part header with control characters, or over 32 KiB
        raise ApiError(
            400,
            "malformed_request",
            "malformed multipart part headers (control characters, or a header over 32 KiB)",
        ) from exc
    except (ValueError, AssertionError) as exc:
        raise ApiError(400, "bad_request", "malformed multipart body") from exc
    raise ApiError(400, "missing_file", "no form field named 'file' in the upload")


async def handle_upload(request: web.Request) -> web.Response:
    """The upload endpoint; a client that stops sending midway gets 400 ``upload_incomplete``, one
    that stalls 408 ``upload_timeout``."""
    cfg = request.app[RUNTIME].settings.gateway
    with request.app[UPLOADS].take(cfg.max_concurrent_uploads):
        request[_DEADLINE] = asyncio.get_running_loop().time() + cfg.upload_max_s
        try:
            return await _upload(request)
        except _Incomplete as exc:
            raise ApiError(400, "upload_incomplete", f"the upload ended early: {exc}") from exc
        except _Stalled:
            log.info("upload_stalled", timeout_s=cfg.upload_read_timeout_s, max_s=cfg.upload_max_s)
            raise ApiError(
                408,
                "upload_timeout",
                f"the client sent nothing for {cfg.upload_read_timeout_s:g} s, or took longer than "
                f"{cfg.upload_max_s:g} s to send the upload; it was dropped",
                headers={"Connection": "close"},
            ) from None


async def _upload(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    cfg = rt.settings.gateway
    cap = cfg.max_upload_bytes
    if request.content_length is not None and request.content_length > cap + MULTIPART_SLACK:
        raise _too_large(cap)
    # what the upload may add: its length, or the cap when it is not known (chunked)
    expected = min(request.content_length or cap, cap)
    _check_spool_room(_spool_dir(cfg), expected, cfg.spool_min_free_bytes)
    owner = scope_owner(request)
    quotas = request.app[AUTH].quotas
    ticket = await quotas.reserve_upload(owner, expected)
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
        chunk = await _read(request, part)
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
        while chunk := await _read(request, part):
            size += len(chunk)
            if size > cap:
                raise _TooLarge
            yield chunk

    stored = False
    try:
        with tempfile.NamedTemporaryFile(
            dir=_spool_dir(cfg), prefix="vidsage-upload-", suffix=f".{fmt.extension}"
        ) as spool:
            with _spool_space():
                try:
                    info = await rt.storage.put_stream(key, chunks(), content_type=fmt.mime, tee=spool)
                    stored = True
                except _TooLarge:
                    raise _too_large(cap) from None
                spool.flush()
            result = await _probe(rt, spool.name, fmt, cfg.max_duration_s, cfg.max_frame_pixels)
        record = video_record(video_id, owner, filename, info.size, fmt, result, key)
        await _commit(rt, request.app[UPLOADS], record, key)
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


def video_record(
    video_id: str, owner: str, filename: str, size: int, fmt: VideoFormat, result: ProbeResult, key: str
) -> VideoRecord:
    """The record of an accepted upload (this endpoint's and the resumable uploads')."""
    return VideoRecord(
        id=video_id,
        owner=owner,
        filename=filename,
        size=size,
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


async def _probe(
    rt: Runtime, path: str, fmt: VideoFormat, max_duration_s: float, max_pixels: int
) -> ProbeResult:
    try:
        return await rt.run_blocking(probe, path, fmt, max_duration_s=max_duration_s, max_pixels=max_pixels)
    except MediaError as exc:
        raise ApiError(_MEDIA_STATUS.get(exc.code, 422), exc.code, exc.message) from exc


async def _commit(rt: Runtime, slots: UploadSlots, record: VideoRecord, key: str) -> None:
    """Create the record, then publish the event; undo the record if the event cannot be sent.

    A create or delete that fails may still have been stored (the answer was lost): the record is
    then deleted in the background once the bus answers again, so a refused upload leaves none.
    """
    if not rt.nc.is_connected:
        raise bus_unavailable("the catalog")
    try:
        await rt.catalog.create(record)
    except Exception as exc:
        _undo_later(rt, slots, record)
        raise bus_unavailable("the catalog") from exc
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
        try:
            await rt.catalog.delete(record.owner, record.id)
        except Exception:
            _undo_later(rt, slots, record)
        raise bus_unavailable("the event bus") from exc


def _undo_later(rt: Runtime, slots: UploadSlots, record: VideoRecord) -> None:
    task = asyncio.create_task(_undo_record(rt, record))
    slots.undo.add(task)
    task.add_done_callback(slots.undo.discard)


async def _undo_record(rt: Runtime, record: VideoRecord, window_s: float = UNDO_WINDOW_S) -> None:
    """Delete the record of a refused upload once the bus answers (retrying for ``window_s``):
    its creation may have reached the server although the gateway saw it fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window_s
    delay = 0.5
    while True:
        try:
            if rt.nc.is_connected:
                if await rt.catalog.delete(record.owner, record.id) is not None:
                    log.warning("refused_upload_record_removed", video_id=record.id)
                return
        except Exception as exc:
            log.info("refused_upload_undo_retry", video_id=record.id, error=type(exc).__name__)
        if loop.time() + delay > deadline:
            log.error("refused_upload_undo_gave_up", video_id=record.id, window_s=window_s)
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def _remove_quietly(rt: Runtime, key: str) -> None:
    try:
        await asyncio.shield(rt.storage.delete(key))
    except (StorageError, asyncio.CancelledError) as exc:
        log.error("upload_cleanup_failed", key=key, error=str(exc))


def _too_large(cap: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload exceeds the limit of {cap} bytes ({cap / 2**20:.0f} MiB)")
