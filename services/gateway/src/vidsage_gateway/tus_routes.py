"""Resumable uploads with the tus 1.0.0 protocol under ``/api/uploads/``: core, ``creation``,
``termination``, ``expiration`` and ``checksum`` (sha1, sha256, md5).

- ``OPTIONS /api/uploads/``: ``Tus-Version``, ``Tus-Extension``, ``Tus-Max-Size`` (the upload cap),
  ``Tus-Checksum-Algorithm``.
- ``POST /api/uploads/`` with ``Upload-Length`` (required: deferred length is not supported) and
  ``Upload-Metadata`` (``filename``, ``filetype``, base64): 201 and ``Location:
  /api/uploads/<id>``. A declared length over the cap is 413 ``too_large``, zero is 400
  ``empty_file``; the upload is counted and its bytes reserved against the tenant's quotas here
  (429 / 403 ``quota_exceeded``), as the seed upload does before it reads a body.
- ``HEAD /api/uploads/<id>``: ``Upload-Offset``, ``Upload-Length``, ``Upload-Metadata``,
  ``Upload-Expires``; when the upload is complete also ``Vidsage-Video-Id``.
- ``PATCH /api/uploads/<id>`` (``Content-Type: application/offset+octet-stream``, ``Upload-Offset``):
  appends the body. A wrong offset is 409 ``offset_mismatch``; a body that would pass the declared
  length is 413 ``too_large`` and nothing of it is kept; a PATCH while another one on the same
  upload is running (on any replica) is 423 ``upload_locked``; a mismatched ``Upload-Checksum`` is
  460 ``checksum_mismatch`` and nothing of the body is kept. A connection that drops midway keeps
  what arrived (the client resumes from ``HEAD``'s offset) unless the PATCH carried a checksum.
  The PATCH that completes the upload runs the seed upload's checks (:mod:`vidsage_gateway.upload`:
  type by content, decodable, duration, frame size) and answers 204 with ``Vidsage-Video-Id`` and
  ``Location: /api/videos/<id>``, or the seed's error (415 ``unsupported_type``, 422 ``too_long``...)
  leaving nothing behind: no object, no parts, no record, no quota charged, no upload state.
- ``DELETE /api/uploads/<id>``: termination (204); an unfinished upload's parts are aborted.

Every answer carries ``Tus-Resumable: 1.0.0``; a request (other than OPTIONS) without it, or with
another version, is 412 ``tus_version_unsupported``. Errors are the API's JSON errors.

**Storage.** The bytes go to S3 as a multipart upload of the final source object (created once the
first bytes have told the format), in parts of ``s3.part_size`` (S3 wants at least 5 MiB for every
part but the last), one part uploading while the next is received. The bytes past the last full
part at the end of a PATCH (less than one part) are the *tail*: they are kept as a small S3 object
``uploads/<id>/tail-<offset>`` (not on a replica's disk, so any replica continues the upload) and
are read back and prepended by the next PATCH. So a PATCH holds at most about two parts in memory.
A PATCH with a checksum (or without ``Content-Length``) is spooled to a file in the gateway's spool
folder first, bounded by the bytes the upload still lacks, and only stored once it is verified.
On completion the object is read back into a spool file once, to be probed as the seed probes.

**Expiration.** An unfinished upload that gets no bytes for ``gateway.tus_expiry_s`` expires
(``Upload-Expires`` on every answer): a sweeper on each gateway (:meth:`TusUploads.sweep`, every
``gateway.tus_sweep_interval_s``) claims it by deleting its state (compare-and-set, so one replica
does the work), aborts its S3 multipart upload, deletes its tails (everything under
``uploads/<id>/``) and releases its quota reservation. One whose video record exists (its gateway
died after recording it, before saving the upload as done) keeps its video and settles instead.
A request for an expired upload gets 410 ``upload_expired`` (and cleans it up).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from vidsage.bus import provision_kv
from vidsage.contracts import names
from vidsage.contracts.ids import new_id
from vidsage.logging import get_logger
from vidsage.media import SNIFF_BYTES, MediaError, VideoFormat, sniff_format
from vidsage.runtime import Runtime
from vidsage.storage import ObjectNotFound, StorageError
from vidsage_gateway.auth import AUTH, scope_owner
from vidsage_gateway.errors import ApiError, not_found
from vidsage_gateway.intake import (
    READ_CHUNK,
    check_spool_room,
    clean_filename,
    commit_video,
    delete_quietly,
    media_error,
    probe_video,
    spool_space,
    too_large,
    video_record,
)
from vidsage_gateway.keys import RUNTIME, UPLOADS
from vidsage_gateway.quotas import Quotas, UploadTicket
from vidsage_gateway.tus_state import Entry, StateConflict, TusPart, TusStore, TusUpload

log = get_logger("vidsage.gateway.tus")

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration,checksum"
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
OFFSET_TYPE = "application/offset+octet-stream"
VIDEO_ID_HEADER = "Vidsage-Video-Id"
"""The header that names the stored video once an upload is complete (final PATCH, HEAD)."""
LOCK_SLACK_S = 30.0
"""A PATCH's lock outlives its deadline (``gateway.upload_max_s``) by this much."""


