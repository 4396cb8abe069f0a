"""``/ws/chat/<video_id>`` and ``/ws/chat``: the chat WebSocket relay (protocol in
:mod:`vidsage.contracts.chat`; the answering is the chat service's :mod:`vidsage_chat.answering`).

The gateway holds the connection and relays; the chat service thinks. For each question the
gateway publishes a :class:`~vidsage.contracts.chat.ChatRequest` with a fresh reply inbox and
forwards the numbered chunks that come back as ``token`` / ``done`` / ``error`` frames. A gap in
the chunk numbers, a silent chat service or a closed WebSocket ends the answer; in the last two
cases the gateway also publishes a cancel, so the chat service stops generating.

Tenancy: the chat is the request owner's (an admin's ``?owner=NAME`` chats in that tenant): the
video is looked up under that owner (another tenant's is 404 before the upgrade), and the chat
service reads, searches and remembers only within it. The key or session is checked again before
each message: once it is revoked, expired or signed out, the socket gets an ``unauthorized`` error
frame and is closed with 1008.

Limits: the Origin must be the gateway's own or listed in ``gateway.allowed_origins`` or
``chat.allowed_origins`` (403 before the upgrade; a browser session must send one); frames larger
than ``chat.max_frame_bytes`` close the connection with 1009; a token bucket limits messages per
connection; pings every ``chat.heartbeat_s``; a connection silent for ``chat.idle_timeout_s``
(with no answer streaming) is closed with 1000.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import nats.errors
import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import BaseModel, ValidationError

from vidsage.bus import TRACE_HEADER
from vidsage.contracts import names
from vidsage.contracts.chat import (
    ChatChunk,
    ChatRequest,
    ClientCancel,
    ClientMessage,
    DoneFrame,
    ErrorFrame,
    TokenFrame,
)
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.settings import ChatSettings
from vidsage_gateway import json_input, origins
from vidsage_gateway.auth import AUTH, Authenticator, principal_of, scope_owner
from vidsage_gateway.errors import ApiError, not_found
from vidsage_gateway.json_input import TooDeep
from vidsage_gateway.keys import RUNTIME
from vidsage_gateway.metrics import METRICS, Metrics
from vidsage_gateway.principal import Principal

log = get_logger("vidsage.gateway.chat")


def origin_allowed(
    origin: str | None, host: str | None, cfg: ChatSettings, extra: list[str] | None = None
) -> bool:
    """No Origin (not a browser), the gateway's own host, or a configured origin (``chat`` and
    ``extra``: ``gateway.allowed_origins``)."""
    if origin is None:
        return True
    return origins.origin_allowed(origin, {host} if host else set(), [*cfg.allowed_origins, *(extra or [])])


class TokenBucket:
    """``rate`` per second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class ChatSession:
    """One WebSocket connection: at most one answer streaming at a time."""

    def __init__(
        self,
        rt: Runtime,
        ws: web.WebSocketResponse,
        video_id: str | None,
        metrics: Metrics,
        *,
        owner: str,
        principal: Principal,
        auth: Authenticator,
    ) -> None:
        self.rt = rt
        self.metrics = metrics
        self.owner = owner
        self.principal = principal
        self.auth = auth
        self.cfg = rt.settings.chat
        self.ws = ws
        self.video_id = video_id
        self.bucket = TokenBucket(self.cfg.rate_per_minute / 60, self.cfg.rate_burst)
        self.conversation_id: str | None = None
        self.answer: asyncio.Task[None] | None = None
        self.stopping_answer = False  # also checked by the relay loop: a cancel can be lost (3.11)
        self.send_lock = asyncio.Lock()

    async def send(self, frame: BaseModel) -> None:
        async with self.send_lock:
            await self.ws.send_str(frame.model_dump_json(exclude_none=True))

    async def error(self, code: str, message: str, **extra: Any) -> None:
        self.metrics.chat_answers.labels(code).inc()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send(ErrorFrame(code=code, message=message, **extra))

    @property
    def answering(self) -> bool:
        return self.answer is not None and not self.answer.done()

    async def run(self) -> None:
        try:
            while not self.ws.closed:
                try:
                    msg = await self.ws.receive(timeout=self.cfg.idle_timeout_s)
                except TimeoutError:
                    if self.answering:
                        continue
                    await self.ws.close(code=WSCloseCode.OK, message=b"idle timeout")
                    break
                if msg.type is WSMsgType.TEXT:
                    await self.on_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await self.error("bad_request", "send JSON text frames, not binary ones")
                else:  # CLOSE, CLOSING, CLOSED, ERROR (1009 for a frame over the limit is sent by aiohttp)
                    if msg.type is WSMsgType.ERROR:
                        log.info("chat_socket_error", error=str(msg.data), code=self.ws.close_code)
                    break
        finally:
            await self.stop_answer()

    async def stop_answer(self) -> bool:
        """Cancel the answer in flight and wait until it has stopped; False if there was none."""
        if self.answer is None or self.answer.done():
            return False
        self.stopping_answer = True
        self.answer.cancel()
        await asyncio.wait([self.answer])
        return True

    async def on_text(self, data: str) -> None:
        try:
            await self.auth.recheck(self.principal)
        except ApiError as exc:
            if exc.code == "auth_unavailable":  # cannot tell now: refuse this message, keep the socket
                await self.error("auth_unavailable", exc.message)
                return
            await self.error("unauthorized", exc.message, reason=exc.code)
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=exc.code.encode())
            return
        wait = self.bucket.take()
        if wait:
            await self.error(
                "rate_limited",
                f"too many messages; try again in {wait:.1f} s",
                retry_after_s=round(wait, 2),
            )
            return
        try:
            payload = json_input.loads(data)
        except TooDeep as exc:
            await self.error("bad_request", f"the frame is not acceptable: {exc}")
            return
        except ValueError:
            await self.error("bad_request", "the frame is not valid JSON")
            return
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind == "cancel":
            try:
                ClientCancel.model_validate(payload)
            except ValidationError as exc:
                await self.error("bad_request", _first_problem(exc))
                return
            if await self.stop_answer():
                await self.error("cancelled", "the answer was cancelled")
            return
        if kind != "message":
            await self.error("bad_request", 'the frame type must be "message" or "cancel"')
            return
        try:
            message = ClientMessage.model_validate(payload)
        except ValidationError as exc:
            await self.error("bad_request", _first_problem(exc))
            return
        if not message.content.strip():
            await self.error("bad_request", "the message is empty")
            return
        if len(message.content) > self.cfg.max_message_chars:
            await self.error(
                "message_too_long",
                f"the message is {len(message.content)} characters long; the limit is "
                f"{self.cfg.max_message_chars}",
            )
            return
        if self.answering:
            await self.error("busy", "an answer is still streaming; wait for it or send a cancel")
            return
        if message.conversation_id is not None:
            self.conversation_id = message.conversation_id
        elif self.conversation_id is None:
            self.conversation_id = new_id()
        self.stopping_answer = False
        self.answer = asyncio.create_task(self.relay(message.content, self.conversation_id))

    async def relay(self, content: str, conversation_id: str) -> None:
        """Ask the chat service and forward its chunks until ``done`` or ``error``."""
        message_id = new_id()
        structlog.contextvars.bind_contextvars(message_id=message_id, conversation_id=conversation_id)
        try:
            await self._relay(content, conversation_id, message_id)
        except nats.errors.Error as exc:  # the bus is down or the connection is closing
            log.warning("chat_bus_error", error=str(exc) or type(exc).__name__)
            await self.error(
                "chat_unavailable", "the message bus is unavailable; try again", message_id=message_id
            )
        except Exception:
            log.exception("chat_relay_failed")
            await self.error(
                "internal", f"internal error; the message id is {message_id}", message_id=message_id
            )
        finally:
            structlog.contextvars.unbind_contextvars("message_id", "conversation_id")

    async def _relay(self, content: str, conversation_id: str, message_id: str) -> None:
        if self.video_id is not None:
            record = await self.rt.catalog.get(self.owner, self.video_id)
            if record is None:
                await self.error("not_found", "video not found", message_id=message_id)
                return
            if record.status is not Status.READY:
                await self.error(
                    "not_ready",
                    f"the video is not ready for questions yet (status: {record.status.value})",
                    message_id=message_id,
                    status=record.status.value,
                )
                return
        request = ChatRequest(
            request_id=message_id,
            message_id=message_id,
            conversation_id=conversation_id,
            video_id=self.video_id,
            owner=self.owner,
            content=content,
        )
        nc = self.rt.nc
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        finished = False
        first_token_seen = False
        try:
            await nc.publish(
                self.cfg.subject,
                request.model_dump_json().encode(),
                reply=inbox,
                headers={TRACE_HEADER: message_id},
            )
            expected = 0
            asked = time.perf_counter()
            while not self.stopping_answer:
                timeout = self.cfg.first_chunk_timeout_s if expected == 0 else self.cfg.chunk_timeout_s
                try:
                    msg = await sub.next_msg(timeout=timeout)
                except (TimeoutError, nats.errors.TimeoutError):
                    if expected == 0:
                        await self.error("chat_unavailable", "the chat service did not answer; try again")
                    else:
                        await self.error(
                            "timeout", "the chat service stopped answering (it may have restarted); try again"
                        )
                    return
                if msg.headers and msg.headers.get("Status") == "503":  # no responders
                    finished = True
                    await self.error("chat_unavailable", "the chat service is not running; try again")
                    return
                try:
                    chunk = ChatChunk.model_validate_json(msg.data)
                except ValidationError:
                    await self.error("stream_broken", "the chat service sent an unreadable chunk")
                    return
                if chunk.seq != expected:
                    await self.error(
                        "stream_broken", f"chunk {expected} of the answer was lost; the answer is incomplete"
                    )
                    return
                expected += 1
                if chunk.type == "token":
                    if not first_token_seen:
                        first_token_seen = True
                        self.metrics.chat_first_token.observe(time.perf_counter() - asked)
                    await self.send(TokenFrame(content=chunk.content or ""))
                elif chunk.type == "done":
                    finished = True
                    self.metrics.chat_answers.labels("done").inc()
                    await self.send(
                        DoneFrame(
                            message_id=message_id,
                            conversation_id=conversation_id,
                            citations=chunk.citations or [],
                            unsupported=chunk.unsupported or 0,
                            mode=chunk.mode or "extractive",
                        )
                    )
                    return
                elif chunk.type == "error":
                    finished = True
                    await self.error(
                        chunk.code or "internal",
                        chunk.message or "the chat service failed",
                        message_id=message_id,
                        status=chunk.status,
                    )
                    return
        except (ConnectionError, RuntimeError):  # the client went away while we were sending
            return
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            if not finished:
                with contextlib.suppress(Exception):
                    await nc.publish(names.chat_cancel_subject(self.cfg.subject, request.request_id), b"")


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "frame"
    return f"{where}: {err['msg']}"


