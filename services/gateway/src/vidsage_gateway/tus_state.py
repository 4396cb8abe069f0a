"""The state of resumable (tus) uploads, in the NATS KV bucket ``uploads`` so that any gateway
replica continues any upload: one entry per upload under ``<owner>.<upload id>``
(:func:`vidsage.contracts.names.tus_state_key`), written with compare-and-set.

An entry holds what the upload promised (declared length, metadata, owner, its quota reservation),
how far it got (the S3 multipart upload, its parts and ETags, the buffered tail below one part),
when it expires, and who is writing it now (a lock with a deadline, so a PATCH on a replica that
died does not hold the upload forever).
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, Field, ValidationError

from vidsage.contracts import names
from vidsage.kvkeys import live_entries
from vidsage.logging import get_logger

log = get_logger("vidsage.gateway.tus")


class TusPart(BaseModel):
    """One stored S3 part."""

    number: int
    etag: str
    size: int


class TusUpload(BaseModel):
    """One resumable upload (see the module's documentation)."""

    id: str
    owner: str
    video_id: str
    """The id the video gets once the upload completes and passes the checks."""
    length: int
    """``Upload-Length``: the declared size (checked against the upload cap at creation)."""
    filename: str
    filetype: str | None = None
    """The ``filetype`` the client declared (informational: the type is decided by content)."""
    metadata: str = ""
    """``Upload-Metadata`` as the client sent it (echoed on HEAD)."""
    created_at: float
    expires_at: float
    reservation_id: str
    """The quota reservation taken at creation (settled on success, released otherwise)."""
    uploads_key: str
    """The hourly upload counter that counted this upload (refunded when it is released)."""
    format: str | None = None
    """The container format, decided from the first bytes (``mp4``, ``mov``, ``avi``)."""
    key: str | None = None
    """The S3 key of the source object once the format is known."""
    s3_upload_id: str | None = None
    parts: list[TusPart] = Field(default_factory=list)
    tail_key: str | None = None
    """The S3 object holding the bytes past the last full part (less than one part), if any."""
    tail_size: int = 0
    lock: str | None = None
    lock_until: float = 0.0
    done: bool = False
    """Completed and accepted: ``video_id`` is the stored video."""

    @property
    def offset(self) -> int:
        """Bytes received and kept so far."""
        if self.done:
            return self.length
        return sum(p.size for p in self.parts) + self.tail_size

    def locked(self, now: float) -> bool:
        return self.lock is not None and self.lock_until > now

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


class StateConflict(Exception):
    """The entry changed since it was read (another request or replica wrote it)."""


@dataclass
class Entry:
    upload: TusUpload
    revision: int


class TusStore:
    """The ``uploads`` bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, owner: str, upload_id: str) -> Entry | None:
        try:
            entry = await self.kv.get(names.tus_state_key(owner, upload_id))
        except (KeyNotFoundError, NotFoundError):
            return None
        if entry.value is None or entry.revision is None:
            return None
        try:
            return Entry(TusUpload.model_validate_json(entry.value), entry.revision)
        except ValidationError:
            log.error("tus_state_unreadable", upload_id=upload_id)
            return None

    async def create(self, upload: TusUpload) -> Entry:
        revision = await self.kv.create(names.tus_state_key(upload.owner, upload.id), _dump(upload))
        return Entry(upload, revision)

    async def save(self, entry: Entry) -> None:
        """Write ``entry.upload`` over the revision it was read at (its revision advances)."""
        try:
            entry.revision = await self.kv.update(
                names.tus_state_key(entry.upload.owner, entry.upload.id),
                _dump(entry.upload),
                last=entry.revision,
            )
        except KeyWrongLastSequenceError as exc:
            raise StateConflict(entry.upload.id) from exc

    async def remove(self, entry: Entry) -> None:
        """Delete the entry if it is still at its revision (:class:`StateConflict` otherwise)."""
        try:
            await self.kv.delete(
                names.tus_state_key(entry.upload.owner, entry.upload.id), last=entry.revision
            )
        except KeyWrongLastSequenceError as exc:
            raise StateConflict(entry.upload.id) from exc

    async def all(self) -> list[Entry]:
        found: list[Entry] = []
        for kv_entry in await live_entries(self.kv):
            if kv_entry.value is None or kv_entry.revision is None:
                continue
            try:
                found.append(Entry(TusUpload.model_validate_json(kv_entry.value), kv_entry.revision))
            except ValidationError:
                log.error("tus_state_unreadable", key=kv_entry.key)
        return found


def _dump(upload: TusUpload) -> bytes:
    return upload.model_dump_json().encode()
