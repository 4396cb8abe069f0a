"""The OpenAI-compatible transcription endpoint: ``POST /v1/audio/transcriptions``, ``GET /v1/models``
and ``GET /v1/models/<id>``, so that the OpenAI SDKs and the tools built on them transcribe with
vidsage (``base_url="http://<gateway>/v1"``, ``api_key="vsk_..."``).

**Authentication and limits**: the routes sit behind the same middlewares as ``/api/`` — a vidsage
key as ``Authorization: Bearer vsk_...`` (or the browser session with its Origin check), the
tenant's request rate, the upload slots of the gateway (503 ``overloaded``) and the metrics.

**The request** is OpenAI's multipart form: ``file`` (required), ``model`` (required: one of
``gateway.transcription_models``, by default ``whisper-1`` and ``whisper-base``; every one runs on
the transcriber pool's loaded model), ``language`` (ISO-639-1), ``prompt``, ``temperature`` (0..1;
0 is beam search, above it sampling at that temperature), ``response_format`` (``json``, ``text``,
``srt``, ``vtt``, ``verbose_json``), ``timestamp_granularities[]`` (``segment``, ``word``; with
``verbose_json`` only) and vidsage's own ``vidsage_keep`` (``true``: also add the file to the
caller's library as a video, through the upload's checks; a video container only; the answer then
carries ``X-Vidsage-Video-Id``). Other fields are ignored.

**The file** streams to S3 under a temporary key (``transcriptions/<job>/audio.<ext>``) with the
upload's limits: ``gateway.max_upload_bytes`` (413), type by content (audio or video containers:
:func:`vidsage.media.sniff_media`), an audio stream and at most ``gateway.max_duration_s`` seconds
(:func:`vidsage.media.probe_audio`); a file that is not audio is a 400 before anything is stored.

**The work** is a job on the bus (:mod:`vidsage.contracts.transcription`): the gateway publishes it
to the work-queue stream and waits on its own inbox for ``gateway.transcription_timeout_s`` (504
``transcription_timeout``); a transcriber runs it (:mod:`vidsage_transcriber.jobs`). The gateway
never loads a model. The temporary object is deleted when the request ends, however it ends
(answered, refused, timed out, the client gone); :func:`sweep` removes what a gateway that died
mid-request left.

**Errors** answer in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``
(:func:`openai_errors`), with the status OpenAI would use: 400 ``invalid_request_error`` for a
bad field or file, 401 for a missing or bad key, 413 for a file over the limit, 429, 5xx
``server_error``. They never quote internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import nats.errors
import structlog
from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from nats.aio.subscription import Subscription

from vidsage.bus import MSG_ID_HEADER
from vidsage.contracts import names
from vidsage.contracts.ids import new_id
from vidsage.contracts.transcript import RENDERERS, Segment, Transcript
from vidsage.contracts.transcription import (
    LANGUAGES,
    MAX_PROMPT_CHARS,
    TranscriptionJob,
    TranscriptionReply,
)
from vidsage.logging import get_logger
from vidsage.media import MediaError, MediaFormat, VideoFormat, probe_audio, sniff_media
from vidsage.runtime import Runtime
from vidsage_gateway.auth import AUTH, scope_owner
from vidsage_gateway.errors import ApiError
from vidsage_gateway.intake import (
    Incomplete,
    PartBody,
    Stalled,
    check_spool_room,
    clean_filename,
    commit_video,
    delete_quietly,
    expected_size,
    probe_video,
    read_chunk,
    receiving,
    spool_dir,
    timed,
    video_record,
)
from vidsage_gateway.keys import RUNTIME, UPLOADS

log = get_logger("vidsage.gateway.openai")

PREFIX = "/v1/"
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("segment", "word")
MAX_FIELD_BYTES = 16 * 1024
"""The largest form field besides ``file`` (the prompt is at most 2,000 characters)."""
KEEP_FIELD = "vidsage_keep"
VIDEO_ID_HEADER = "X-Vidsage-Video-Id"
CLIENT_CLOSED = 499
"""The status logged (nobody reads it) when the client went away before the answer."""
_TEXT = "text/plain; charset=utf-8"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


# --- errors in OpenAI's shape ------------------------------------------------------------------------


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def invalid(
    message: str, *, param: str | None = None, code: str = "invalid_value", status: int = 400
) -> ApiError:
    """A refused request of this endpoint (OpenAI's ``invalid_request_error``)."""
    return ApiError(status, code, message, extra={"param": param})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: an error answered under ``/v1/`` (by a route, the authentication, the
    rate limit, the router) is rewritten from vidsage's ``{"error": {"code", "message"}}`` into
    OpenAI's ``{"error": {"message", "type", "param", "code"}}``, headers kept."""
    response = await handler(request)
    if not request.path.startswith(PREFIX) or response.status < 400 or not isinstance(response, web.Response):
        return response
    if response.content_type != "application/json" or response.body is None:
        return response
    try:
        error = json.loads(bytes(response.body))["error"]  # type: ignore[arg-type]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return response
    body = {
        "error": {
            "message": message,
            "type": _error_type(response.status),
            "param": error.get("param"),
            "code": code,
        }
    }
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")
    }
    return web.json_response(body, status=response.status, headers=headers)


