"""No secret anywhere visible: the whole system started as ``make run`` starts it (its S3 keys, NATS
passwords and signing secret generated into ``secrets.json``, its admin key in ``admin.key``),
chat given an LLM key (pointed at the OpenAI-compatible test server), driven through a short
end-to-end run with a tenant's key — upload, ready, search, a chat answer, a chat that fails,
refused requests — and then every log file of its state folder, ``run.json``, the runner's output
and every HTTP body the run received are searched for every secret it used. None may appear, but
for the admin key in the one sign-in line the runner prints to the terminal (never to a log) and
the tenant's key in the one answer that made it; every NATS user did its work without a refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.auth import bearer
from tests.support.llm_server import Behaviour, LLMServer
from tests.support.speech import SCRIPTS, make_speech_video
from tests.support.system import dev_system, permission_violations
from vidsage_dev.admin_key import sign_in_link
from vidsage_dev.cli import _banner, announce
from vidsage_dev.system import DevSystem

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.needs_espeak,
    pytest.mark.needs_whisper,
    pytest.mark.needs_embedder,
]

LLM_KEY = "sk-e2e-live-4f6d6c5b7a1e2d3c9b8a"


class Recorder:
    """Every response body the run received, to search them too."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base, self.bodies = session, base, []  # type: list[str]

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            text = await resp.text()
            self.bodies.append(text)
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    async def chat(self, path: str, question: str) -> dict[str, Any]:
        async with self.session.ws_connect(self.base.replace("http", "ws", 1) + path) as ws:
            await ws.send_json({"type": "message", "content": question})
            while True:
                frame = await ws.receive_json(timeout=120)
                self.bodies.append(json.dumps(frame))
                if frame["type"] in ("done", "error"):
                    return frame


async def _tenant_key(dev: DevSystem) -> str:
    """A member key of tenant ``acme``, made with the admin key (that answer is not searched: it is
    the one place the key is shown)."""
    assert dev.admin_key is not None
    async with aiohttp.ClientSession(headers=bearer(dev.admin_key)) as admin:
        resp = await admin.post(f"{dev.gateway_url}/api/keys", json={"owner": "acme"})
        assert resp.status == 201, await resp.text()
        key: str = (await resp.json())["key"]
    return key


async def _run(dev: DevSystem, llm: LLMServer, clip: Path, key: str) -> list[str]:
    """The short end-to-end run with ``key``; returns what ``run.json`` said while the system ran."""
    run_json = dev.run_file.read_text()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, headers=bearer(key)) as session:
        api = Recorder(session, dev.gateway_url)
        form = aiohttp.FormData()
        form.add_field("file", clip.read_bytes(), filename=clip.name, content_type="video/mp4")
        status, video = await api.call("POST", "/api/videos/upload", data=form)
        assert status == 201, video
        for _ in range(1200):
            status, record = await api.call("GET", f"/api/videos/{video['id']}/status")
            if record["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        assert record["status"] == "ready", record
        status, found = await api.call("GET", "/api/search", params={"q": "lanterns harbour", "limit": 3})
        assert status == 200
        assert found["hits"]
        done = await api.chat(f"/ws/chat/{video['id']}", "Who counted the lanterns?")
        assert done["type"] == "done", done
        assert done["mode"] == "llm"
        assert llm.requests[-1].headers["Authorization"] == f"Bearer {LLM_KEY}"  # the key was used
        llm.behaviour.status = 401  # the model refuses: the failure is logged and told to the client
        failed = await api.chat("/ws/chat", "And then?")
        assert failed["type"] == "error", failed
        llm.behaviour.status = None
        # refused requests: their error bodies are searched too
        assert (await api.call("GET", "/api/videos/not-an-id/status"))[0] in (400, 404)
        bad = aiohttp.FormData()
        bad.add_field("file", b"not a video at all", filename="x.mp4", content_type="video/mp4")
        assert (await api.call("POST", "/api/videos/upload", data=bad))[0] == 415
        assert (await api.call("GET", "/api/videos", headers=bearer("vsk_" + "x" * 60)))[0] == 401
        assert (await api.call("DELETE", f"/api/videos/{video['id']}"))[0] == 204
    return [run_json, *api.bodies]


@pytest.mark.timeout(300)
async def test_no_secret_in_logs_run_json_output_or_answers(tmp_path: Path) -> None:
    clip = make_speech_video(tmp_path / "lanterns.mp4", SCRIPTS["short"])
    state = tmp_path / "state"
    output = io.StringIO()
    async with LLMServer(behaviour=Behaviour(api_key=LLM_KEY)) as llm:
        with contextlib.ExitStack() as stack:
            dev = await asyncio.to_thread(
                stack.enter_context,
                dev_system(
                    state,
                    output=output,
                    VIDSAGE_CHAT__LLM_API_KEY=LLM_KEY,
                    VIDSAGE_CHAT__LLM_BASE_URL=llm.base_url,
                    VIDSAGE_CHAT__LLM_MAX_RETRIES="0",
                ),
            )
            banner = _banner(dev)
            announce(dev)  # what `make run` prints once started: the sign-in line holds the admin key
            tenant_key = await _tenant_key(dev)
            seen = await _run(dev, llm, clip, tenant_key)
            assert permission_violations(dev) == []
            await asyncio.to_thread(stack.close)  # stop: its shutdown lines are searched as well

    secrets_file = state / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    generated = json.loads(secrets_file.read_text())
    used = {f"{group}.{name}": value for group, values in generated.items() for name, value in values.items()}
    used["chat.llm_api_key"] = LLM_KEY
    assert dev.admin_key is not None
    used["the admin key"] = dev.admin_key
    used["the tenant's key"] = tenant_key
    # S3 access + secret key, signing secret, 9 NATS passwords (the observer's and the notifier's
    # too), the webhooks' secret key, the LLM key, the two API keys
    assert len(used) == 16

    places = {path.name: path.read_text(errors="replace") for path in sorted((state / "logs").iterdir())}
    assert {"nats.log", "s3.log", "provision.log", "devrun.log", "gateway.log", "chat.log"} <= set(places)
    assert "chat_failed" in places["chat.log"]  # the failure path was logged, and is searched
    places["run.json (while running)"] = seen[0]
    # the terminal shows the admin key in one line, the sign-in link, and nowhere else
    sign_in = f"Sign in to the web page: {sign_in_link(dev.gateway_url, dev.admin_key)}"
    printed = output.getvalue().splitlines()
    assert [line for line in printed if line.endswith(sign_in)], "no sign-in line"
    places["the runner's output"] = "\n".join(line for line in printed if not line.endswith(sign_in))
    places["the banner"] = banner
    places["HTTP and WebSocket bodies"] = "\n".join(seen[1:])
    leaks = [
        f"{name} in {where}"
        for where, text in places.items()
        for name, value in used.items()
        if value in text
    ]
    assert leaks == []
    # where the secrets are is said, never what they are
    assert str(secrets_file) in banner
    assert json.loads(seen[0])["secrets_file"] == str(secrets_file)
