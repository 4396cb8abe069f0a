"""S3 storage over the ``minio`` SDK, made async by running its blocking calls in a thread pool.

That pool is an I/O pool of its own (``S3Settings.io_threads``), not the process's compute pool
(:mod:`vidsage.compute`): threads waiting on S3 are not computation, so many of them are cheap,
and a slow store never holds up media, inference or embeddings (nor those the transfers).

- :meth:`Storage.put_stream` uploads an async stream of chunks as it arrives (multipart, two parts
  in flight so receiving overlaps sending), optionally teeing the bytes into a local file;
- :meth:`Storage.iter_range` streams a byte range back in chunks, never the whole object;
- :meth:`Storage.delete_prefix` removes everything under a prefix.

Connection errors and 5xx answers become :class:`StorageUnavailable`; a missing key is ``None``
or :class:`ObjectNotFound`, never a generic error.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, MinioException, S3Error

from vidsage.settings import S3Settings
from vidsage.transient import DependencyUnavailable

_NOT_FOUND = {"NoSuchKey", "NoSuchObject", "NotFound", "NoSuchBucket", "NoSuchUpload"}

_P = ParamSpec("_P")
_T = TypeVar("_T")


class StorageError(Exception):
    """Base of storage errors."""


class StorageUnavailable(StorageError, DependencyUnavailable):
    """The S3 endpoint cannot be reached or answers with a server error (transient: see
    :mod:`vidsage.transient`)."""

    dependency = "object storage"


class ObjectNotFound(StorageError):
    """The key does not exist."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str | None
    last_modified: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "content_type": self.content_type,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectInfo:
        modified = data.get("last_modified")
        return cls(
            key=data["key"],
            size=int(data["size"]),
            etag=data["etag"],
            content_type=data.get("content_type"),
            last_modified=datetime.fromisoformat(modified) if modified else None,
        )


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, S3Error):
        if exc.code in _NOT_FOUND:
            return ObjectNotFound(exc.message or exc.code)
        return StorageError(f"S3 error {exc.code}: {exc.message}")
    if isinstance(exc, InvalidResponseError):
        # Some servers (rclone among them) send error bodies the SDK cannot parse: go by status,
        # which only __reduce__ exposes (and minio leaves __reduce__ unannotated).
        status = exc.__reduce__()[1][0]  # type: ignore[no-untyped-call]
        if status == 404:
            return ObjectNotFound(f"not found (HTTP {status})")
        if isinstance(status, int) and status < 500:
            return StorageError(f"S3 request refused (HTTP {status})")
    if isinstance(exc, MinioException | urllib3.exceptions.HTTPError | OSError):
        return StorageUnavailable(f"S3 endpoint unavailable: {exc}")
    return exc


class _AsyncChunkReader(io.RawIOBase):
    """A blocking file-like object (for the SDK's worker thread) fed by an async chunk iterator.

    Each ``read(n)`` hops to the event loop once and gathers up to ``n`` bytes there, so the
    cross-thread cost is per part, not per network chunk. Bytes read are also written to ``tee``.
    An exception raised by the iterator (e.g. a size limit) surfaces in the SDK, which aborts the
    multipart upload, and then in the caller.
    """

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, tee: IO[bytes] | None):
        super().__init__()
        self._chunks = chunks
        self._loop = loop
        self._tee = tee
        self._pending = b""
        self._eof = False
        self.size = 0
        self.error: BaseException | None = None
        """The exception the chunk iterator or the tee raised, if any (re-raised as is by the caller)."""

    def readable(self) -> bool:
        return True

    async def _gather(self, n: int) -> bytes:
        parts = [self._pending] if self._pending else []
        have = len(self._pending)
        self._pending = b""
        while have < n and not self._eof:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._eof = True
                break
            except BaseException as exc:
                self.error = exc
                raise
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        if len(data) > n:
            data, self._pending = data[:n], data[n:]
        return data

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        if self._eof and not self._pending:
            return b""
        data = asyncio.run_coroutine_threadsafe(self._gather(n), self._loop).result()
        if self._tee is not None and data:
            try:
                self._tee.write(data)
            except BaseException as exc:  # the copy's disk is full: the caller's problem, not S3's
                self.error = exc
                raise
        self.size += len(data)
        return data