# --- models --------------------------------------------------------------------------------------------


def _model_json(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "vidsage"}


def _models(request: web.Request) -> list[str]:
    return list(request.app[RUNTIME].settings.gateway.transcription_models)


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models``: the transcription models (OpenAI's list shape)."""
    return web.json_response({"object": "list", "data": [_model_json(m) for m in _models(request)]})


async def get_model(request: web.Request) -> web.Response:
    """``GET /v1/models/<id>``: one model, or 404 ``model_not_found``."""
    model_id = request.match_info["model"]
    if model_id not in _models(request):
        raise invalid(
            f"The model '{model_id}' does not exist", param="model", code="model_not_found", status=404
        )
    return web.json_response(_model_json(model_id))


# --- the request's fields --------------------------------------------------------------------------------


@dataclass
class _Options:
    """The form fields of a transcription request, checked."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    model: str = ""
    response_format: str = "json"
    language: str | None = None
    prompt: str | None = None
    temperature: float = 0.0
    granularities: tuple[str, ...] = ("segment",)
    keep: bool = False

    def add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)

    def _one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1].strip() if values else None

    def check(self, models: list[str], *, complete: bool) -> None:
        """Check the fields received so far (all of them when ``complete``): 400 for the first bad one."""
        model = self._one("model")
        if model is None and complete:
            raise invalid("you must provide a model parameter", param="model", code="missing_model")
        if model is not None and model not in models:
            raise invalid(
                f"the model '{model}' does not exist; use one of: {', '.join(models)}",
                param="model",
                code="model_not_found",
            )
        self.model = model or ""
        fmt = self._one("response_format") or "json"
        if fmt not in RESPONSE_FORMATS:
            raise invalid(
                f"response_format must be one of {', '.join(RESPONSE_FORMATS)}", param="response_format"
            )
        self.response_format = fmt
        language = (self._one("language") or "").lower() or None
        if language is not None and language not in LANGUAGES:
            raise invalid(
                f"unsupported language '{language}': give an ISO-639-1 code (en, de...)", param="language"
            )
        self.language = language
        prompt = self._one("prompt")
        if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
            raise invalid(f"the prompt is over {MAX_PROMPT_CHARS} characters", param="prompt")
        self.prompt = prompt or None
        temperature = self._one("temperature")
        try:
            self.temperature = float(temperature) if temperature else 0.0
        except ValueError:
            self.temperature = math.nan
        if not 0 <= self.temperature <= 1:
            raise invalid("temperature must be a number from 0 to 1", param="temperature")
        asked = [v.strip() for v in self.fields.get("timestamp_granularities[]", [])]
        asked += [v.strip() for v in self.fields.get("timestamp_granularities", [])]
        if any(g not in GRANULARITIES for g in asked):
            raise invalid(
                "timestamp_granularities[] takes 'segment' and 'word'", param="timestamp_granularities"
            )
        if asked and complete and self.response_format != "verbose_json":
            raise invalid(
                "timestamp_granularities[] needs response_format=verbose_json",
                param="timestamp_granularities",
            )
        self.granularities = tuple(dict.fromkeys(asked)) or ("segment",)
        if (self._one("stream") or "").lower() in _TRUE:
            raise invalid("streamed transcriptions are not supported; leave stream unset", param="stream")
        keep = (self._one(KEEP_FIELD) or "").lower()
        if keep not in _TRUE + _FALSE:
            raise invalid(f"{KEEP_FIELD} must be true or false", param=KEEP_FIELD)
        self.keep = keep in _TRUE


# --- the file --------------------------------------------------------------------------------------------


@dataclass
class _Received:
    key: str
    fmt: MediaFormat
    size: int
    filename: str
    duration_s: float = 0.0


async def _next_part(request: web.Request, reader: MultipartReader) -> BodyPartReader | None:
    try:
        part = await timed(request, reader.next())
    except HttpProcessingError as exc:
        raise invalid("malformed multipart part headers", code="malformed_request") from exc
    except (ValueError, AssertionError) as exc:
        raise invalid("malformed multipart body", code="bad_request") from exc
    if part is not None and not isinstance(part, BodyPartReader):
        raise invalid("nested multipart bodies are not accepted", code="bad_request")
    return part


async def _field(request: web.Request, part: BodyPartReader) -> str:
    data = b""
    while chunk := await read_chunk(request, part):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise invalid(f"the form field '{part.name}' is over {MAX_FIELD_BYTES} bytes", param=part.name)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise invalid(f"the form field '{part.name}' is not UTF-8 text", param=part.name) from None


def _media_error(exc: MediaError) -> ApiError:
    message = f"Invalid file format. {exc.message}" if exc.code == "unsupported_type" else exc.message
    return invalid(message, param="file", code=exc.code)


async def _receive(
    request: web.Request, rt: Runtime, part: BodyPartReader, job_id: str, spool: IO[bytes], keys: list[str]
) -> _Received:
    """Sniff, stream to S3 (and the spool file), probe; the temporary key goes into ``keys`` before
    anything is written, so the caller always deletes it."""
    cfg = rt.settings.gateway
    body = PartBody(request, part, cfg.max_upload_bytes)
    try:
        fmt = sniff_media(await body.read_head())
    except MediaError as exc:
        raise _media_error(exc) from exc
    key = names.transcription_key(job_id, fmt.extension)
    keys.append(key)
    await body.store(rt, key, fmt.mime, spool)
    try:
        duration = await rt.run_blocking(probe_audio, spool.name, fmt, max_duration_s=cfg.max_duration_s)
    except MediaError as exc:
        raise _media_error(exc) from exc
    return _Received(key, fmt, body.size, clean_filename(part.filename), duration)


# --- the library video (vidsage_keep=true) ---------------------------------------------------------------


async def _keep(request: web.Request, rt: Runtime, owner: str, received: _Received, spool_path: str) -> str:
    """Add the file to ``owner``'s library through the upload's checks (quota, video probe, record,
    ``video.uploaded``); the new video's id. Nothing is kept if any step fails."""
    fmt = received.fmt
    if not isinstance(fmt, VideoFormat):
        raise invalid(f"{KEEP_FIELD}=true needs a video file (MP4, MOV or AVI)", param=KEEP_FIELD)
    quotas = request.app[AUTH].quotas
    ticket = await quotas.reserve_upload(owner, received.size)
    video_id = new_id()
    key = names.source_key(video_id, fmt.extension)
    stored = False
    try:
        result = await probe_video(rt, spool_path, fmt)
        info = await rt.storage.put_file(key, Path(spool_path), content_type=fmt.mime)
        stored = True
        record = video_record(video_id, owner, received.filename, info.size, fmt, result, key)
        await commit_video(rt, request.app[UPLOADS], record, key)
    except BaseException:
        await quotas.release(ticket)
        if stored:
            await delete_quietly(rt, key, log, "upload_cleanup_failed")
        raise
    await quotas.settle(ticket, info.size)
    log.info("transcription_kept", video_id=video_id, size=info.size)
    return video_id


# --- the job ---------------------------------------------------------------------------------------------


class _ClientGone(Exception):
    pass


async def _wait(request: web.Request, sub: Subscription, timeout_s: float) -> bytes:
    """The reply, checking every second that the client is still there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise invalid(
                "the transcription did not finish in time; try again",
                code="transcription_timeout",
                status=504,
            )
        try:
            msg = await sub.next_msg(timeout=min(1.0, left))
            return msg.data
        except (TimeoutError, nats.errors.TimeoutError):
            pass
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone


async def _transcribe(
    request: web.Request, rt: Runtime, owner: str, job_id: str, received: _Received, options: _Options
) -> TranscriptionReply:
    cfg = rt.settings.gateway
    inbox = rt.nc.new_inbox()
    sub = await rt.nc.subscribe(inbox, max_msgs=1)
    try:
        job = TranscriptionJob(
            job_id=job_id,
            owner=owner,
            object_key=received.key,
            format=received.fmt.value,
            language=options.language,
            prompt=options.prompt,
            temperature=options.temperature,
            word_timestamps=options.response_format == "verbose_json" and "word" in options.granularities,
            reply_to=inbox,
            deadline=time.time() + cfg.transcription_timeout_s,
        )
        await rt.js.publish(
            names.TRANSCRIBE_JOB_SUBJECT, job.model_dump_json().encode(), headers={MSG_ID_HEADER: job_id}
        )
        data = await _wait(request, sub, cfg.transcription_timeout_s)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    try:
        reply = TranscriptionReply.model_validate_json(data)
    except ValueError:
        raise invalid("the transcriber sent an invalid reply", code="bad_gateway", status=502) from None
    if reply.error is not None:
        raise invalid(
            reply.error.message,
            param="file" if reply.error.status == 400 else None,
            code=reply.error.code,
            status=reply.error.status,
        )
    return reply


# --- the answer ------------------------------------------------------------------------------------------


def _usage(reply: TranscriptionReply) -> dict[str, Any]:
    return {"type": "duration", "seconds": math.ceil(reply.duration_s)}


def _render(reply: TranscriptionReply, options: _Options) -> web.Response:
    fmt = options.response_format
    text = reply.text
    if fmt == "json":
        return web.json_response({"text": text, "usage": _usage(reply)})
    if fmt == "text":
        return web.Response(text=text + "\n", content_type="text/plain", charset="utf-8")
    if fmt in ("srt", "vtt"):
        transcript = Transcript(
            video_id=reply.job_id,
            language=reply.language,
            language_probability=None,
            duration_s=reply.duration_s,
            model=reply.model,
            segments=[Segment.model_validate(s.model_dump()) for s in reply.segments],
        )
        return web.Response(text=RENDERERS[fmt](transcript), content_type="text/plain", charset="utf-8")
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": LANGUAGES.get(reply.language or "", reply.language or ""),
        "duration": reply.duration_s,
        "text": text,
    }
    if "segment" in options.granularities:
        body["segments"] = [
            {
                "id": s.id,
                "seek": s.seek,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": s.tokens,
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob or 0.0,
                "compression_ratio": s.compression_ratio or 0.0,
                "no_speech_prob": s.no_speech_prob or 0.0,
            }
            for s in reply.segments
        ]
    if "word" in options.granularities:
        body["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end}
            for s in reply.segments
            for w in s.words or ()
        ]
    body["usage"] = _usage(reply)
    return web.json_response(body)


# --- the route -------------------------------------------------------------------------------------------


async def create_transcription(request: web.Request) -> web.StreamResponse:
    """``POST /v1/audio/transcriptions`` (see the module's documentation)."""
    cfg = request.app[RUNTIME].settings.gateway
    with receiving(request):
        try:
            return await _handle(request)
        except Incomplete as exc:
            raise invalid(f"the upload ended early: {exc}", code="upload_incomplete") from exc
        except Stalled:
            raise invalid(
                f"the client sent nothing for {cfg.upload_read_timeout_s:g} s, or took longer than "
                f"{cfg.upload_max_s:g} s to send the file; it was dropped",
                code="upload_timeout",
                status=408,
            ) from None


async def _handle(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    cfg = rt.settings.gateway
    expected = expected_size(request, cfg.max_upload_bytes)
    if not request.content_type.startswith("multipart/form-data"):
        raise invalid("send multipart/form-data with the audio in a field named 'file'", param="file")
    owner = scope_owner(request)
    check_spool_room(cfg, expected)
    job_id = new_id()
    structlog.contextvars.bind_contextvars(job_id=job_id)
    models = list(cfg.transcription_models)
    options = _Options()
    keys: list[str] = []  # the temporary object, once there is one: deleted whatever happens
    started = time.perf_counter()
    try:
        with tempfile.NamedTemporaryFile(dir=spool_dir(cfg), prefix="vidsage-transcribe-") as spool:
            reader = await request.multipart()
            received: _Received | None = None
            while (part := await _next_part(request, reader)) is not None:
                if part.name == "file":
                    if received is not None:
                        raise invalid("send one file", param="file")
                    options.check(models, complete=False)  # refuse a bad field before storing
                    received = await _receive(request, rt, part, job_id, spool, keys)
                elif part.name:
                    options.add(part.name, await _field(request, part))
            if received is None:
                raise invalid(
                    "no audio: send the file in a form field named 'file'", param="file", code="missing_file"
                )
            options.check(models, complete=True)
            video_id = await _keep(request, rt, owner, received, spool.name) if options.keep else None
        reply = await _transcribe(request, rt, owner, job_id, received, options)
    except _ClientGone:
        log.info("transcription_client_gone")
        return web.Response(status=CLIENT_CLOSED)
    finally:
        for key in keys:
            await delete_quietly(rt, key, log, "transcription_cleanup_failed")
    log.info(
        "transcription_done",
        format=received.fmt.value,
        audio_s=round(received.duration_s, 1),
        response_format=options.response_format,
        seconds=round(time.perf_counter() - started, 2),
    )
    response = _render(reply, options)
    if video_id is not None:
        response.headers[VIDEO_ID_HEADER] = video_id
    return response


# --- the sweep -------------------------------------------------------------------------------------------


async def sweep(rt: Runtime, max_age_s: float) -> int:
    """Delete the temporary transcription objects older than ``max_age_s``; how many went."""
    now = datetime.now(UTC)
    removed = 0
    for obj in await rt.storage.list_objects(names.TRANSCRIPTIONS_PREFIX):
        if obj.last_modified is not None and (now - obj.last_modified).total_seconds() > max_age_s:
            await rt.storage.delete(obj.key)
            removed += 1
    if removed:
        log.warning("transcription_leftovers_swept", removed=removed)
    return removed


async def _sweep_forever(app: web.Application) -> None:
    rt = app[RUNTIME]
    max_age = rt.settings.gateway.transcription_sweep_s
    while True:
        try:
            await sweep(rt, max_age)
        except Exception as exc:  # S3 down: next time
            log.warning("transcription_sweep_failed", error=str(exc) or type(exc).__name__)
        await asyncio.sleep(max_age / 10)


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_sweep_forever(app), name="transcription-sweep")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_routes(app: web.Application) -> None:
    """The ``/v1/`` routes and the sweep (after the runtime's cleanup context: it needs the runtime)."""
    app.cleanup_ctx.append(_sweeper)
    app.router.add_post("/v1/audio/transcriptions", create_transcription)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