class _Cut(Exception):
    """The client stopped sending (``stalled``: sent nothing for the read timeout, or the PATCH
    passed its deadline)."""

    def __init__(self, reason: str, *, stalled: bool = False) -> None:
        super().__init__(reason)
        self.stalled = stalled


class _Overflow(Exception):
    """The body is longer than the bytes the upload still lacks."""


def _headers(up: TusUpload | None = None, **extra: str) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}
    if up is not None:
        headers["Upload-Expires"] = formatdate(up.expires_at, usegmt=True)
    return headers


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ANY_VERSION = ("OPTIONS", "GET")
"""Requests that need no ``Tus-Resumable``: tus's OPTIONS, and the JSON view (not part of tus)."""


def _tus(handler: Handler) -> Handler:
    """Check ``Tus-Resumable`` (412 otherwise), and put it on every answer, errors included."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            if request.method not in _ANY_VERSION and request.headers.get("Tus-Resumable") != TUS_VERSION:
                raise ApiError(
                    412,
                    "tus_version_unsupported",
                    f"send 'Tus-Resumable: {TUS_VERSION}' (the only tus version this server speaks)",
                    headers={"Tus-Version": TUS_VERSION},
                )
            return await handler(request)
        except ApiError as exc:
            exc.headers.setdefault("Tus-Resumable", TUS_VERSION)
            raise

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _int_header(request: web.Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise ApiError(400, "bad_request", f"{name} must be a non-negative integer")
    return int(raw)


def parse_metadata(raw: str) -> dict[str, str]:
    """``Upload-Metadata``: ``key base64value`` pairs separated by commas (a value may be absent)."""
    found: dict[str, str] = {}
    if not raw.strip():
        return found
    for pair in raw.split(","):
        key, _, value = pair.strip().partition(" ")
        if not key or " " in value.strip() or key in found:
            raise ApiError(
                400, "bad_metadata", "Upload-Metadata must be 'key base64value' pairs, comma-separated"
            )
        try:
            found[key] = (
                base64.b64decode(value.strip(), validate=True).decode("utf-8") if value.strip() else ""
            )
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ApiError(
                400, "bad_metadata", f"the value of {key!r} in Upload-Metadata is not base64 UTF-8"
            ) from exc
    return found


def _parse_checksum(raw: str | None) -> tuple[str, bytes] | None:
    if raw is None:
        return None
    algorithm, _, digest = raw.strip().partition(" ")
    if algorithm not in CHECKSUMS:
        raise ApiError(
            400, "checksum_unsupported", f"Upload-Checksum algorithm must be one of {', '.join(CHECKSUMS)}"
        )
    try:
        return algorithm, base64.b64decode(digest.strip(), validate=True)
    except binascii.Error as exc:
        raise ApiError(400, "bad_request", "the Upload-Checksum digest must be base64") from exc


def _upload_url(upload_id: str, owner: str, request: web.Request) -> str:
    url = f"/api/uploads/{upload_id}"
    if "owner" in request.query:  # an admin acting for a tenant keeps doing so
        url += f"?owner={owner}"
    return url


def _ticket(up: TusUpload) -> UploadTicket:
    return UploadTicket(up.owner, up.reservation_id, up.uploads_key)


# -- routes -------------------------------------------------------------------------------------


@_tus
async def options(request: web.Request) -> web.Response:
    """What this tus server supports."""
    cfg = request.app[RUNTIME].settings.gateway
    return web.Response(
        status=204,
        headers={
            **_headers(),
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(cfg.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


@_tus
async def create(request: web.Request) -> web.Response:
    """``POST /api/uploads/``: a new upload of ``Upload-Length`` bytes."""
    rt = request.app[RUNTIME]
    cfg = rt.settings.gateway
    if "Upload-Defer-Length" in request.headers:
        raise ApiError(
            400, "defer_length_unsupported", "deferred length is not supported: send Upload-Length"
        )
    length = _int_header(request, "Upload-Length")
    if length is None:
        raise ApiError(400, "missing_length", "send Upload-Length (the size of the whole file, in bytes)")
    if length == 0:
        raise ApiError(400, "empty_file", "the file is empty")
    if length > cfg.max_upload_bytes:
        raise too_large(cfg.max_upload_bytes)
    if (request.content_length or 0) > 0:
        raise ApiError(400, "bad_request", "creation-with-upload is not supported: send the bytes with PATCH")
    metadata_raw = request.headers.get("Upload-Metadata", "")
    metadata = parse_metadata(metadata_raw)
    owner = scope_owner(request)
    ticket = await request.app[AUTH].quotas.reserve_upload(owner, length)
    now = time.time()
    up = TusUpload(
        id=new_id(),
        owner=owner,
        video_id=new_id(),
        length=length,
        filename=clean_filename(metadata.get("filename") or metadata.get("name")),
        filetype=metadata.get("filetype") or metadata.get("type"),
        metadata=metadata_raw,
        created_at=now,
        expires_at=now + cfg.tus_expiry_s,
        reservation_id=ticket.reservation_id,
        uploads_key=ticket.uploads_key,
    )
    try:
        await request.app[TUS].store.create(up)
    except BaseException:
        await request.app[AUTH].quotas.release(ticket)
        raise
    log.info("tus_created", upload_id=up.id, length=length)
    return web.Response(
        status=201,
        headers=_headers(up, Location=_upload_url(up.id, owner, request), **{"Upload-Offset": "0"}),
    )


async def _entry(request: web.Request) -> Entry:
    """The caller's upload (404 for an unknown id or another tenant's; 410 once expired)."""
    owner = scope_owner(request)
    upload_id = request.match_info["upload_id"]
    store = request.app[TUS].store
    entry = await store.get(owner, upload_id)
    if entry is None:
        raise not_found("upload")
    now = time.time()
    if entry.upload.expired(now) and not entry.upload.locked(now):
        with contextlib.suppress(StateConflict):  # another request or replica removes it
            await request.app[TUS].discard(entry, expired=True)
        raise ApiError(410, "upload_expired", "this upload expired; start a new one")
    return entry


def _state_headers(up: TusUpload) -> dict[str, str]:
    headers = _headers(up, **{"Upload-Offset": str(up.offset), "Upload-Length": str(up.length)})
    if up.metadata:
        headers["Upload-Metadata"] = up.metadata
    if up.done:
        headers[VIDEO_ID_HEADER] = up.video_id
    return headers


@_tus
async def head(request: web.Request) -> web.Response:
    """``HEAD /api/uploads/<id>``: how far the upload got."""
    entry = await _entry(request)
    return web.Response(status=200, headers=_state_headers(entry.upload))


@_tus
async def describe(request: web.Request) -> web.Response:
    """``GET /api/uploads/<id>``: the upload as JSON (vidsage's own view, not part of tus)."""
    up = (await _entry(request)).upload
    body = {
        "id": up.id,
        "offset": up.offset,
        "length": up.length,
        "filename": up.filename,
        "complete": up.done,
        "in_progress": up.locked(time.time()),
        "video_id": up.video_id if up.done else None,
        "expires_at": datetime.fromtimestamp(up.expires_at, UTC).isoformat(),
    }
    return web.json_response(body, headers=_headers(up))


@_tus
async def terminate(request: web.Request) -> web.Response:
    """``DELETE /api/uploads/<id>``: drop the upload (its parts, its tail, its reservation)."""
    entry = await _entry(request)
    if entry.upload.locked(time.time()):
        raise ApiError(423, "upload_locked", "a PATCH on this upload is in progress; try again when it ends")
    try:
        await request.app[TUS].discard(entry)
    except StateConflict:
        raise ApiError(423, "upload_locked", "this upload changed meanwhile; try again") from None
    return web.Response(status=204, headers=_headers())


@_tus
async def patch(request: web.Request) -> web.Response:
    """``PATCH /api/uploads/<id>``: append the body at ``Upload-Offset``."""
    rt = request.app[RUNTIME]
    cfg = rt.settings.gateway
    if request.content_type != OFFSET_TYPE:
        raise ApiError(415, "bad_content_type", f"send the bytes as Content-Type: {OFFSET_TYPE}")
    offset = _int_header(request, "Upload-Offset")
    if offset is None:
        raise ApiError(400, "missing_offset", "send Upload-Offset (HEAD the upload to learn it)")
    checksum = _parse_checksum(request.headers.get("Upload-Checksum"))
    entry = await _entry(request)
    up = entry.upload
    if up.done:
        if offset == up.length and not request.content_length:
            return web.Response(status=204, headers=_state_headers(up))
        raise ApiError(409, "offset_mismatch", "this upload is complete", extra={"offset": up.length})
    if offset != up.offset:
        raise ApiError(
            409,
            "offset_mismatch",
            f"Upload-Offset is {offset} but the upload has {up.offset} bytes; resume from there",
            extra={"offset": up.offset},
        )
    remaining = up.length - up.offset
    if request.content_length is not None and request.content_length > remaining:
        raise ApiError(
            413,
            "too_large",
            f"the body ({request.content_length} bytes) passes the declared Upload-Length: "
            f"{remaining} bytes remain",
        )
    now = time.time()
    if up.locked(now):
        raise ApiError(423, "upload_locked", "another PATCH on this upload is in progress")
    store = request.app[TUS].store
    with request.app[UPLOADS].take(cfg.max_concurrent_uploads):
        token = new_id()
        up.lock, up.lock_until = token, now + cfg.upload_max_s + LOCK_SLACK_S
        try:
            await store.save(entry)
        except StateConflict:
            raise ApiError(423, "upload_locked", "another PATCH on this upload is in progress") from None
        receiver = _Receiver(request.app[TUS], entry, remaining)
        try:
            return await receiver.run(request, checksum)
        finally:
            await asyncio.shield(receiver.unlock(token))


# -- receiving one PATCH --------------------------------------------------------------------------


class _Receiver:
    """Turns one PATCH's body into S3 parts and a new tail, saving the state after each part."""

    def __init__(self, tus: TusUploads, entry: Entry, remaining: int) -> None:
        self.tus = tus
        self.rt = tus.rt
        self.store = tus.store
        self.entry = entry
        self.remaining = remaining
        self.part_size = tus.rt.settings.s3.part_size
        self.buffer = bytearray()
        self.received = 0
        self.pending: asyncio.Task[None] | None = None
        self.gone = False  # the upload was completed or discarded: no state to unlock

    @property
    def up(self) -> TusUpload:
        return self.entry.upload

    async def run(self, request: web.Request, checksum: tuple[str, bytes] | None) -> web.Response:
        cfg = self.rt.settings.gateway
        deadline = asyncio.get_running_loop().time() + cfg.upload_max_s
        if self.up.tail_key is not None:
            self.buffer += await self.rt.storage.get_bytes(self.up.tail_key)
        verified = checksum is not None or request.content_length is None
        try:
            if verified:
                await self._receive_verified(request, deadline, checksum)
            else:
                try:
                    async for chunk in _body(request, deadline, cfg.upload_read_timeout_s):
                        await self._feed(chunk)
                except _Cut:
                    await self._keep()  # what arrived stays: the client resumes from there
                    raise
        except _Cut as cut:
            raise _cut_error(cut, cfg.upload_read_timeout_s, cfg.upload_max_s) from None
        except MediaError as exc:
            await self._abandon()
            raise media_error(exc) from None
        if self.received == self.remaining:
            return await self._finish(request)
        await self._keep()
        log.info("tus_patch", upload_id=self.up.id, received=self.received, offset=self.up.offset)
        return web.Response(status=204, headers=_state_headers(self.up))

    async def _receive_verified(
        self, request: web.Request, deadline: float, checksum: tuple[str, bytes] | None
    ) -> None:
        """Spool the body (bounded by what the upload lacks), check it, then store it."""
        cfg = self.rt.settings.gateway
        folder = check_spool_room(cfg, self.remaining)
        digest = CHECKSUMS[checksum[0]]() if checksum is not None else None
        size = 0
        with tempfile.TemporaryFile(dir=folder, prefix="vidsage-tus-") as spool, spool_space():
            async for chunk in _body(request, deadline, cfg.upload_read_timeout_s):
                size += len(chunk)
                if size > self.remaining:
                    raise ApiError(
                        413,
                        "too_large",
                        f"the body passes the declared Upload-Length: {self.remaining} bytes remain",
                    )
                await self.rt.run_blocking(_spool_chunk, spool, digest, chunk)
            if checksum is not None and digest is not None and digest.digest() != checksum[1]:
                raise ApiError(
                    460,
                    "checksum_mismatch",
                    f"the body's {checksum[0]} does not match Upload-Checksum; nothing was kept",
                )
            await self.rt.run_blocking(spool.seek, 0)
            while chunk := await self.rt.run_blocking(spool.read, self.part_size):
                await self._feed(chunk)

    async def _feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.remaining:  # aiohttp holds the body to Content-Length; kept as a guard
            raise ApiError(413, "too_large", "the body passes the declared Upload-Length")
        self.buffer += chunk
        self._sniff(final=False)
        while len(self.buffer) >= self.part_size and self.up.format is not None:
            data = bytes(self.buffer[: self.part_size])
            del self.buffer[: self.part_size]
            await self._queue_part(data)

    def _sniff(self, *, final: bool) -> None:
        """Decide the format from the upload's first bytes (MediaError: not a video, say so now)."""
        up = self.up
        if up.format is not None or up.parts or (len(self.buffer) < SNIFF_BYTES and not final):
            return
        fmt = sniff_format(bytes(self.buffer[:SNIFF_BYTES]))
        up.format = fmt.value
        up.key = names.source_key(up.video_id, fmt.extension)

    async def _queue_part(self, data: bytes) -> None:
        """Store a part while the next is received (one in flight)."""
        if self.pending is not None:
            await self.pending
        self.pending = asyncio.create_task(self._store_part(data))

    async def _drain(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    async def _store_part(self, data: bytes) -> None:
        up = self.up
        assert up.key is not None
        assert up.format is not None
        if up.s3_upload_id is None:
            up.s3_upload_id = await self.rt.storage.start_multipart(
                up.key, content_type=VideoFormat(up.format).mime
            )
            await self.store.save(self.entry)  # recorded first, so the sweeper can abort it
        number = len(up.parts) + 1
        etag = await self.rt.storage.upload_part(up.key, up.s3_upload_id, number, data)
        old_tail = up.tail_key
        up.parts.append(TusPart(number=number, etag=etag, size=len(data)))
        up.tail_key, up.tail_size = None, 0
        await self.store.save(self.entry)
        if old_tail is not None:
            await delete_quietly(self.rt, old_tail, log, "tus_cleanup_failed")

    async def _keep(self) -> None:
        """End of a PATCH that did not complete the upload: the buffer becomes the new tail."""
        await asyncio.shield(self._keep_now())

    async def _keep_now(self) -> None:
        await self._drain()
        up = self.up
        up.expires_at = time.time() + self.rt.settings.gateway.tus_expiry_s
        if self.received == 0:
            return  # nothing new (the unlock saves the new expiry)
        old_tail = up.tail_key
        if self.buffer:
            key = names.tus_tail_key(up.id, sum(p.size for p in up.parts) + len(self.buffer))
            await self.rt.storage.put_bytes(key, bytes(self.buffer), content_type="application/octet-stream")
            up.tail_key, up.tail_size = key, len(self.buffer)
        else:
            up.tail_key, up.tail_size = None, 0
        up.lock, up.lock_until = None, 0.0  # this save is the unlock too (one KV write, not two)
        await self.store.save(self.entry)
        if old_tail is not None and old_tail != up.tail_key:
            await delete_quietly(self.rt, old_tail, log, "tus_cleanup_failed")

    async def unlock(self, token: str) -> None:
        if self.gone or self.up.lock != token:
            return
        if self.pending is not None:
            with contextlib.suppress(Exception):
                await self._drain()
        self.up.lock, self.up.lock_until = None, 0.0
        try:
            await self.store.save(self.entry)
        except Exception as exc:  # the lock lapses by its deadline anyway
            log.warning("tus_unlock_failed", upload_id=self.up.id, error=type(exc).__name__)

    async def _abandon(self) -> None:
        """A check failed: drop everything of the upload."""
        with contextlib.suppress(Exception):
            await self._drain()
        self.gone = True
        await asyncio.shield(self.tus.discard(self.entry, refresh=True))

    async def _finish(self, request: web.Request) -> web.Response:
        """The last byte arrived: complete the object, check it as the seed does, record it."""
        rt = self.rt
        up = self.up
        cfg = rt.settings.gateway
        app = request.app
        try:
            self._sniff(final=True)
            assert up.key is not None
            assert up.format is not None
            fmt = VideoFormat(up.format)
            recorded = False
            if up.s3_upload_id is None:  # smaller than one part: one plain object
                await rt.storage.put_bytes(up.key, bytes(self.buffer), content_type=fmt.mime)
            else:
                if self.buffer:
                    await self._queue_part(bytes(self.buffer))
                    self.buffer.clear()
                await self._drain()
                parts = [(p.number, p.etag) for p in up.parts]
                try:
                    await rt.storage.complete_multipart(up.key, up.s3_upload_id, parts)
                except ObjectNotFound:
                    # completed by a PATCH whose gateway died before it saved the upload as done
                    # (the client resumes at the full offset): carry on from what that one did
                    if await rt.storage.stat(up.key) is None:
                        raise
                    recorded = await rt.catalog.get(up.owner, up.video_id) is not None
                    log.warning("tus_completion_resumed", upload_id=up.id, recorded=recorded)
            if not recorded:
                spool = check_spool_room(cfg, up.length)
                with (
                    tempfile.TemporaryDirectory(dir=spool, prefix="vidsage-tus-") as folder,
                    spool_space(),
                ):
                    path = Path(folder) / f"source.{fmt.extension}"
                    await rt.storage.download_file(up.key, path)
                    result = await probe_video(rt, str(path), fmt)
                record = video_record(up.video_id, up.owner, up.filename, up.length, fmt, result, up.key)
                await commit_video(rt, app[UPLOADS], record, up.key)
        except BaseException as exc:
            await self._abandon()
            if isinstance(exc, MediaError):
                raise media_error(exc) from None
            raise
        await self.tus.quotas.settle(_ticket(up), up.length)
        up.done = True
        up.parts, up.s3_upload_id, up.tail_key, up.tail_size = [], None, None, 0
        up.lock, up.lock_until = None, 0.0
        up.expires_at = time.time() + cfg.tus_expiry_s
        self.gone = True
        try:
            await self.store.save(self.entry)
        except Exception as exc:  # the video is stored; the finished state is a courtesy
            log.warning("tus_done_state_not_saved", upload_id=up.id, error=type(exc).__name__)
        await _drop_tails(rt, up.id)
        log.info("tus_accepted", upload_id=up.id, video_id=up.video_id, size=up.length, format=fmt.value)
        return web.Response(
            status=204, headers={**_state_headers(up), "Location": f"/api/videos/{up.video_id}"}
        )


def _spool_chunk(spool: IO[bytes], digest: Any, chunk: bytes) -> None:
    """Hash and spool one chunk (blocking: on the executor, one hop for both)."""
    if digest is not None:
        digest.update(chunk)
    spool.write(chunk)


async def _body(request: web.Request, deadline: float, read_timeout_s: float) -> AsyncIterator[bytes]:
    """The request body in chunks, each read bounded by the read timeout and the PATCH's deadline."""
    loop = asyncio.get_running_loop()
    while True:
        left = deadline - loop.time()
        try:
            chunk = await asyncio.wait_for(
                request.content.read(READ_CHUNK), max(0.0, min(read_timeout_s, left))
            )
        except TimeoutError:
            raise _Cut("stalled", stalled=True) from None
        except Exception as exc:  # connection reset, short body, bad chunked encoding...
            raise _Cut(str(exc) or type(exc).__name__) from exc
        if not chunk:
            return
        yield chunk


def _cut_error(cut: _Cut, read_timeout_s: float, max_s: float) -> ApiError:
    if cut.stalled:
        return ApiError(
            408,
            "upload_timeout",
            f"the client sent nothing for {read_timeout_s:g} s, or the PATCH took longer than {max_s:g} s; "
            "what arrived is kept (HEAD for the offset)",
            headers={"Connection": "close"},
        )
    return ApiError(400, "upload_incomplete", f"the PATCH ended early: {cut}")


async def _drop_tails(rt: Runtime, upload_id: str) -> None:
    """Delete every tail object of the upload: the saved one, and any that a gateway killed between
    writing a tail and saving the state left (no state names it). Logged, never raised."""
    try:
        await asyncio.shield(rt.storage.delete_prefix(names.tus_prefix(upload_id)))
    except (StorageError, asyncio.CancelledError) as exc:
        log.error("tus_cleanup_failed", upload_id=upload_id, error=str(exc) or type(exc).__name__)


class TusUploads:
    """The gateway's resumable uploads: their state, and the removal of dropped or expired ones."""

    def __init__(self, rt: Runtime, store: TusStore, quotas: Quotas) -> None:
        self.rt = rt
        self.store = store
        self.quotas = quotas

    async def discard(self, entry: Entry, *, refresh: bool = False, expired: bool = False) -> None:
        """Remove an upload: its state first (compare-and-set, so one remover wins; ``refresh``
        takes the revision stored now), then its S3 multipart upload or object, its tail and
        (unless it completed) its quota reservation.

        An ``expired`` upload whose video record exists was accepted by a gateway that died
        before it saved the upload as done: its object stays and its reservation is settled."""
        rt = self.rt
        up = entry.upload
        if refresh:
            fresh = await self.store.get(up.owner, up.id)
            if fresh is None:
                return
            entry.revision = fresh.revision
        await self.store.remove(entry)
        if up.done:
            return
        if expired and up.key is not None and await rt.catalog.get(up.owner, up.video_id) is not None:
            log.warning("tus_accepted_state_recovered", upload_id=up.id, video_id=up.video_id)
            await self.quotas.settle(_ticket(up), up.length)
            await _drop_tails(rt, up.id)
            return
        if up.s3_upload_id is not None and up.key is not None:
            try:
                await rt.storage.abort_multipart(up.key, up.s3_upload_id)
            except StorageError as exc:
                log.error("tus_abort_failed", upload_id=up.id, error=str(exc))
        if up.key is not None:
            await delete_quietly(
                rt, up.key, log, "upload_cleanup_failed"
            )  # completed, then failed its checks
        await _drop_tails(rt, up.id)
        await self.quotas.release(_ticket(up))

    async def sweep(self, now: float | None = None) -> list[str]:
        """Remove every expired upload that no PATCH holds; the ids removed."""
        now = time.time() if now is None else now
        removed: list[str] = []
        for entry in await self.store.all():
            up = entry.upload
            if not up.expired(now) or up.locked(now):
                continue
            try:
                await self.discard(entry, expired=True)
            except StateConflict:
                continue  # written meanwhile (a PATCH, another replica's sweep)
            removed.append(up.id)
            log.info(
                "tus_upload_expired",
                upload_id=up.id,
                owner=up.owner,
                offset=up.offset,
                length=up.length,
                parts_aborted=len(up.parts),
                done=up.done,
            )
        return removed

    async def run_sweeper(self) -> None:
        interval = self.rt.settings.gateway.tus_sweep_interval_s
        while True:
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))
            try:
                await self.sweep()
            except Exception as exc:  # the bus or the store is down: next time
                log.warning("tus_sweep_failed", error=type(exc).__name__)


TUS = web.AppKey("tus", TusUploads)


async def context(app: web.Application) -> AsyncIterator[None]:
    """Open the ``uploads`` bucket and run the expiry sweeper (after the runtime is open)."""
    rt = app[RUNTIME]
    kv = await provision_kv(rt.js, names.TUS_UPLOADS_BUCKET, replicas=rt.settings.nats.replicas)
    tus = TusUploads(rt, TusStore(kv), app[AUTH].quotas)
    app[TUS] = tus
    sweeper = asyncio.create_task(tus.run_sweeper())
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper


def add_routes(router: web.UrlDispatcher) -> None:
    """The tus routes (``/api/uploads/`` and ``/api/uploads/<id>``)."""
    router.add_route("OPTIONS", "/api/uploads/", options)
    router.add_post("/api/uploads/", create)
    router.add_route("OPTIONS", "/api/uploads/{upload_id}", options)
    router.add_get("/api/uploads/{upload_id}", describe, allow_head=False)
    router.add_route("HEAD", "/api/uploads/{upload_id}", head)
    router.add_patch("/api/uploads/{upload_id}", patch)
    router.add_delete("/api/uploads/{upload_id}", terminate)