class Storage:
    """One bucket on an S3 endpoint."""

    def __init__(self, settings: S3Settings, executor: ThreadPoolExecutor | None = None) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        url = urlsplit(settings.endpoint)
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=settings.timeout_s, read=settings.timeout_s),
            retries=urllib3.Retry(
                total=settings.retries,
                connect=settings.retries,
                read=0,
                backoff_factor=0.2,
                status_forcelist=[500, 502, 503, 504],
                allowed_methods=None,
            ),
            maxsize=settings.io_threads,
        )
        self.client = Minio(
            url.netloc,
            access_key=settings.access_key.get_secret_value(),
            secret_key=settings.secret_key.get_secret_value(),
            secure=url.scheme == "https",
            region=settings.region,
            http_client=http,
        )
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(settings.io_threads, thread_name_prefix="s3")

    async def _call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _translate(exc) from exc

    def close(self) -> None:
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- bucket ---------------------------------------------------------------------------------
    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (idempotent)."""
        if not await self._call(self.client.bucket_exists, self.bucket):
            try:
                await self._call(self.client.make_bucket, self.bucket)
            except StorageError as exc:  # created concurrently by another service
                if not await self._call(self.client.bucket_exists, self.bucket):
                    raise StorageUnavailable(f"cannot create bucket {self.bucket!r}: {exc}") from exc

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the bucket answers."""
        if not await self._call(self.client.bucket_exists, self.bucket):
            raise StorageUnavailable(f"bucket {self.bucket!r} does not exist")

    # -- writes ---------------------------------------------------------------------------------
    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str,
        tee: IO[bytes] | None = None,
    ) -> ObjectInfo:
        """Upload chunks as they arrive; on any error no object is left (the SDK aborts the upload)."""
        reader = _AsyncChunkReader(chunks, asyncio.get_running_loop(), tee)
        try:
            result = await self._call(
                self.client.put_object,
                self.bucket,
                key,
                # minio types its data as BinaryIO; it needs only read() (its docstring says so)
                cast(BinaryIO, reader),
                length=-1,
                part_size=self.settings.part_size,
                content_type=content_type,
                num_parallel_uploads=2,
            )
        except BaseException:
            if reader.error is not None:  # the source failed, not the store: say so
                raise reader.error from None
            raise
        return ObjectInfo(key, reader.size, (result.etag or "").strip('"'), content_type, None)

    async def put_file(self, key: str, path: Path, *, content_type: str) -> ObjectInfo:
        def run() -> tuple[Any, int]:
            result = self.client.fput_object(self.bucket, key, str(path), content_type=content_type)
            return result, path.stat().st_size

        result, size = await self._call(run)
        return ObjectInfo(key, size, (result.etag or "").strip('"'), content_type, None)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> ObjectInfo:
        result = await self._call(
            self.client.put_object, self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )
        return ObjectInfo(key, len(data), (result.etag or "").strip('"'), content_type, None)

    # -- reads ----------------------------------------------------------------------------------
    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = await self._call(self.client.stat_object, self.bucket, key)
        except ObjectNotFound:
            return None
        return ObjectInfo(
            key, int(st.size or 0), (st.etag or "").strip('"'), st.content_type, st.last_modified
        )

    async def iter_range(
        self, key: str, offset: int = 0, length: int | None = None, *, chunk_size: int = 1 << 20
    ) -> AsyncGenerator[bytes, None]:
        """Stream ``length`` bytes from ``offset`` (to the end when ``length`` is None)."""
        if length == 0:
            return
        resp = await self._call(self.client.get_object, self.bucket, key, offset=offset, length=length or 0)
        try:
            while True:
                data = await self._call(resp.read, chunk_size)
                if not data:
                    break
                yield data
        finally:
            resp.close()
            resp.release_conn()

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (recursively), with size and modification time."""

        def run() -> list[ObjectInfo]:
            return [
                ObjectInfo(
                    o.object_name or "", int(o.size or 0), (o.etag or "").strip('"'), None, o.last_modified
                )
                for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if o.object_name and not o.is_dir
            ]

        return await self._call(run)

    async def get_bytes(self, key: str, offset: int = 0, length: int | None = None) -> bytes:
        return b"".join([chunk async for chunk in self.iter_range(key, offset, length)])

    async def download_file(self, key: str, path: Path) -> None:
        await self._call(self.client.fget_object, self.bucket, key, str(path))

    # -- deletes --------------------------------------------------------------------------------
    async def delete(self, key: str) -> None:
        await self._call(self.client.remove_object, self.bucket, key)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix``; returns how many there were."""

        def run() -> int:
            keys = [
                o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            ]
            if not keys:
                return 0
            errors = list(self.client.remove_objects(self.bucket, [DeleteObject(k) for k in keys]))
            if errors:
                raise StorageError(f"could not delete {len(errors)} object(s): {errors[0].message}")
            return len(keys)

        return await self._call(run)

    # -- multipart uploads a caller drives part by part (the gateway's tus uploads) -------------
    async def start_multipart(self, key: str, *, content_type: str) -> str:
        """Begin a multipart upload of ``key``; its upload id. Nothing is visible until it completes."""
        return await self._call(
            self.client._create_multipart_upload, self.bucket, key, {"Content-Type": content_type}
        )

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        """Store part ``part_number`` (1-based; every part but the last ≥ 5 MiB); its ETag."""
        etag = await self._call(
            self.client._upload_part, self.bucket, key, data, None, upload_id, part_number
        )
        return etag.strip('"')

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Join the ``(part number, etag)`` parts, in order, into the object ``key``."""
        await self._call(
            self.client._complete_multipart_upload,
            self.bucket,
            key,
            upload_id,
            [Part(number, etag) for number, etag in parts],
        )

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop a multipart upload and its parts; one already gone (aborted, completed) is fine."""
        with contextlib.suppress(ObjectNotFound):
            await self._call(self.client._abort_multipart_upload, self.bucket, key, upload_id)
