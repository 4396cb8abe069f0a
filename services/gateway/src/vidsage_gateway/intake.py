"""What the three ways a file comes in share: the seed upload (:mod:`vidsage_gateway.upload`), the
resumable uploads (:mod:`vidsage_gateway.tus_routes`) and the transcription endpoint
(:mod:`vidsage_gateway.openai_audio`).

- **Reading.** :func:`receiving` takes an upload slot and starts the request's deadline
  (``gateway.upload_max_s``); :class:`PartBody` reads a multipart part under it (each read also
  bounded by ``gateway.upload_read_timeout_s``: :class:`Stalled`; a connection that breaks:
  :class:`Incomplete`), capped at ``gateway.max_upload_bytes`` (413), and streams it to S3 and a
  spool file at once.
- **The spool folder.** :func:`spool_dir`, :func:`check_spool_room` (503 ``spool_full`` before a
  byte is written) and :func:`spool_space` (503 ``spool_full`` when the disk fills while writing).
- **The checks and the record.** :func:`probe_video` (the seed's probe and limits, a
  :class:`MediaError` as its 4xx), :func:`video_record` and :func:`commit_video` (record, then
  ``vidsage.video.uploaded``; a record whose creation may have been stored is deleted in the
  background once the bus answers again, so a refused upload leaves none).
- :func:`delete_quietly`: the clean-up of an object that must not fail the request.

Each way answers its own errors (the transcription endpoint in OpenAI's words): this module raises
:class:`Stalled`, :class:`Incomplete` and the API errors the three answer alike.
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
from typing import IO, Any, TypeVar

from aiohttp import BodyPartReader, web

from vidsage.bus import publish_event
from vidsage.contracts.events import VideoUploaded
from vidsage.contracts.record import VideoRecord
from vidsage.logging import get_logger
from vidsage.media import SNIFF_BYTES, MediaError, ProbeResult, VideoFormat, probe
from vidsage.runtime import Runtime
from vidsage.settings import GatewaySettings
from vidsage.storage import ObjectInfo, StorageError
from vidsage_gateway.errors import ApiError, bus_unavailable
from vidsage_gateway.keys import RUNTIME, UPLOADS
from vidsage_gateway.overload import RETRY_AFTER_S, UploadSlots

log = get_logger("vidsage.gateway.upload")

READ_CHUNK = 256 * 1024
# Multipart framing around the file: boundaries, part headers, other small fields.
MULTIPART_SLACK = 64 * 1024

MEDIA_STATUS = {
    "empty_file": 400,
    "unsupported_type": 415,
    "too_long": 422,
    "undecodable": 422,
    "truncated": 422,
    "no_video_stream": 422,
    "frame_too_large": 422,
}
"""The HTTP status of each :class:`MediaError` code."""

UNDO_WINDOW_S = 600.0
"""How long a refused upload's record is looked for (and deleted) once the bus answers again."""

T = TypeVar("T")


class Incomplete(Exception):
    """The client stopped sending before the upload was complete."""


class Stalled(Exception):
    """The client sent nothing for ``gateway.upload_read_timeout_s``, or the body is still not in
    after ``gateway.upload_max_s``."""


class _TooLarge(Exception):
    pass


def media_error(exc: MediaError) -> ApiError:
    """A file that failed the media checks, as the API answers it (415, 422...)."""
    return ApiError(MEDIA_STATUS.get(exc.code, 422), exc.code, exc.message)


def too_large(cap: int) -> ApiError:
    return ApiError(413, "too_large", f"the upload exceeds the limit of {cap} bytes ({cap / 2**20:.0f} MiB)")


def expected_size(request: web.Request, cap: int) -> int:
    """What a multipart upload may add: its length, or ``cap`` when it is not known (chunked);
    413 at once when its declared length is over ``cap`` (with room for the framing)."""
    if request.content_length is not None and request.content_length > cap + MULTIPART_SLACK:
        raise too_large(cap)
    return min(request.content_length or cap, cap)


def clean_filename(name: str | None) -> str:
    """A display-safe file name: no path, no control characters, at most 255 characters.

    Browsers escape only ``"``, CR and LF in multipart file names (HTML's form encoding), so
    exactly those escapes are decoded; any other ``%xx`` is part of the name.
    """
    name = (name or "").replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[:255] or "upload"


# --- reading under the request's deadline ----------------------------------------------------------------

_DEADLINE = web.RequestKey("upload_deadline", float)


@contextlib.contextmanager
def receiving(request: web.Request) -> Iterator[None]:
    """Take an upload slot (503 ``overloaded`` beyond ``gateway.max_concurrent_uploads``) and start
    the request's deadline, for :func:`timed` and :class:`PartBody`."""
    cfg = request.app[RUNTIME].settings.gateway
    with request.app[UPLOADS].take(cfg.max_concurrent_uploads):
        request[_DEADLINE] = asyncio.get_running_loop().time() + cfg.upload_max_s
        yield


