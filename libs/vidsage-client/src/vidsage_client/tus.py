"""Resumable uploads: a small tus 1.0.0 client of the gateway's ``/api/uploads/``.

:func:`upload_resumable` creates an upload (``POST``, ``Upload-Length``, ``Upload-Metadata``
``filename``), then sends the file from the server's offset in one ``PATCH``. When the connection
drops, the gateway keeps what arrived: the client asks for the offset (``HEAD``) and continues from
there, retrying with exponential backoff (a bounded number of times). The upload's URL is kept in
a state file (:func:`state_path`: ``$XDG_CACHE_HOME/vidsage/uploads.json``, keyed by the gateway,
the file's absolute path, size and modification time), so a later ``vidsage upload`` of the same,
unchanged file resumes an upload that an interrupted run (Ctrl-C, a dropped network, a crash) left
behind. A finished or refused upload is forgotten.

Standard library and aiohttp only (no nats-py, minio or models).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

if TYPE_CHECKING:
    from vidsage_client.client import Client

TUS_VERSION = "1.0.0"
VIDEO_ID_HEADER = "Vidsage-Video-Id"
RETRIES = 6
"""Attempts after a dropped connection or a transient refusal, before giving up (the state stays)."""
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
_TRANSIENT = {408, 423, 429, 500, 502, 503, 504}


def state_path() -> Path:
    """Where unfinished uploads are remembered: ``$XDG_CACHE_HOME/vidsage/uploads.json``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidsage" / "uploads.json"


def file_key(base_url: str, path: Path) -> tuple[str, int]:
    """The state file's key for ``path`` (the gateway, the absolute path, size, modification time)
    and the file's size."""
    st = path.stat()
    return f"{base_url} {path.resolve()} {st.st_size} {st.st_mtime_ns}", st.st_size


class UploadState:
    """The state file: upload URL by :func:`file_key` (written atomically, mode 600)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_path()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(data, dict)
            else {}
        )

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".uploads-")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def put(self, key: str, url: str) -> None:
        self._write({**self._read(), key: url})

    def forget(self, key: str) -> None:
        data = self._read()
        if data.pop(key, None) is not None:
            self._write(data)


class _Dropped(Exception):
    """The connection dropped, or the gateway answered with a transient refusal."""


class _Slice(io.RawIOBase):
    """The file from ``offset`` to its end, counting what aiohttp reads (in a worker thread)."""

    def __init__(self, path: Path, offset: int, on_read: Callable[[int], None]) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._file.seek(offset)
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._file.readinto(buffer)
        if n:
            self._on_read(n)
        return n or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def _metadata(path: Path) -> str:
    return f"filename {base64.b64encode(path.name.encode()).decode()}"


async def upload_resumable(
    client: Client,
    path: Path,
    on_progress: Callable[[int], None] | None = None,
    *,
    state: UploadState | None = None,
    on_resume: Callable[[int], None] | None = None,
) -> str:
    """Upload ``path`` with tus, resuming an earlier attempt of the same file; the new video's id.

    ``on_progress(bytes_stored_or_sent)`` is called from a worker thread; ``on_resume(offset)``
    once, when an upload an earlier run left is continued from ``offset``. A refusal (the seed
    upload's checks, quotas...) raises the gateway's error, as :meth:`Client.upload` does.
    """
    from vidsage_client.client import CannotConnect, GatewayError, NotFound, error_from_body

    state = state or UploadState()
    key, size = file_key(client.base_url, path)
    headers = {"Tus-Resumable": TUS_VERSION}
    session = client.session

    async def call(method: str, url: str, expect: set[int], **kwargs: Any) -> aiohttp.ClientResponse:
        try:
            async with session.request(
                method, url, headers={**headers, **kwargs.pop("headers", {})}, **kwargs
            ) as resp:
                body = await resp.read()
                if resp.status in expect:
                    return resp
                if resp.status in _TRANSIENT or resp.status == 409:
                    raise _Dropped(f"HTTP {resp.status}")
                raise error_from_body(resp.status, resp.reason, body)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise _Dropped(str(exc) or type(exc).__name__) from exc

    url = state.get(key)
    if url is not None:
        try:
            found = await call("HEAD", url, {200})
            if on_resume is not None and int(found.headers.get("Upload-Offset", 0)) > 0:
                on_resume(int(found.headers["Upload-Offset"]))
        except NotFound:
            url = None
        except GatewayError as exc:
            if exc.http_status not in (404, 410):
                raise
            url = None
        except _Dropped as exc:
            raise CannotConnect(
                "cannot_connect", f"cannot reach the gateway at {client.base_url}: {exc}"
            ) from None
    if url is None:
        try:
            created = await call(
                "POST",
                f"{client.base_url}/api/uploads/",
                {201},
                headers={"Upload-Length": str(size), "Upload-Metadata": _metadata(path)},
            )
        except _Dropped as exc:
            raise CannotConnect(
                "cannot_connect", f"cannot reach the gateway at {client.base_url}: {exc}"
            ) from None
        url = str(created.url.join(URL(created.headers["Location"])))
        state.put(key, url)

    for attempt in range(RETRIES + 1):
        try:
            head = await call("HEAD", url, {200})
            offset = int(head.headers["Upload-Offset"])
            if VIDEO_ID_HEADER in head.headers:  # done, though the last answer was lost
                state.forget(key)
                return head.headers[VIDEO_ID_HEADER]
            sent = offset

            def count(n: int) -> None:
                nonlocal sent
                sent += n
                if on_progress is not None:
                    on_progress(sent)

            if on_progress is not None:
                on_progress(offset)
            with _Slice(path, offset, count) as raw, io.BufferedReader(raw) as body:
                patched = await call(
                    "PATCH",
                    url,
                    {204},
                    data=body,
                    headers={
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                        "Content-Length": str(size - offset),
                    },
                )
            if int(patched.headers.get("Upload-Offset", -1)) == size and VIDEO_ID_HEADER in patched.headers:
                state.forget(key)
                return patched.headers[VIDEO_ID_HEADER]
        except _Dropped:
            if attempt == RETRIES:
                raise CannotConnect(
                    "cannot_connect",
                    f"the upload of {path.name} kept failing; run the same command again to resume it",
                ) from None
            await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        except GatewayError:
            with contextlib.suppress(OSError):
                state.forget(key)  # refused for good (the gateway dropped it): start afresh next time
            raise
    raise CannotConnect("cannot_connect", f"the upload of {path.name} did not finish")
