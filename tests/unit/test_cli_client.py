"""The client commands against a small scripted gateway on loopback (aiohttp, in this process): what
the real gateway cannot be made to do on demand — hold an answer between two tokens, fail a video,
close an idle chat, answer with a proxy's HTML page."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from vidsage_client import Exit
from vidsage_client.cli import parse_args
from vidsage_client.commands import run
from vidsage_client.render import Output
from vidsage_client.tus import UploadState, file_key

VIDEO_ID = "01a20cba-63f3-7224-97df-2898136963fb"
RECORD: dict[str, Any] = {
    "id": VIDEO_ID,
    "filename": "talk.mp4",
    "size": 4,
    "status": "ready",
    "stages": {s: {"state": "done"} for s in ("ingest", "transcribe", "index")},
    "error": None,
}
CITATION = {"video_id": VIDEO_ID, "start": 65.2, "end": 70.0, "text": "forty two lanterns"}


class Notifying(io.StringIO):
    """A stream that sets an event once ``wanted`` has been written to it."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted = wanted
        self.seen = asyncio.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        if self.wanted in self.getvalue():
            self.seen.set()
        return n


class FakeGateway:
    """Routes filled per test; records what the client sent."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.connections = 0
        self.tus_uploads: dict[str, bytearray] = {}

    def add(self, method: str, path: str, handler: Callable[[web.Request], Any]) -> None:
        self.app.router.add_route(method, path, handler)


def add_tus(
    fake: FakeGateway, got: dict[str, Any], status: Callable[[web.Request], Any] | None = None
) -> None:
    """A scripted tus server (``/api/uploads/``): stores the bytes in ``got["body"]``, and once the
    upload is complete answers with the video id; ``GET /api/videos/<id>/status`` is ``status``
    (by default the uploaded ``RECORD``)."""
    uploads: dict[str, bytearray] = fake.tus_uploads

    async def create(request: web.Request) -> web.Response:
        got["length"] = int(request.headers["Upload-Length"])
        got["metadata"] = request.headers["Upload-Metadata"]
        uploads["u1"] = bytearray()
        return web.Response(status=201, headers={"Location": "/api/uploads/u1", "Tus-Resumable": "1.0.0"})

    async def head(request: web.Request) -> web.Response:
        return web.Response(headers={"Upload-Offset": str(len(uploads["u1"])), "Tus-Resumable": "1.0.0"})

    async def patch(request: web.Request) -> web.Response:
        assert int(request.headers["Upload-Offset"]) == len(uploads["u1"])
        got["content_length"] = request.content_length
        uploads["u1"] += await request.read()
        got["body"] = bytes(uploads["u1"])
        headers = {"Upload-Offset": str(len(uploads["u1"])), "Tus-Resumable": "1.0.0"}
        if len(uploads["u1"]) == got["length"]:
            headers["Vidsage-Video-Id"] = VIDEO_ID
        return web.Response(status=204, headers=headers)

    async def uploaded(_: web.Request) -> web.Response:
        return web.json_response({**RECORD, "status": "uploaded", "size": len(got["body"])})

    fake.add("POST", "/api/uploads/", create)
    fake.add("HEAD", "/api/uploads/{id}", head)
    fake.add("PATCH", "/api/uploads/{id}", patch)
    fake.add("GET", "/api/videos/{id}/status", status or uploaded)


def add_tus_bytes(fake: FakeGateway, data: bytes) -> None:
    """An upload ``u1`` that already holds ``data`` (what an earlier run sent)."""
    fake.tus_uploads["u1"] = bytearray(data)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, Callable[[], Any]]]:
    fake = FakeGateway()
    server: TestServer | None = None

    async def start() -> str:
        nonlocal server
        server = TestServer(fake.app, host="127.0.0.1")
        await server.start_server()
        return str(server.make_url("")).rstrip("/")

    yield fake, start
    if server is not None:
        await server.close()


async def vidsage(
    url: str, *argv: str, stdin: str = "", out: io.StringIO | None = None
) -> tuple[int, str, str]:
    args, _ = parse_args([*argv, "--url", url])
    output = Output(json_mode=args.json, out=out or io.StringIO(), err=io.StringIO(), live=False)
    code = await run(args, output, stdin=io.StringIO(stdin))
    return code, output.out.getvalue(), output.err.getvalue()  # type: ignore[attr-defined]


def chat_route(
    fake: FakeGateway, answer: Callable[[web.WebSocketResponse, dict[str, Any], int], Any]
) -> None:
    async def status(_: web.Request) -> web.Response:
        return web.json_response(RECORD)

    async def socket(request: web.Request) -> web.WebSocketResponse:
        fake.connections += 1
        fake.headers.append(dict(request.headers))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        n = 0
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                fake.received.append(json.loads(msg.data))
                n += 1
                if await answer(ws, fake.received[-1], n) == "close":
                    await ws.close()
        return ws

    fake.add("GET", "/api/videos/{id}/status", status)
    fake.add("GET", "/ws/chat/{id}", socket)
    fake.add("GET", "/ws/chat", socket)


async def test_chat_prints_each_token_as_it_arrives_then_the_citations(gateway: Any) -> None:
    fake, start = gateway
    first_token_shown = Notifying("The answer")
    release = asyncio.Event()

    async def answer(ws: web.WebSocketResponse, message: dict[str, Any], n: int) -> None:
        await ws.send_json({"type": "token", "content": "The answer"})
        await release.wait()  # the rest only after the client has printed the first token
        await ws.send_json({"type": "token", "content": " is 42 [01:05]."})
        await ws.send_json(
            {
                "type": "done",
                "message_id": f"m{n}",
                "conversation_id": "c1",
                "citations": [CITATION],
                "mode": "llm",
            }
        )

    chat_route(fake, answer)
    url = await start()
    task = asyncio.create_task(
        vidsage(url, "chat", VIDEO_ID, stdin="How many?\nAnd then?\n", out=first_token_shown)
    )
    await asyncio.wait_for(first_token_shown.seen.wait(), 10)
    assert not task.done()
    release.set()
    code, out, err = await asyncio.wait_for(task, 10)
    assert code == Exit.OK, err
    assert out == "The answer is 42 [01:05].\ncitations:\n[01:05] forty two lanterns\n" * 2
    # the follow-up continues the conversation; a command-line client sends no Origin
    assert fake.received == [
        {"type": "message", "content": "How many?"},
        {"type": "message", "content": "And then?", "conversation_id": "c1"},
    ]
    assert "Origin" not in fake.headers[0]


async def test_an_error_frame_is_reported_and_the_next_question_still_answered(gateway: Any) -> None:
    fake, start = gateway

    async def answer(ws: web.WebSocketResponse, message: dict[str, Any], n: int) -> None:
        if n == 1:
            await ws.send_json(
                {"type": "error", "code": "not_ready", "message": "not ready yet", "status": "indexing"}
            )
            return
        await ws.send_json({"type": "future_frame", "whatever": 1})  # unknown types are skipped
        await ws.send_json({"type": "token", "content": "ok"})
        await ws.send_json(
            {"type": "done", "message_id": "m", "conversation_id": "c", "citations": [], "mode": "extractive"}
        )

    chat_route(fake, answer)
    url = await start()
    code, out, err = await vidsage(url, "chat", VIDEO_ID, "-m", "one", "-m", "two", "--json")
    assert code == Exit.FAILED
    assert err == "vidsage: not ready yet (status: indexing)\n"
    first, second = (json.loads(line) for line in out.splitlines())
    assert first == {
        "question": "one",
        "error": {"code": "not_ready", "message": "not ready yet", "status": "indexing"},
    }
    assert second["answer"] == "ok"
    assert second["mode"] == "extractive"


async def test_rate_limited_questions_wait_and_are_asked_again(gateway: Any) -> None:
    fake, start = gateway

    async def answer(ws: web.WebSocketResponse, message: dict[str, Any], n: int) -> None:
        if n in (1, 2):
            limited = {"type": "error", "code": "rate_limited", "message": "slow down", "retry_after_s": 0.05}
            await ws.send_json(limited)
            return
        await ws.send_json({"type": "token", "content": f"answer to {message['content']}"})
        await ws.send_json(
            {
                "type": "done",
                "message_id": "m",
                "conversation_id": "c",
                "citations": [CITATION],
                "mode": "llm",
            }
        )

    chat_route(fake, answer)
    url = await start()
    code, out, err = await vidsage(url, "chat", stdin="whole library?\n")  # no id: /ws/chat
    assert code == Exit.OK, err
    assert err.splitlines() == ["vidsage: slow down; asking again in 0.1 s"] * 2
    # a library-wide citation names its video (looked up once)
    assert out == "answer to whole library?\ncitations:\n[01:05] forty two lanterns  (talk.mp4)\n"
    assert [m["content"] for m in fake.received] == ["whole library?"] * 3


async def test_a_chat_closed_while_idle_reconnects_in_the_same_conversation(gateway: Any) -> None:
    fake, start = gateway

    async def answer(ws: web.WebSocketResponse, message: dict[str, Any], n: int) -> str:
        await ws.send_json({"type": "token", "content": f"answer {fake.connections}"})
        await ws.send_json(
            {"type": "done", "message_id": "m", "conversation_id": "c9", "citations": [], "mode": "llm"}
        )
        return "close"  # as the gateway does after chat.idle_timeout_s

    chat_route(fake, answer)
    url = await start()
    code, out, err = await vidsage(url, "chat", VIDEO_ID, stdin="first\nsecond\n")
    assert code == Exit.OK, err
    assert out == "answer 1\nanswer 2\n"
    assert fake.connections == 2
    assert fake.received[1] == {"type": "message", "content": "second", "conversation_id": "c9"}


async def test_upload_sends_the_file_with_tus_and_reports_the_bytes(gateway: Any, tmp_path: Path) -> None:
    fake, start = gateway
    payload = bytes(range(256)) * 4096  # 1 MiB
    got: dict[str, Any] = {}
    add_tus(fake, got)
    url = await start()
    video = tmp_path / 'clip "one".mp4'
    video.write_bytes(payload)
    code, out, err = await vidsage(url, "upload", str(video))
    assert code == Exit.OK, err
    assert out == f"{VIDEO_ID}  uploaded  talk.mp4\n"
    assert got["body"] == payload
    assert got["length"] == len(payload)  # declared up front: the gateway refuses a too large one at once
    assert got["content_length"] == len(payload)  # not chunked
    assert got["metadata"] == "filename " + base64.b64encode(b'clip "one".mp4').decode()
    assert err.startswith('uploaded clip "one".mp4 (1.0 MiB, ')


async def test_upload_resumes_what_an_interrupted_run_left(
    gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state file under $XDG_CACHE_HOME names the upload an earlier run began: the next run asks
    the server how far it got and sends only the rest."""
    fake, start = gateway
    payload = bytes(range(256)) * 4096
    got: dict[str, Any] = {}
    add_tus(fake, got)
    url = await start()
    video = tmp_path / "talk.mp4"
    video.write_bytes(payload)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # the earlier run: created the upload, sent 300,000 bytes, then stopped
    state = UploadState()
    key, _ = file_key(url, video)
    state.put(key, f"{url}/api/uploads/u1")
    got["length"] = len(payload)
    add_tus_bytes(fake, payload[:300_000])
    code, out, err = await vidsage(url, "upload", str(video))
    assert code == Exit.OK, err
    assert out == f"{VIDEO_ID}  uploaded  talk.mp4\n"
    assert got["content_length"] == len(payload) - 300_000  # only the rest
    assert got["body"] == payload
    assert "resuming talk.mp4 at 293.0 KiB of 1.0 MiB" in err
    assert state.get(key) is None  # done: forgotten


