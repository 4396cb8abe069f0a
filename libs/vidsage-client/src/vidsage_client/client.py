"""An async client of the vidsage gateway's public API (REST and the chat WebSocket), on aiohttp.

Every request carries the API key given to :class:`Client` (``Authorization: Bearer vsk_…``, the
WebSocket handshake too). Every failure is a :class:`GatewayError` carrying the server's error
``code`` and ``message`` (``{"error": {"code", "message", ...}}``), the HTTP status and any extra
fields (``status`` of a ``not_ready`` video, ``retry_after_s``...). Subclasses tell the cases a
caller acts on apart: :class:`NotFound` (404), :class:`Unauthorized` (401: no key, or the key does
not work), :class:`Forbidden` (403 from an authorization check: ``admin_only``, ``owner_forbidden``...;
not ``quota_exceeded``) and :class:`CannotConnect` (no answer from the gateway at all).

Records and listings are returned as the JSON objects the server sent (so nothing the server adds
is lost); search hits and chat frames are parsed with the shared models of
:mod:`vidsage.contracts.search` and :mod:`vidsage.contracts.chat`.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias, TypedDict
from urllib.parse import quote

import aiohttp
from pydantic import TypeAdapter, ValidationError

from vidsage.contracts.chat import DoneFrame, ErrorFrame, TokenFrame
from vidsage.contracts.keys import KeyCreate, KeyCreated, KeyInfo, KeyList, LinkCreate, Role, SignedLinks
from vidsage.contracts.search import SearchHit
from vidsage.contracts.usage import Usage
from vidsage_client import DEFAULT_URL, TranscriptFormat
from vidsage_client.sse import read_sse
from vidsage_client.tus import UploadState, upload_resumable

__all__ = [
    "CannotConnect",
    "ChatSession",
    "Client",
    "Forbidden",
    "GatewayError",
    "NotFound",
    "Record",
    "SearchAnswer",
    "ServerFrame",
    "Unauthorized",
    "VideoPage",
]

Record: TypeAlias = dict[str, Any]
"""A video record as the gateway sent it: the JSON of :class:`vidsage.contracts.record.VideoRecord`
(``id``, ``filename``, ``status``, ``stages``...), with any field a newer server adds kept."""


class VideoPage(TypedDict):
    """``GET /api/videos``: one page of records, newest first."""

    items: list[Record]
    next_cursor: str | None
    """The last id of this page when there are more (pass it as ``cursor``), else None."""


class SearchAnswer(TypedDict):
    """``GET /api/search`` as the gateway sent it (its hits, parsed, come beside it)."""

    query: str
    video_id: str | None
    hits: list[dict[str, Any]]
    """The JSON of :class:`vidsage.contracts.search.SearchHit`, best first."""


ServerFrame = TokenFrame | DoneFrame | ErrorFrame
_FRAME: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)
_FRAME_TYPES = ("token", "done", "error")
_CONNECT_TIMEOUT_S = 10.0
_READ_TIMEOUT_S = 300.0  # the gateway probes a 100 MB upload before it answers


class GatewayError(Exception):
    """The gateway refused a request, or could not be reached (:class:`CannotConnect`)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        http_status: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.extra = dict(extra or {})

    def to_json(self) -> dict[str, Any]:
        """``{"error": {...}}`` in the server's shape, plus ``http_status`` when there was an answer."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, **self.extra}
        if self.http_status is not None:
            body["http_status"] = self.http_status
        return {"error": body}


class NotFound(GatewayError):
    """404: the video (or route) does not exist."""


class CannotConnect(GatewayError):
    """No HTTP answer: connection refused, unknown host, reset, or no answer in time."""


class Unauthorized(GatewayError):
    """401: no key, or one that does not work (``malformed_key``, ``unknown_key``, ``revoked_key``...)."""


class Forbidden(GatewayError):
    """403 from an authorization check (``admin_only``, ``owner_forbidden``, ``origin_not_allowed``,
    ``link_*``); a ``quota_exceeded`` refusal is a plain :class:`GatewayError`."""


_NOT_FORBIDDEN = {"quota_exceeded"}


def error_from_body(http_status: int, reason: str | None, body: bytes) -> GatewayError:
    """The gateway's refusal (``{"error": {"code", "message", ...}}``, else the status line) as the
    :class:`GatewayError` subclass of its status: the plain calls' and the tus upload's."""
    code, message, extra = f"http_{http_status}", f"HTTP {http_status} {reason or ''}".strip(), {}
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
        extra = {k: v for k, v in error.items() if k not in ("code", "message")}
    except (ValueError, KeyError, TypeError):
        pass
    cls: type[GatewayError] = GatewayError
    if http_status == 404:
        cls = NotFound
    elif http_status == 401:
        cls = Unauthorized
    elif http_status == 403 and code not in _NOT_FORBIDDEN:
        cls = Forbidden
    return cls(code, message, http_status=http_status, extra=extra)


class _CountingFile(io.FileIO):
    """A file that reports how many bytes were read from it (aiohttp reads it in a worker thread)."""

    def __init__(self, path: Path, on_read: Callable[[int], None]) -> None:
        super().__init__(path, "rb")
        self._on_read = on_read

    def readinto(self, buffer: Any) -> int | None:
        n = super().readinto(buffer)
        if n:
            self._on_read(n)
        return n


class Client:
    """The gateway at ``base_url`` (``http://host:port``), with the API key ``api_key``. Use as
    ``async with Client(url, api_key=key) as client:``."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        read_timeout_s: float = _READ_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=_CONNECT_TIMEOUT_S, sock_read=read_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else None
        self._session = aiohttp.ClientSession(timeout=self._timeout, raise_for_status=False, headers=headers)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the Client as `async with Client(url) as client:`")
        return self._session

    def _cannot_connect(self, exc: BaseException) -> CannotConnect:
        if isinstance(exc, TimeoutError):
            detail = "no answer in time"
        elif isinstance(exc, aiohttp.ClientConnectorError):
            # strerror: "Connection refused", or a resolver's "Name or service not known"
            err = exc.os_error
            known = os.strerror(err.errno) if isinstance(err.errno, int) and err.errno > 0 else None
            detail = (known or err.strerror or str(err) or str(exc)).lower()
            detail += " (is it running? `vidsage dev` starts one; --url or VIDSAGE_URL point elsewhere)"
        else:
            detail = str(exc) or type(exc).__name__
        return CannotConnect(
            "cannot_connect",
            f"cannot reach the gateway at {self.base_url}: {detail}",
            extra={"url": self.base_url},
        )

    async def _request(
        self, method: str, path: str, *, expect: int = 200, **kwargs: Any
    ) -> tuple[bytes, str]:
        """Send one request; return the body and its content type, or raise the server's error."""
        try:
            async with self.session.request(method, f"{self.base_url}{path}", **kwargs) as resp:
                body = await resp.read()
                if resp.status != expect:
                    raise error_from_body(resp.status, resp.reason, body)
                return body, resp.content_type
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise self._cannot_connect(exc) from exc

    async def _json(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        body, _ = await self._request(method, path, expect=expect, **kwargs)
        try:
            return json.loads(body)
        except ValueError:
            raise GatewayError(
                "bad_answer", f"the gateway answered {method} {path} with something that is not JSON"
            ) from None

    # ---- REST -----------------------------------------------------------------------------------

    async def upload(self, path: Path, on_progress: Callable[[int], None] | None = None) -> Record:
        """``POST /api/videos/upload``: stream ``path``; ``on_progress(bytes_sent_so_far)`` from a thread.

        Returns the new record (201).
        """
        sent = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n
            if on_progress is not None:
                on_progress(sent)

        with _CountingFile(path, count) as raw, io.BufferedReader(raw) as reader:
            # the name as browsers send it: raw UTF-8, only `"`, CR and LF escaped (the gateway decodes those)
            name = path.name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("file", reader, filename=name, content_type="application/octet-stream")
            record: Record = await self._json("POST", "/api/videos/upload", expect=201, data=form)
        return record

    async def upload_resumable(
        self,
        path: Path,
        on_progress: Callable[[int], None] | None = None,
        *,
        state: UploadState | None = None,
        on_resume: Callable[[int], None] | None = None,
    ) -> Record:
        """Upload ``path`` with tus (``/api/uploads/``), resuming an interrupted upload of the same
        file (:mod:`vidsage_client.tus`); ``on_progress(bytes_so_far)`` from a thread,
        ``on_resume(offset)`` when an earlier run's upload is continued. The new record."""
        video_id = await upload_resumable(self, path, on_progress, state=state, on_resume=on_resume)
        return await self.status(video_id)

    async def list_videos(self, *, limit: int | None = None, cursor: str | None = None) -> VideoPage:
        """``GET /api/videos``: ``{"items": [record...], "next_cursor": id | None}``, newest first."""
        params: dict[str, str] = {}
        if limit is not None:
            params["limit"] = str(limit)
        if cursor:
            params["cursor"] = cursor
        page: VideoPage = await self._json("GET", "/api/videos", params=params)
        return page

    async def iter_videos(self, *, page_size: int = 200) -> AsyncIterator[Record]:
        """Every record, newest first, following the cursor."""
        cursor: str | None = None
        while True:
            page = await self.list_videos(limit=page_size, cursor=cursor)
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def status(self, video_id: str) -> Record:
        """``GET /api/videos/<id>/status``: the record with per-stage progress."""
        record: Record = await self._json("GET", f"/api/videos/{_segment(video_id)}/status")
        return record

    async def transcript(self, video_id: str, fmt: TranscriptFormat = "json") -> str:
        """``GET /api/videos/<id>/transcript?format=``; 409 ``not_ready`` before it exists."""
        body, _ = await self._request(
            "GET", f"/api/videos/{_segment(video_id)}/transcript", params={"format": fmt}
        )
        return body.decode("utf-8")

    async def delete(self, video_id: str) -> None:
        """``DELETE /api/videos/<id>`` (204)."""
        await self._request("DELETE", f"/api/videos/{_segment(video_id)}", expect=204)

    async def search(
        self, query: str, *, video_id: str | None = None, limit: int | None = None
    ) -> tuple[SearchAnswer, list[SearchHit]]:
        """``GET /api/search``: the server's answer and its hits, parsed."""
        params = {"q": query}
        if video_id:
            params["video_id"] = video_id
        if limit is not None:
            params["limit"] = str(limit)
        answer: SearchAnswer = await self._json("GET", "/api/search", params=params)
        try:
            hits = [SearchHit.model_validate(h) for h in answer.get("hits") or []]
        except ValidationError as exc:
            raise GatewayError(
                "bad_answer", f"the gateway sent search hits of an unknown shape: {exc}"
            ) from None
        return answer, hits

    async def wait(
        self,
        video_id: str,
        *,
        on_update: Callable[[Record], None] | None = None,
        interval_s: float = 0.25,
        timeout_s: float | None = None,
        live: bool = True,
    ) -> Record:
        """Follow the video until ``ready`` or ``failed``; return the last record.

        With ``live`` it listens to the video's live status stream (``GET /api/videos/<id>/events``,
        Server-Sent Events: no request while nothing happens; the record is read again on each
        status change, progress is applied to it as it comes), reconnecting with ``Last-Event-ID``
        when the connection drops; when the gateway has no such stream or refuses one (an older
        gateway, too many open streams, a proxy in the way), it polls the status every ``interval_s``.

        Raises ``TimeoutError`` when ``timeout_s`` passes first.
        """
        async with asyncio.timeout(timeout_s):
            if live:
                record = await self._wait_live(video_id, on_update)
                if record is not None:
                    return record
            while True:
                record = await self.status(video_id)
                if on_update is not None:
                    on_update(record)
                if record.get("status") in ("ready", "failed"):
                    return record
                await asyncio.sleep(interval_s)

    async def _wait_live(self, video_id: str, on_update: Callable[[Record], None] | None) -> Record | None:
        """:meth:`wait` over the live status stream; None when there is none to be had (poll)."""
        url = f"{self.base_url}/api/videos/{_segment(video_id)}/events"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT_S, sock_read=_SSE_SILENCE_S)
        last_id: str | None = None
        record: Record | None = None
        for attempt in range(_SSE_ATTEMPTS):
            if attempt:
                await asyncio.sleep(min(0.5 * attempt, 2))
            headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
            try:
                async with self.session.get(url, headers=headers, timeout=timeout) as resp:
                    if resp.status != 200 or resp.content_type != "text/event-stream":
                        return None
                    async for message in read_sse(resp):
                        last_id = message.id or last_id
                        if message.event in ("status", "reset", "deleted"):
                            record = await self.status(video_id)  # NotFound once deleted
                        elif message.event == "progress" and record is not None:
                            record = _with_progress(record, message.data)
                        else:
                            continue
                        if on_update is not None:
                            on_update(record)
                        if record.get("status") in ("ready", "failed"):
                            return record
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError):
                continue  # dropped (or silent for too long): resume from the last frame
        return None

    async def create_links(self, video_id: str, *, expires_in_s: int = 3600) -> SignedLinks:
        """``POST /api/videos/<id>/links``: signed, expiring URLs (paths) of the video's media."""
        body = LinkCreate(expires_in_s=expires_in_s).model_dump()
        data = await self._json("POST", f"/api/videos/{_segment(video_id)}/links", expect=201, json=body)
        return SignedLinks.model_validate(data)

    async def usage(self) -> Usage:
        """``GET /api/usage``: this key's tenant's usage and limits."""
        return Usage.model_validate(await self._json("GET", "/api/usage"))

    # ---- keys (admin) ---------------------------------------------------------------------------

    async def create_key(
        self,
        owner: str,
        *,
        role: Role = "member",
        expires_in_days: float | None = None,
        label: str | None = None,
    ) -> KeyCreated:
        """``POST /api/keys``: a new key; its ``key`` is shown in this answer only."""
        body = KeyCreate(owner=owner, role=role, expires_in_days=expires_in_days, label=label)
        data = await self._json("POST", "/api/keys", expect=201, json=body.model_dump(exclude_none=True))
        return KeyCreated.model_validate(data)

    async def list_keys(self, *, owner: str | None = None) -> list[KeyInfo]:
        """``GET /api/keys``: every key (or one owner's), never a key itself."""
        params = {"owner": owner} if owner else None
        return KeyList.model_validate(await self._json("GET", "/api/keys", params=params)).items

    async def revoke_key(self, key_id: str) -> None:
        """``DELETE /api/keys/<id>`` (204)."""
        await self._request("DELETE", f"/api/keys/{_segment(key_id)}", expect=204)

    # ---- chat -----------------------------------------------------------------------------------

    def chat(self, video_id: str | None) -> ChatSession:
        """The chat WebSocket of one video, or of the whole library (``None``)."""
        return ChatSession(self, video_id)