async def timed(request: web.Request, step: Awaitable[T]) -> T:
    """``step`` (a read from the client), bounded by the read timeout and the upload's deadline."""
    cfg = request.app[RUNTIME].settings.gateway
    left = request[_DEADLINE] - asyncio.get_running_loop().time()
    try:
        return await asyncio.wait_for(step, max(0.0, min(cfg.upload_read_timeout_s, left)))
    except TimeoutError:
        raise Stalled from None


async def read_chunk(request: web.Request, part: BodyPartReader) -> bytes:
    """The part's next chunk (``b""`` at its end), bounded as :func:`timed` bounds it."""
    try:
        return await timed(request, part.read_chunk(READ_CHUNK))
    except Stalled:
        raise
    except Exception as exc:  # connection reset, bad chunked encoding, short body...
        raise Incomplete(str(exc) or type(exc).__name__) from exc


class PartBody:
    """A multipart part's bytes, at most ``cap`` of them: :meth:`read_head` for sniffing, then
    :meth:`store` streams all of it (head first) to S3 and a spool file."""

    def __init__(self, request: web.Request, part: BodyPartReader, cap: int) -> None:
        self.request = request
        self.part = part
        self.cap = cap
        self.head = b""
        self.size = 0
        """The bytes read so far."""
        self.stored = False
        """Whether :meth:`store` wrote the object (set before the spool file is flushed)."""

    async def read_head(self) -> bytes:
        """The first :data:`SNIFF_BYTES` (fewer if the part is shorter)."""
        while len(self.head) < SNIFF_BYTES:
            chunk = await read_chunk(self.request, self.part)
            if not chunk:
                break
            self.head += chunk
        self.size = len(self.head)
        return self.head[:SNIFF_BYTES]

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield self.head
        while chunk := await read_chunk(self.request, self.part):
            self.size += len(chunk)
            if self.size > self.cap:
                raise _TooLarge
            yield chunk

    async def store(self, rt: Runtime, key: str, mime: str, spool: IO[bytes]) -> ObjectInfo:
        """Stream the part to S3 as ``key`` and into ``spool`` (flushed); 413 past the cap (at once
        if the head already is), 503 ``spool_full`` when the spool disk fills."""
        if self.size > self.cap:
            raise too_large(self.cap)
        with spool_space():
            try:
                info = await rt.storage.put_stream(key, self._chunks(), content_type=mime, tee=spool)
                self.stored = True
            except _TooLarge:
                raise too_large(self.cap) from None
            spool.flush()
        return info


# --- the spool folder ------------------------------------------------------------------------------------


def _spool_full() -> ApiError:
    return ApiError(
        503,
        "spool_full",
        "the gateway has no room for the upload right now; try again shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


@contextlib.contextmanager
def spool_space() -> Iterator[None]:
    """A full spool disk (ENOSPC, EDQUOT) while writing is 503 ``spool_full``; other errors pass."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise _spool_full() from exc


def spool_dir(cfg: GatewaySettings) -> Path:
    """The folder for spool files: ``gateway.spool_dir``, else the system's temporary folder."""
    return cfg.spool_dir or Path(tempfile.gettempdir())


def check_spool_room(cfg: GatewaySettings, needed: int) -> Path:
    """The spool folder, once it is known to keep ``gateway.spool_min_free_bytes`` free after
    ``needed`` more bytes (503 ``spool_full`` otherwise)."""
    folder = spool_dir(cfg)
    keep_free = cfg.spool_min_free_bytes
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return folder  # cannot tell: writing will tell
    if free - needed < keep_free:
        log.warning("spool_full", free=free, needed=needed, keep_free=keep_free)
        raise _spool_full()
    return folder


# --- the checks, the record and its event ----------------------------------------------------------------


async def probe_video(rt: Runtime, path: str, fmt: VideoFormat) -> ProbeResult:
    """Probe a spooled video under ``gateway.max_duration_s`` and ``gateway.max_frame_pixels``
    (a :class:`MediaError` as its API error)."""
    cfg = rt.settings.gateway
    try:
        return await rt.run_blocking(
            probe, path, fmt, max_duration_s=cfg.max_duration_s, max_pixels=cfg.max_frame_pixels
        )
    except MediaError as exc:
        raise media_error(exc) from exc


def video_record(
    video_id: str, owner: str, filename: str, size: int, fmt: VideoFormat, result: ProbeResult, key: str
) -> VideoRecord:
    """The record of an accepted upload."""
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


async def commit_video(rt: Runtime, slots: UploadSlots, record: VideoRecord, key: str) -> None:
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


async def delete_quietly(rt: Runtime, key: str, logger: Any, event: str) -> None:
    """Delete ``key`` whatever happens to the request (shielded); a failure is logged on
    ``logger`` as ``event``, not raised."""
    try:
        await asyncio.shield(rt.storage.delete(key))
    except (StorageError, asyncio.CancelledError) as exc:
        logger.error(event, key=key, error=str(exc) or type(exc).__name__)
