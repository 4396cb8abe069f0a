"""Quotas and rate limits per tenant, the gateway in-process over a real nats-server and a real S3
server: each limit at its boundary (the last request that fits, the first that does not), what a
refusal leaves behind (nothing), concurrent uploads against the storage quota, deleting giving bytes
back, and the counters after a gateway restart and across two replicas (they live in KV).

One gateway configuration serves every test: the defaults, with a per-tenant override
(``gateway.tenant_limits``) for the tenant each test uses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.auth import bearer, create_key
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.media import make_video, make_wav
from vidsage.contracts.names import ANY_OWNER
from vidsage.settings import Settings
from vidsage_dev.infra import NatsServer

from .conftest import make_settings

pytestmark = pytest.mark.timeout(120)

REQUESTS = 12


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("quota-clips")
    return {
        "mp4": make_video(d / "clip.mp4", "mp4", duration_s=2.0, width=160, height=120),
        "wav": make_wav(d / "sound.wav", 1.0),
    }


@pytest.fixture
def qsettings(nats_server: NatsServer, s3_server: Any, clips: dict[str, Path]) -> Settings:
    size = clips["mp4"].stat().st_size
    return make_settings(
        nats_server.url,
        s3_server.endpoint,
        gateway={
            "tenant_limits": {
                "rq": {"requests_per_minute": REQUESTS},
                "st": {"quota_bytes": int(size * 2.5)},  # two uploads fit, not three
                "vq": {"quota_videos": 2},
                "up": {"uploads_per_hour": 2},
            }
        },
    )


@pytest.fixture
async def gw(qsettings: Settings) -> AsyncIterator[RunningGateway]:
    async with running_gateway(qsettings) as gateway:
        yield gateway


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def upload(http: aiohttp.ClientSession, base: str, path: Path, key: str) -> tuple[int, Any, Any]:
    form = aiohttp.FormData()
    form.add_field("file", path.read_bytes(), filename=path.name, content_type="application/octet-stream")
    async with http.post(f"{base}/api/videos/upload", data=form, headers=bearer(key)) as resp:
        return resp.status, await resp.json(), resp.headers


async def usage(http: aiohttp.ClientSession, base: str, key: str) -> dict[str, Any]:
    async with http.get(f"{base}/api/usage", headers=bearer(key)) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def objects(gw: RunningGateway) -> list[str]:
    def run() -> list[str]:
        client = gw.rt.storage.client
        return [o.object_name for o in client.list_objects(gw.rt.storage.bucket, recursive=True)]

    return await asyncio.get_running_loop().run_in_executor(None, run)


async def a_fresh_window(seconds: int, needed_s: float) -> None:
    """Wait, if need be, until the current clock window (minute, hour) has ``needed_s`` left, so a
    test of its counter does not straddle two windows."""
    left = seconds - time.time() % seconds
    if left < needed_s:
        await asyncio.sleep(left + 0.05)


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]


async def test_requests_per_minute_at_the_boundary_and_after_a_restart(
    qsettings: Settings, gw: RunningGateway, http: aiohttp.ClientSession
) -> None:
    key, _ = await create_key(http, gw.url, "rq")
    await a_fresh_window(60, 20)
    for _ in range(REQUESTS - 1):  # then the usage read below: the REQUESTS-th, the last that fits
        async with http.get(f"{gw.url}/api/videos", headers=bearer(key)) as resp:
            assert resp.status == 200
    seen = await usage(http, gw.url, key)
    assert seen["requests_this_minute"] == REQUESTS
    assert seen["limits"]["requests_per_minute"] == REQUESTS
    async with http.get(f"{gw.url}/api/videos", headers=bearer(key)) as resp:
        assert resp.status == 429
        body = await resp.json()
        retry_after = int(resp.headers["Retry-After"])
    assert_error(body, "rate_limited")
    assert body["error"]["limit"] == "requests_per_minute"
    assert 1 <= retry_after <= 60
    assert body["error"]["retry_after_s"] == retry_after
    other, _ = await create_key(http, gw.url, "rq-neighbour")  # another tenant is not affected
    async with http.get(f"{gw.url}/api/videos", headers=bearer(other)) as resp:
        assert resp.status == 200

    # the counter is in KV: a restarted gateway, and a second replica, agree that the minute is used up
    await gw.server.close()
    async with running_gateway(qsettings) as restarted, running_gateway(qsettings) as replica:
        for base in (restarted.url, replica.url):
            async with http.get(f"{base}/api/videos", headers=bearer(key)) as resp:
                assert resp.status == 429
                assert_error(await resp.json(), "rate_limited")
        stored = await restarted.auth.quotas.usage("rq")
        assert stored.requests_this_minute == REQUESTS  # refused requests are not counted


async def test_the_storage_quota_refuses_the_upload_that_would_pass_it(
    qsettings: Settings, gw: RunningGateway, http: aiohttp.ClientSession, clips: dict[str, Path]
) -> None:
    key, _ = await create_key(http, gw.url, "st")
    size = clips["mp4"].stat().st_size
    first = await upload(http, gw.url, clips["mp4"], key)
    second = await upload(http, gw.url, clips["mp4"], key)
    assert (first[0], second[0]) == (201, 201)
    before = await usage(http, gw.url, key)
    assert (before["bytes"], before["videos"], before["reserved_bytes"]) == (2 * size, 2, 0)
    stored = sorted(await objects(gw))
    events = (await gw.rt.js.stream_info(gw.rt.settings.nats.stream)).state.messages

    status, body, _ = await upload(http, gw.url, clips["mp4"], key)
    assert status == 403
    assert_error(body, "quota_exceeded")
    assert (body["error"]["limit"], body["error"]["used"]) == ("quota_bytes", 2 * size)
    # nothing behind: no object, no record, no event, no counter changed (uploads this hour included)
    assert sorted(await objects(gw)) == stored
    assert len(await gw.rt.catalog.ids("st")) == 2
    assert (await gw.rt.js.stream_info(gw.rt.settings.nats.stream)).state.messages == events
    after = await usage(http, gw.url, key)
    assert {k: after[k] for k in ("bytes", "videos", "reserved_bytes", "uploads_this_hour")} == {
        k: before[k] for k in ("bytes", "videos", "reserved_bytes", "uploads_this_hour")
    }

    # deleting a video gives its bytes back: the upload fits again
    async with http.delete(f"{gw.url}/api/videos/{first[1]['id']}", headers=bearer(key)) as resp:
        assert resp.status == 204
    assert (await usage(http, gw.url, key))["bytes"] == size
    assert (await upload(http, gw.url, clips["mp4"], key))[0] == 201

    # the usage is in KV: a restarted gateway reports the same
    await gw.server.close()
    async with running_gateway(qsettings) as restarted:
        again = await usage(http, restarted.url, key)
        assert (again["bytes"], again["videos"]) == (2 * size, 2)
        assert (await upload(http, restarted.url, clips["mp4"], key))[0] == 403


async def test_concurrent_uploads_never_overshoot_the_storage_quota(
    gw: RunningGateway, http: aiohttp.ClientSession, clips: dict[str, Path]
) -> None:
    key, _ = await create_key(http, gw.url, "st")
    size = clips["mp4"].stat().st_size
    results = await asyncio.gather(*(upload(http, gw.url, clips["mp4"], key) for _ in range(6)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201, 201, 403, 403, 403, 403], [body for _, body, _ in results]
    assert all(body["error"]["code"] == "quota_exceeded" for status, body, _ in results if status == 403)
    final = await usage(http, gw.url, key)
    assert (final["bytes"], final["videos"], final["reserved_bytes"]) == (2 * size, 2, 0)
    assert final["bytes"] <= final["limits"]["quota_bytes"]
    assert len(await gw.rt.catalog.ids("st")) == 2


async def test_the_video_count_quota(
    gw: RunningGateway, http: aiohttp.ClientSession, clips: dict[str, Path]
) -> None:
    key, _ = await create_key(http, gw.url, "vq")
    assert [(await upload(http, gw.url, clips["mp4"], key))[0] for _ in range(2)] == [201, 201]
    status, body, _ = await upload(http, gw.url, clips["mp4"], key)
    assert status == 403
    assert_error(body, "quota_exceeded")
    assert body["error"]["limit"] == "quota_videos"
    assert (await usage(http, gw.url, key))["videos"] == 2


async def test_uploads_per_hour_count_only_accepted_uploads(
    gw: RunningGateway, http: aiohttp.ClientSession, clips: dict[str, Path]
) -> None:
    key, _ = await create_key(http, gw.url, "up")
    await a_fresh_window(3600, 60)
    status, body, _ = await upload(http, gw.url, clips["wav"], key)  # refused (415): not counted
    assert status == 415
    assert (await usage(http, gw.url, key))["uploads_this_hour"] == 0
    assert [(await upload(http, gw.url, clips["mp4"], key))[0] for _ in range(2)] == [201, 201]
    status, body, headers = await upload(http, gw.url, clips["mp4"], key)
    assert status == 429
    assert_error(body, "rate_limited")
    assert body["error"]["limit"] == "uploads_per_hour"
    assert 1 <= int(headers["Retry-After"]) <= 3600
    seen = await usage(http, gw.url, key)
    assert (seen["uploads_this_hour"], seen["videos"]) == (2, 2)
    assert len(await gw.rt.catalog.ids("up")) == 2


async def test_an_admin_sees_every_tenants_usage(
    gw: RunningGateway, http: aiohttp.ClientSession, clips: dict[str, Path]
) -> None:
    from tests.support.auth import ADMIN_KEY

    key, _ = await create_key(http, gw.url, "vq")
    await upload(http, gw.url, clips["mp4"], key)
    async with http.get(
        f"{gw.url}/api/usage", params={"owner": ANY_OWNER}, headers=bearer(ADMIN_KEY)
    ) as resp:
        listing = await resp.json()
    assert "vq" in {u["owner"] for u in listing["items"]}
    async with http.get(f"{gw.url}/api/usage", params={"owner": "vq"}, headers=bearer(ADMIN_KEY)) as resp:
        one = await resp.json()
    assert (one["owner"], one["videos"], one["limits"]["quota_videos"]) == ("vq", 1, 2)


async def test_a_library_from_before_quotas_is_counted_on_first_use(
    gw: RunningGateway, http: aiohttp.ClientSession, clips: dict[str, Path]
) -> None:
    """A tenant with videos but no usage document yet (records from before quotas) is counted from
    the catalog, so its quota holds from the first upload."""
    from tests.support.stored_videos import with_transcript

    for _ in range(2):
        await with_transcript(gw.rt, [], "old.mp4", owner="vq", size=1000)
    key, _ = await create_key(http, gw.url, "vq")
    seen = await usage(http, gw.url, key)
    assert (seen["bytes"], seen["videos"]) == (2000, 2)
    status, body, _ = await upload(http, gw.url, clips["mp4"], key)
    assert status == 403
    assert body["error"]["limit"] == "quota_videos"
