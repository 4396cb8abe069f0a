"""A small OpenAI-compatible server for tests and benchmarks: ``POST /v1/chat/completions``.

The real ``openai`` client talks to it over HTTP. Each request is recorded (headers and JSON body)
so a test can assert what the model was given. What it answers is set by :class:`Behaviour`:

- ``reply``: a callable (request body → answer text); the answer is streamed as server-sent
  events, one chunk per word (whitespace kept), ``data: [DONE]`` at the end;
- ``ttft_s`` / ``token_delay_s``: delay before the first chunk and between chunks;
- ``status``: answer with this HTTP status and an OpenAI-style error body instead (401, 429...),
  whose message is ``error_message`` if set (a server that echoes the request, key and all);
- ``drop_after``: close the connection after this many chunks, without ``[DONE]`` (a dropped stream);
- ``api_key``: the bearer token it accepts (401 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def echo_question(body: dict[str, Any]) -> str:
    return "You asked: " + str(body["messages"][-1]["content"])[-200:]


@dataclass
class Behaviour:
    reply: Callable[[dict[str, Any]], str] = echo_question
    ttft_s: float = 0.0
    token_delay_s: float = 0.0
    status: int | None = None
    drop_after: int | None = None
    api_key: str = "test-key"
    retry_after_s: int | None = None
    error_message: str | None = None


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float


@dataclass
class LLMServer:
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    disconnects: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> LLMServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.url = f"http://{host}:{sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LLMServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        received = time.perf_counter()
        body = await request.json()
        self.requests.append(Recorded(dict(request.headers), body, received))
        b = self.behaviour
        if request.headers.get("Authorization") != f"Bearer {b.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided.")
        if b.status is not None:
            headers = {"Retry-After": str(b.retry_after_s)} if b.retry_after_s is not None else None
            message = b.error_message or f"test server answers {b.status}"
            return _error(b.status, "test_error", message, headers)
        answer = b.reply(body)
        pieces = re.findall(r"\s*\S+", answer) or [""]
        created = int(time.time())
        if b.ttft_s:
            await asyncio.sleep(b.ttft_s)
        if not body.get("stream"):
            return web.json_response(_completion(body, answer, created))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
        except ConnectionResetError:
            self.disconnects += 1
            return resp
        try:
            for i, piece in enumerate(pieces):
                if b.drop_after is not None and i >= b.drop_after:
                    assert request.transport is not None
                    request.transport.close()  # no [DONE], no final chunk: a dropped stream
                    return resp
                if i and b.token_delay_s:
                    await asyncio.sleep(b.token_delay_s)
                await resp.write(_sse(_chunk(body, {"content": piece}, None, created)))
            await resp.write(_sse(_chunk(body, {}, "stop", created)))
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except ConnectionResetError:  # the client went away (cancelled or timed out)
            self.disconnects += 1
        return resp


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None, created: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": created,
        "model": body.get("model", "test"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(body: dict[str, Any], answer: str, created: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": created,
        "model": body.get("model", "test"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        ],
    }


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "test_error", "code": code}}, status=status, headers=headers
    )