async def chat_socket(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    cfg = rt.settings.chat
    gateway = rt.settings.gateway
    hosts = origins.own_hosts(request, gateway.trusted_proxies)
    origin = request.headers.get("Origin")
    if origin is not None and not origins.origin_allowed(
        origin, hosts, [*cfg.allowed_origins, *gateway.allowed_origins]
    ):
        raise ApiError(403, "origin_not_allowed", "this Origin may not open the chat WebSocket")
    owner = scope_owner(request)
    video_id = request.match_info.get("video_id")
    if video_id is not None and await rt.catalog.get(owner, video_id) is None:
        raise not_found()
    ws = web.WebSocketResponse(heartbeat=cfg.heartbeat_s, max_msg_size=cfg.max_frame_bytes)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "bad_request", "this endpoint speaks WebSocket only (send an Upgrade request)")
    await ws.prepare(request)
    log.info("chat_connected", video_id=video_id)
    metrics = request.app[METRICS]
    metrics.chat_connections.inc()
    try:
        session = ChatSession(
            rt, ws, video_id, metrics, owner=owner, principal=principal_of(request), auth=request.app[AUTH]
        )
        await session.run()
    finally:
        metrics.chat_connections.dec()
    log.info("chat_disconnected", video_id=video_id, close_code=ws.close_code)
    return ws