async def test_wait_ends_in_failed_with_the_reason_and_exit_1(gateway: Any, tmp_path: Path) -> None:
    fake, start = gateway
    steps = iter(["uploaded", "uploaded", "ingesting", "ingesting", "failed"])  # the upload reads one

    async def status(_: web.Request) -> web.Response:
        now = next(steps)
        error = {"stage": "ingest", "reason": "no video stream"} if now == "failed" else None
        return web.json_response({**RECORD, "status": now, "error": error})

    add_tus(fake, {}, status)
    url = await start()
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"fake")
    code, out, err = await vidsage(url, "upload", str(video), "--wait")
    assert code == Exit.FAILED
    assert out == f"{VIDEO_ID}  failed  talk.mp4\n"
    assert err.splitlines()[1:] == [
        "talk.mp4: uploaded",
        "talk.mp4: ingesting",
        "talk.mp4: failed",
        f"vidsage: talk.mp4 ({VIDEO_ID}) failed during ingest: no video stream",
    ]


async def test_wait_gives_up_after_the_timeout_with_exit_5(gateway: Any) -> None:
    fake, start = gateway

    async def status(_: web.Request) -> web.Response:
        return web.json_response({**RECORD, "status": "transcribing"})

    fake.add("GET", "/api/videos/{id}/status", status)
    url = await start()
    code, out, err = await vidsage(url, "status", VIDEO_ID, "--wait", "--timeout", "0.5", "--json")
    assert code == Exit.TIMEOUT == 5
    assert err.endswith(f"vidsage: talk.mp4 ({VIDEO_ID}): not ready after 0.5 s\n")
    assert json.loads(out)["error"]["code"] == "timeout"


