"""Webhooks through the whole system as ``make run`` starts it: the notifier process as its own NATS
user (least privilege: the session's teardown fails on any refusal), a tenant's webhook on a real
receiver on this machine (``webhooks.allow_loopback`` is set for the shared system), and a real
upload whose pipeline events arrive signed, each once, and are listed as delivered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.support.auth import bearer
from tests.support.local_http import serving
from tests.support.media import make_video
from tests.support.system import FINISHED
from vidsage.contracts.webhooks import verify_signature
from vidsage_dev.system import DevSystem

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    async with serving(app) as base:
        yield f"{base}/hook", got


async def test_pipeline_events_reach_a_webhook_signed_and_once(
    system: DevSystem,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
    tmp_path: Path,
) -> None:
    url, got = receiver
    assert system.admin_key is not None
    base = system.gateway_url
    async with aiohttp.ClientSession(headers=bearer(system.admin_key)) as session:
        body = {"url": url, "events": ["video.uploaded", "video.ingested", "video.indexed", "video.failed"]}
        async with session.post(f"{base}/api/webhooks", json=body) as resp:
            hook = await resp.json()
            assert resp.status == 201, hook
        clip = make_video(tmp_path / "w.mp4", "mp4", duration_s=2.0, width=160, height=120)
        form = aiohttp.FormData()
        form.add_field("file", clip.read_bytes(), filename="w.mp4", content_type="video/mp4")
        async with session.post(f"{base}/api/videos/upload", data=form) as resp:
            record = await resp.json()
            assert resp.status == 201, record
        for _ in range(1200):
            async with session.get(f"{base}/api/videos/{record['id']}/status") as resp:
                status = (await resp.json())["status"]
            if status in FINISHED:
                break
            await asyncio.sleep(0.1)
        final = "video.indexed" if status == "ready" else "video.failed"
        wanted = {"video.uploaded", "video.ingested", final}
        for _ in range(300):
            async with session.get(f"{base}/api/webhooks/{hook['id']}/deliveries") as resp:
                deliveries = (await resp.json())["items"]
            if {d["event_type"] for d in deliveries if d["state"] == "succeeded"} >= wanted:
                break
            await asyncio.sleep(0.1)
        assert {d["event_type"] for d in deliveries} >= wanted, deliveries
        assert all(d["state"] == "succeeded" and d["attempt_count"] == 1 for d in deliveries), deliveries
        async with session.delete(f"{base}/api/webhooks/{hook['id']}") as resp:
            assert resp.status == 204
    sent = [(h, json.loads(b), b) for h, b in got]
    assert all(verify_signature(hook["secret"], h["Vidsage-Signature"], raw) for h, _, raw in sent)
    assert {p["data"]["video_id"] for _, p, _ in sent} == {record["id"]}
    event_ids = [h["Vidsage-Event-Id"] for h, _, _ in sent]
    assert len(event_ids) == len(set(event_ids)), "an event was delivered twice"
    assert {p["type"] for _, p, _ in sent} == {d["event_type"] for d in deliveries}