class ChatSession:
    """One ``/ws/chat/<id>`` (or library-wide ``/ws/chat``) connection; :meth:`ask` streams one answer.

    The gateway closes a connection that stays idle (``chat.idle_timeout_s``); a question sent after
    that reconnects once and is sent again, in the same conversation.
    """

    def __init__(self, gateway: Client, video_id: str | None, *, frame_timeout_s: float = 120.0) -> None:
        self._gateway = gateway
        self.video_id = video_id
        self.conversation_id: str | None = None
        self._frame_timeout_s = frame_timeout_s
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def url(self) -> str:
        if self.video_id is None:
            return f"{self._gateway.base_url}/ws/chat"
        return f"{self._gateway.base_url}/ws/chat/{_segment(self.video_id)}"

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is not None and not self._ws.closed:
            return self._ws
        try:
            self._ws = await self._gateway.session.ws_connect(self.url, heartbeat=30.0)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 404:
                raise NotFound(
                    "not_found",
                    f"the gateway has no chat at {self.url} (unknown video, or no chat endpoint)",
                    http_status=404,
                ) from exc
            if exc.status == 401:
                raise Unauthorized(
                    "unauthorized",
                    "the gateway refused the chat connection: the key is missing or does not work",
                    http_status=401,
                ) from exc
            raise GatewayError(
                f"http_{exc.status}",
                f"the gateway refused the chat connection: HTTP {exc.status} {exc.message}",
                http_status=exc.status,
            ) from exc
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise self._gateway._cannot_connect(exc) from exc
        return self._ws

    async def __aenter__(self) -> ChatSession:
        await self._connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def ask(self, content: str) -> AsyncGenerator[ServerFrame, None]:
        """Send a question; yield its ``token`` frames, then the ``done`` or ``error`` frame, then stop.

        The conversation id from ``done`` is sent with the next question, so follow-ups have context.
        """
        if self._ws is None:
            raise RuntimeError("use the session as `async with client.chat(id) as chat:`")
        message: dict[str, Any] = {"type": "message", "content": content}
        if self.conversation_id:
            message["conversation_id"] = self.conversation_id
        for attempt in (1, 2):
            answered = False
            try:
                ws = await self._connect()
                await ws.send_json(message)
                async for frame in self._frames(ws):
                    answered = True
                    if isinstance(frame, DoneFrame):  # before the yield: the caller may stop reading here
                        self.conversation_id = frame.conversation_id
                    yield frame
                    if isinstance(frame, DoneFrame | ErrorFrame):
                        return
            except TimeoutError as exc:
                raise GatewayError(
                    "timeout", f"no chat frame from the gateway for {self._frame_timeout_s:.0f} s"
                ) from exc
            except aiohttp.ClientConnectionError as exc:
                if attempt == 1 and isinstance(exc, aiohttp.ClientConnectionResetError):
                    continue  # the idle connection was closed under us: reconnect once
                raise self._gateway._cannot_connect(exc) from exc
            # closed before the answer ended; before its first frame (an idle connection), try again once
            if answered or attempt == 2:
                raise GatewayError("connection_closed", "the gateway closed the chat connection")

    async def _frames(self, ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[ServerFrame]:
        """The frames of one answer; ends when the connection closes before the answer does."""
        while True:
            msg = await ws.receive(timeout=self._frame_timeout_s)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return
            if msg.type is aiohttp.WSMsgType.ERROR:
                raise self._gateway._cannot_connect(ws.exception() or ConnectionError("WebSocket error"))
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
                if not isinstance(data, dict) or data.get("type") not in _FRAME_TYPES:
                    continue  # a frame type this client does not know (a newer server): skip it
                frame = _FRAME.validate_python(data)
            except (ValueError, ValidationError):
                raise GatewayError(
                    "bad_answer", f"the gateway sent a chat frame this client cannot read: {msg.data[:200]}"
                ) from None
            yield frame


def _segment(value: str) -> str:
    """One URL path segment (an id typed by a user may hold anything)."""
    return quote(value, safe="")


_SSE_SILENCE_S = 60.0
"""A live status stream silent this long (the gateway sends a heartbeat every 15 s) is taken as dropped."""
_SSE_ATTEMPTS = 5
"""Connections :meth:`Client.wait` makes to the live stream (resuming each time) before it polls."""


def _with_progress(record: Record, data: str) -> Record:
    """``record`` with a ``progress`` frame's percent on its stage (the frame as the gateway sent it)."""
    try:
        frame = json.loads(data)
        stage, percent = frame["stage"], float(frame["progress"])
    except (ValueError, KeyError, TypeError):
        return record
    stages = dict(record.get("stages") or {})
    if not isinstance(stages.get(stage), dict):
        return record
    stages[stage] = {**stages[stage], "progress": percent}
    return {**record, "stages": stages}