async def test_an_answer_that_is_not_json_is_an_error_in_words(gateway: Any) -> None:
    fake, start = gateway

    async def proxy(_: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    async def not_ready(_: web.Request) -> web.Response:
        body = {
            "error": {"code": "not_ready", "message": "the transcript is not made yet", "status": "indexing"}
        }
        return web.json_response(body, status=409)

    fake.add("GET", "/api/videos", proxy)
    fake.add("GET", "/api/videos/{id}/transcript", not_ready)
    url = await start()
    assert await vidsage(url, "ls") == (Exit.FAILED, "", "vidsage: HTTP 502 Bad Gateway\n")
    code, _, err = await vidsage(url, "transcript", VIDEO_ID)
    assert code == Exit.FAILED
    assert err == f"vidsage: {VIDEO_ID}: the transcript is not made yet (status: indexing)\n"


async def test_status_wait_follows_the_stages_then_shows_the_record(gateway: Any) -> None:
    fake, start = gateway
    steps = iter(["transcribing", "indexing", "ready"])

    async def status(_: web.Request) -> web.Response:
        return web.json_response({**RECORD, "status": next(steps)})

    fake.add("GET", "/api/videos/{id}/status", status)
    url = await start()
    code, out, err = await vidsage(url, "status", VIDEO_ID, "--wait")
    assert code == Exit.OK, err
    assert err.splitlines() == ["talk.mp4: transcribing", "talk.mp4: indexing", "talk.mp4: ready"]
    assert dict(line.split(None, 1) for line in out.splitlines())["status"] == "ready"


async def test_search_sends_every_word_as_one_query(gateway: Any) -> None:
    fake, start = gateway
    queries: list[list[str]] = []

    async def search(request: web.Request) -> web.Response:
        queries.append(request.query.getall("q"))
        return web.json_response({"query": request.query["q"], "video_id": None, "hits": []})

    fake.add("GET", "/api/search", search)
    url = await start()
    code, _, err = await vidsage(url, "search", "harbor", "lanterns")
    assert code == Exit.OK
    assert queries == [["harbor lanterns"]]
    assert "nothing found for 'harbor lanterns'" in err
