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
again (:func:`vidsage_gateway.intake.commit_video`), so a refused upload leaves no record behind;
the gateway's NATS connection never buffers writes while reconnecting (a buffered create would
land after its upload was refused).

Before anything is read, the upload is counted against the tenant's uploads per hour and reserves
its bytes against the storage quota (:mod:`vidsage_gateway.quotas`: 429 / 403 ``quota_exceeded``);
a stored upload settles with its real size, a refused one releases the reservation and the count.
The video belongs to the request's owner (an admin's ``?owner=NAME`` uploads for that tenant).
"""

from __future__ import annotations

import tempfile

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from vidsage.contracts import names
from vidsage.contracts.ids import new_id
from vidsage.logging import get_logger
from vidsage.media import MediaError, sniff_format
from vidsage.runtime import Runtime
from vidsage_gateway.auth import AUTH, principal_of, scope_owner
from vidsage_gateway.errors import ApiError
from vidsage_gateway.intake import (
    MULTIPART_SLACK,
    Incomplete,
    PartBody,
    Stalled,
    check_spool_room,
    clean_filename,
    commit_video,
    delete_quietly,
    expected_size,
    media_error,
    probe_video,
    read_chunk,
    receiving,
    spool_dir,
    timed,
    video_record,
)
from vidsage_gateway.keys import RUNTIME, UPLOADS
from vidsage_gateway.videos import record_json

log = get_logger("vidsage.gateway.upload")


async def _file_part(request: web.Request) -> BodyPartReader:
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(400, "missing_file", "send the video as multipart/form-data in a field named 'file'")
    try:
        reader: MultipartReader = await request.multipart()
        while True:
            part = await timed(request, reader.next())
            if part is None:
                break
            if isinstance(part, BodyPartReader) and part.name == "file":
                return part
            # Skip other fields, bounded: they are not used (yet).
            if isinstance(part, BodyPartReader):
                skipped = 0
                while chunk := await read_chunk(request, part):
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
    with receiving(request):
        try:
            return await _upload(request)
        except Incomplete as exc:
            raise ApiError(400, "upload_incomplete", f"the upload ended early: {exc}") from exc
        except Stalled:
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
    expected = expected_size(request, cfg.max_upload_bytes)
    check_spool_room(cfg, expected)
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
    part = await _file_part(request)
    filename = clean_filename(part.filename)
    body = PartBody(request, part, cfg.max_upload_bytes)
    try:
        fmt = sniff_format(await body.read_head())
    except MediaError as exc:
        raise media_error(exc) from exc

    video_id = new_id()
    key = names.source_key(video_id, fmt.extension)
    try:
        with tempfile.NamedTemporaryFile(
            dir=spool_dir(cfg), prefix="vidsage-upload-", suffix=f".{fmt.extension}"
        ) as spool:
            info = await body.store(rt, key, fmt.mime, spool)
            result = await probe_video(rt, spool.name, fmt)
        record = video_record(video_id, owner, filename, info.size, fmt, result, key)
        await commit_video(rt, request.app[UPLOADS], record, key)
    except BaseException:
        if body.stored:
            await delete_quietly(rt, key, log, "upload_cleanup_failed")
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
