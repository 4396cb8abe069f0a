"""End to end: the live status stream of the whole system started the way ``make run`` starts it
(real nats-server, S3 server, five service processes, each on its own NATS user): an upload is seen
going to ``ready`` over ``GET /api/events`` without a single poll, and the gateway's feed runs under
its least-privilege NATS permissions (the session fixture fails on any "Permissions Violation")."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.support.auth import bearer
from tests.support.media import make_video
from vidsage_client.sse import read_sse
from vidsage_dev.system import DevSystem

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


async def test_an_upload_is_seen_going_to_ready_over_the_live_stream(
    system: DevSystem, tmp_path: Path
) -> None:
    assert system.admin_key is not None
    clip = make_video(tmp_path / "live.mp4", "mp4", duration_s=2.0, width=320, height=240)
    async with aiohttp.ClientSession(headers=bearer(system.admin_key)) as session:
        base = system.gateway_url
        async with session.get(f"{base}/api/events", timeout=aiohttp.ClientTimeout(total=150)) as events:
            assert events.status == 200
            messages = read_sse(events)
            opened = await anext(messages)
            assert opened.event == "open"
            form = aiohttp.FormData(quote_fields=False)
            form.add_field(
                "file", clip.read_bytes(), filename=clip.name, content_type="application/octet-stream"
            )
            async with session.post(f"{base}/api/videos/upload", data=form) as resp:
                assert resp.status == 201
                video_id = (await resp.json())["id"]
            statuses, kinds, stages, ids = [], [], set(), []
            async for message in messages:
                frame = json.loads(message.data)
                if frame.get("video_id") != video_id:
                    continue
                if message.event == "progress":
                    stages.add(frame["stage"])
                    continue
                assert message.event == "status", message
                statuses.append(frame["status"])
                kinds.append(frame["event"])
                ids.append(int(message.id or 0))
                if frame["status"] in ("ready", "failed"):
                    break
    # each frame names its event; its status is the record's after it, so ingest may already be on
    assert kinds[0] == "uploaded", kinds
    assert statuses[-1] == "ready", statuses
    assert ids == sorted(ids)
    assert ids[0] > int(opened.id or 0)
    assert stages <= {"ingest", "transcribe", "index"}
