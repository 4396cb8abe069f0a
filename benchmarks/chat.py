"""Chat: time to first token through the WebSocket minus the test LLM's own time to first token
(measured with the raw ``openai`` client on the same server in the same run), and 50 concurrent
conversations with no error and no lost frame.

The gateway and the chat service run as their own processes (``python -m vidsage_gateway``,
``python -m vidsage_chat``), as in ``make run``; the OpenAI-compatible test server runs here.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from typing import Any

import aiohttp
import openai

from benchmarks._servers import local_servers
from tests.support.auth import ADMIN_KEY, SIGNING_SECRET, bearer
from tests.support.env import service_env
from tests.support.llm_server import Behaviour, LLMServer
from tests.support.stored_videos import with_transcript
from vidsage.contracts.transcript import Segment
from vidsage.runtime import open_runtime
from vidsage.settings import Settings
from vidsage_dev.ports import free_port

TTFT_S = 0.2
TOKEN_DELAY_S = 0.005
ROUNDS = 20
CONVERSATIONS = 50
ANSWER = " ".join(f"word{i}" for i in range(60)) + " as said at [00:04]."
PIECES = len(re.findall(r"\s*\S+", ANSWER))


def _env(settings: Settings, llm: LLMServer, port: int) -> dict[str, str]:
    return service_env(
        settings,
        VIDSAGE_GATEWAY__PORT=str(port),
        VIDSAGE_CHAT__LLM_BASE_URL=llm.base_url,
        VIDSAGE_CHAT__LLM_API_KEY="test-key",
        VIDSAGE_CHAT__LLM_MODEL="bench",
        VIDSAGE_CHAT__RATE_BURST="100",
        VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY=ADMIN_KEY,
        VIDSAGE_GATEWAY__SIGNING_SECRET=SIGNING_SECRET,
        VIDSAGE_GATEWAY__READY_REQUIRES_SEARCH="false",  # no indexer here
        VIDSAGE_LOG_FORMAT="json",
    )


async def _ready_video(settings: Settings) -> str:
    async with open_runtime("bench", settings, asyncio.Event(), wait_s=10) as rt:
        segments = [Segment(id=i, start=i * 4.0, end=i * 4.0 + 4, text=f" sentence {i}") for i in range(45)]
        return await with_transcript(rt, segments, "bench.mp4")


async def _raw_ttft(llm: LLMServer) -> float:
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="test-key", max_retries=0)
    try:
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model="bench", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        first = 0.0
        async with stream:
            async for chunk in stream:
                if not first and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
        return first
    finally:
        await client.close()


async def _conversation(session: aiohttp.ClientSession, url: str, question: str) -> tuple[float, str, Any]:
    """(time to first token, the streamed text, the final frame)."""
    async with session.ws_connect(url) as ws:
        started = time.perf_counter()
        await ws.send_json({"type": "message", "content": question})
        first = 0.0
        parts: list[str] = []
        while True:
            frame = await ws.receive_json(timeout=60)
            if frame["type"] == "token":
                first = first or time.perf_counter() - started
                parts.append(frame["content"])
                continue
            return first, "".join(parts), frame


async def _wait_ready(session: aiohttp.ClientSession, base: str, url: str) -> None:
    for _ in range(300):
        try:
            async with session.get(f"{base}/readyz") as resp:
                if resp.status == 200:
                    _, _, frame = await _conversation(session, url, "warm up")
                    if frame["type"] == "done":
                        return
        except (aiohttp.ClientError, OSError):
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("gateway and chat did not become ready")


async def _run() -> int:
    with local_servers() as settings:
        behaviour = Behaviour(reply=lambda _: ANSWER, ttft_s=TTFT_S, token_delay_s=TOKEN_DELAY_S)
        async with LLMServer(behaviour) as llm:
            port = free_port()
            env = _env(settings, llm, port)
            procs = [
                await asyncio.create_subprocess_exec(sys.executable, "-m", f"vidsage_{name}", env=env)
                for name in ("gateway", "chat")
            ]
            try:
                vid = await _ready_video(settings)
                base = f"http://127.0.0.1:{port}"
                url = f"ws://127.0.0.1:{port}/ws/chat/{vid}"
                async with aiohttp.ClientSession(headers=bearer(ADMIN_KEY)) as session:
                    await _wait_ready(session, base, url)
                    raw = [await _raw_ttft(llm) for _ in range(ROUNDS)]
                    through = [(await _conversation(session, url, "question"))[0] for _ in range(ROUNDS)]
                    started = time.perf_counter()
                    results = await asyncio.gather(
                        *(_conversation(session, url, f"question {i}") for i in range(CONVERSATIONS)),
                        return_exceptions=True,
                    )
                    wall = time.perf_counter() - started
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    await p.wait()
    raw_med, ws_med = statistics.median(raw), statistics.median(through)
    raw_p95 = statistics.quantiles(raw, n=20)[-1]
    ws_p95 = statistics.quantiles(through, n=20)[-1]
    overhead_ms = (ws_med - raw_med) * 1000
    errors = [r for r in results if isinstance(r, BaseException) or r[2]["type"] != "done"]
    lost = [r for r in results if not isinstance(r, BaseException) and r[1] != ANSWER]
    print(f"chat: test LLM time to first token {TTFT_S * 1000:.0f} ms by design, {PIECES} tokens")
    print(f"  raw openai client TTFT    median {raw_med * 1000:7.1f} ms   p95 {raw_p95 * 1000:7.1f} ms")
    print(f"  through the WebSocket     median {ws_med * 1000:7.1f} ms   p95 {ws_p95 * 1000:7.1f} ms")
    print(
        f"  overhead (median)         {overhead_ms:7.1f} ms   ratio {ws_med / raw_med:.2f}x"
        "   target <= 100 ms"
    )
    print(
        f"  {CONVERSATIONS} concurrent conversations: {wall:.2f} s, errors {len(errors)}, "
        f"answers with lost or reordered frames {len(lost)} (each {PIECES} tokens + done)"
    )
    ok = overhead_ms <= 100 and not errors and not lost
    return 0 if ok else 1


def main() -> int:
    return asyncio.run(_run())


if __name__ == "__main__":
    raise SystemExit(main())
