"""Webhooks end to end over real servers: the gateway in-process (``/api/webhooks``), the notifier's
``serve`` (its durable consumer, the deliveries bucket, its HTTP client) and a real aiohttp
receiver on a loopback port that answers 200, 500 then 200, too slowly, or with a redirect.

Events are published on the bus as the pipeline publishes them. Retries are made quick through
the settings (``notifier.backoff_s``), so each case takes about a second.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import nats.errors
import pytest
from aiohttp import web
from vidsage_notifier.__main__ import serve
from vidsage_notifier.sender import CheckedResolver, Sender

from tests.support.auth import ADMIN_KEY, bearer, create_accepted_key
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.local_http import serving
from vidsage.bus import publish_event
from vidsage.contracts import names
from vidsage.contracts.events import VideoDeleted, VideoIndexed
from vidsage.contracts.ids import new_id
from vidsage.contracts.webhooks import WEBHOOK_EVENT_TYPES, Delivery, verify_signature
from vidsage.settings import NotifierSettings
from vidsage.webhook_store import DeliveryLog
from vidsage.webhook_targets import TargetPolicy
from vidsage_dev.infra import S3Server, start_nats
from vidsage_dev.ports import free_port

from .conftest import make_settings

pytestmark = pytest.mark.timeout(120)

SECRET_KEY = secrets.token_urlsafe(32)
"""``webhooks.secret_key`` of the gateway and the notifier here."""
TIMEOUT_S = 1.0
"""The notifier's per-attempt timeout in these tests; the slow receiver answers after 3 s."""


@dataclass
class Receiver:
    """A webhook receiver: every request it got, by path; ``/flaky/*`` fails its first call."""

    url: str
    got: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)

    def calls(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return self.got.get(path, [])


@dataclass
class World:
    gw: RunningGateway
    receiver: Receiver
    session: aiohttp.ClientSession

    async def key(self, owner: str) -> str:
        """A new member key of ``owner``, once the gateway's key copy (a KV watch) has it."""
        key, _ = await create_accepted_key(self.session, self.gw.url, owner)
        return key

    async def call(self, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.gw.url + path, json=body, headers=bearer(key)) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    async def register(self, key: str, path: str, events: list[str] | None = None) -> dict[str, Any]:
        status, body = await self.call(
            "POST",
            "/api/webhooks",
            key,
            {"url": self.receiver.url + path, "events": events or ["video.indexed"]},
        )
        assert status == 201, body
        return body  # type: ignore[no-any-return]

    async def publish(self, owner: str) -> VideoIndexed:
        event = VideoIndexed(video_id=new_id(), owner=owner, passage_count=3)
        await publish_event(self.gw.rt.js, event)
        return event

    async def deliveries(
        self, key: str, webhook_id: str, *, until: str, count: int = 1
    ) -> list[dict[str, Any]]:
        """The endpoint's deliveries once ``count`` of them are in state ``until``."""
        for _ in range(200):
            status, body = await self.call("GET", f"/api/webhooks/{webhook_id}/deliveries", key)
            assert status == 200, body
            if sum(1 for d in body["items"] if d["state"] == until) >= count:
                return body["items"]  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {until} delivery: {body}")


async def _receiver_app(receiver: Receiver) -> web.Application:
    failed_once: set[str] = set()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        receiver.got.setdefault(request.path, []).append((dict(request.headers), body))
        kind = request.path.split("/")[1]
        if kind == "flaky" and request.path not in failed_once:
            failed_once.add(request.path)
            return web.Response(status=500)
        if kind == "fail":
            return web.Response(status=500)
        if kind == "slow":
            await asyncio.sleep(3 * TIMEOUT_S)
        if kind == "redirect":
            raise web.HTTPFound("/ok/after-redirect")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> AsyncIterator[World]:
    state = tmp_path_factory.mktemp("webhooks")
    nats = start_nats(state / "nats", "127.0.0.1", free_port(), free_port(), sink=io.StringIO())
    settings = make_settings(
        nats.url,
        s3_server.endpoint,
        state_dir=str(state / "state"),
        webhooks={"allow_loopback": True, "max_per_owner": 3, "secret_key": SECRET_KEY},
        notifier={
            "max_deliver": 3,
            "backoff_s": 0.1,
            "backoff_max_s": 0.5,
            "timeout_s": TIMEOUT_S,
            "connect_timeout_s": TIMEOUT_S,
            "ack_wait_s": 10,
            "fetch_timeout_s": 0.2,
        },
    )
    receiver = Receiver("")
    stop = asyncio.Event()
    try:
        async with (
            serving(await _receiver_app(receiver)) as receiver.url,
            running_gateway(settings) as gw,
            aiohttp.ClientSession() as session,
        ):
            notifier = asyncio.create_task(serve(settings, stop))
            yield World(gw, receiver, session)
            stop.set()
            await asyncio.wait_for(notifier, 20)
    finally:
        nats.stop()


async def test_a_delivery_is_signed_and_recorded(world: World) -> None:
    key = await world.key("wh-ok")
    hook = await world.register(key, "/ok/one", ["video.indexed", "video.deleted"])
    assert hook["secret"].startswith("whsec_")
    assert hook["events"] == ["video.indexed", "video.deleted"]
    event = await world.publish("wh-ok")
    items = await world.deliveries(key, hook["id"], until="succeeded")
    assert [(d["event_id"], d["attempt_count"], d["last_status_code"]) for d in items] == [
        (event.event_id, 1, 200)
    ]
    [(headers, body)] = world.receiver.calls("/ok/one")
    assert verify_signature(hook["secret"], headers["Vidsage-Signature"], body)
    assert not verify_signature("whsec_another", headers["Vidsage-Signature"], body)
    assert not verify_signature(hook["secret"], headers["Vidsage-Signature"], body + b" ")
    assert headers["Vidsage-Event-Id"] == event.event_id
    assert headers["Vidsage-Event-Type"] == "video.indexed"
    assert headers["Vidsage-Webhook-Id"] == hook["id"]
    sent = json.loads(body)
    assert (sent["type"], sent["event_id"], sent["data"]["video_id"]) == (
        "video.indexed",
        event.event_id,
        event.video_id,
    )
    # a type the endpoint did not ask for is not sent; one it did is
    await publish_event(
        world.gw.rt.js, VideoDeleted(video_id=event.video_id, owner="wh-ok", prefix="videos/x/")
    )
    items = await world.deliveries(key, hook["id"], until="succeeded", count=2)
    assert [d["event_type"] for d in items] == ["video.deleted", "video.indexed"]  # newest first
    status, listed = await world.call("GET", "/api/webhooks", key)
    assert status == 200
    assert [w["id"] for w in listed["items"]] == [hook["id"]]
    assert "secret" not in listed["items"][0]
    status, one = await world.call("GET", f"/api/webhooks/{hook['id']}", key)
    assert status == 200
    assert "secret" not in one
    assert one["url"] == hook["url"]
    # the secret is stored nowhere: the bucket's entry holds the URL, not it (it is derived)
    bucket = await world.gw.rt.js.key_value(names.WEBHOOKS_BUCKET)
    stored = await bucket.get(names.webhook_key("wh-ok", hook["id"]))
    assert stored.value is not None
    assert hook["url"].encode() in stored.value
    assert hook["secret"].encode() not in stored.value
    assert b"whsec_" not in stored.value


async def test_a_failure_is_retried_with_the_same_event_id_and_delivered_once(world: World) -> None:
    key = await world.key("wh-flaky")
    flaky = await world.register(key, "/flaky/a")
    steady = await world.register(key, "/ok/beside-flaky")
    event = await world.publish("wh-flaky")
    [delivery] = await world.deliveries(key, flaky["id"], until="succeeded")
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["attempt_count"] == 2
    assert delivery["last_error"] is None
    calls = world.receiver.calls("/flaky/a")
    assert len(calls) == 2
    assert {h["Vidsage-Event-Id"] for h, _ in calls} == {event.event_id}
    assert [h["Vidsage-Attempt"] for h, _ in calls] == ["1", "2"]
    assert calls[0][1] == calls[1][1]  # the same body on every attempt
    # the endpoint beside it had the event once, though the event came back for the flaky one
    [steady_delivery] = await world.deliveries(key, steady["id"], until="succeeded")
    assert steady_delivery["attempt_count"] == 1
    assert len(world.receiver.calls("/ok/beside-flaky")) == 1


async def test_an_attempt_whose_record_could_not_be_written_is_not_sent_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bus goes away just after the receiver answered: the record's write times out, the worker
    retries the event in place, and that retry must write the attempt, not make it again."""
    key = await world.key("wh-unsaved")
    hook = await world.register(key, "/ok/unsaved")
    real_put = DeliveryLog.put
    refused: list[str] = []

    async def put_failing_once(self: DeliveryLog, owner: str, delivery: Delivery) -> None:
        if delivery.webhook_id == hook["id"] and not refused:
            refused.append(delivery.state)
            raise nats.errors.TimeoutError
        await real_put(self, owner, delivery)

    monkeypatch.setattr(DeliveryLog, "put", put_failing_once)
    await world.publish("wh-unsaved")
    items = await world.deliveries(key, hook["id"], until="succeeded")
    assert refused == ["succeeded"]
    assert len(world.receiver.calls("/ok/unsaved")) == 1
    assert len(items[0]["attempts"]) == 1


async def test_a_slow_receiver_times_out_and_ends_failed(world: World) -> None:
    key = await world.key("wh-slow")
    hook = await world.register(key, "/slow/x")
    await world.publish("wh-slow")
    [delivery] = await world.deliveries(key, hook["id"], until="failed")
    assert delivery["attempt_count"] == 3  # notifier.max_deliver
    assert all(a["status_code"] is None for a in delivery["attempts"])
    assert "no answer within" in delivery["last_error"]


async def test_a_redirect_is_not_followed(world: World) -> None:
    key = await world.key("wh-redirect")
    hook = await world.register(key, "/redirect/x")
    await world.publish("wh-redirect")
    [delivery] = await world.deliveries(key, hook["id"], until="failed")
    assert [a["status_code"] for a in delivery["attempts"]] == [302, 302, 302]
    assert delivery["last_error"] == "redirect not followed (HTTP 302)"
    assert world.receiver.calls("/ok/after-redirect") == []


async def test_a_deleted_endpoint_gets_nothing_more(world: World) -> None:
    key = await world.key("wh-deleted")
    hook = await world.register(key, "/fail/deleted")
    await world.publish("wh-deleted")
    await world.deliveries(key, hook["id"], until="pending")
    status, _ = await world.call("DELETE", f"/api/webhooks/{hook['id']}", key)
    assert status == 204
    seen = len(world.receiver.calls("/fail/deleted"))
    marker = await world.register(key, "/ok/after-delete")  # a later event, delivered: the bus moved on
    await world.publish("wh-deleted")
    await world.deliveries(key, marker["id"], until="succeeded")
    await asyncio.sleep(1)  # longer than the retries' backoff
    assert len(world.receiver.calls("/fail/deleted")) <= seen + 1  # at most the attempt in flight
    for path in (f"/api/webhooks/{hook['id']}", f"/api/webhooks/{hook['id']}/deliveries"):
        status, body = await world.call("GET", path, key)
        assert (status, body["error"]["code"]) == (404, "not_found")


async def test_tenants_see_only_their_own_webhooks(world: World) -> None:
    acme, bravo = await world.key("wh-acme"), await world.key("wh-bravo")
    hook = await world.register(acme, "/ok/acme")
    await world.publish("wh-bravo")  # bravo's event never reaches acme's endpoint
    event = await world.publish("wh-acme")
    [delivery] = await world.deliveries(acme, hook["id"], until="succeeded")
    assert delivery["event_id"] == event.event_id
    unknown = new_id()
    for method, suffix in (("GET", ""), ("GET", "/deliveries"), ("DELETE", "")):
        theirs = await world.call(method, f"/api/webhooks/{hook['id']}{suffix}", bravo)
        nobodys = await world.call(method, f"/api/webhooks/{unknown}{suffix}", bravo)
        assert theirs == nobodys, (method, suffix)
        assert theirs[0] == 404, (method, suffix)
    assert await world.call("GET", "/api/webhooks", bravo) == (200, {"items": []})
    status, listed = await world.call("GET", "/api/webhooks?owner=wh-acme", ADMIN_KEY)
    assert status == 200
    assert [w["id"] for w in listed["items"]] == [hook["id"]]
    status, body = await world.call("GET", "/api/webhooks?owner=wh-acme", bravo)
    assert (status, body["error"]["code"]) == (403, "owner_forbidden")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://example.com/x", "events": ["video.indexed"]}, "invalid_url"),
        ({"url": "http://user:pw@127.0.0.1/x", "events": ["video.indexed"]}, "invalid_url"),
        ({"url": "http://127.0.0.1/" + "x" * 2100, "events": ["video.indexed"]}, "invalid_url"),
        ({"url": "not a url", "events": ["video.indexed"]}, "invalid_url"),
        ({"url": "http://10.1.2.3/x", "events": ["video.indexed"]}, "url_not_allowed"),
        ({"url": "http://169.254.169.254/latest", "events": ["video.indexed"]}, "url_not_allowed"),
        ({"url": "http://[::ffff:192.168.1.1]/x", "events": ["video.indexed"]}, "url_not_allowed"),
        ({"url": "http://0.0.0.0/x", "events": ["video.indexed"]}, "url_not_allowed"),
        ({"url": "http://224.0.0.1/x", "events": ["video.indexed"]}, "url_not_allowed"),
        ({"url": "http://no-such-host.invalid/x", "events": ["video.indexed"]}, "url_unresolvable"),
        ({"url": "http://127.0.0.1/x", "events": []}, "no_event_types"),
        ({"url": "http://127.0.0.1/x", "events": ["video.exploded"]}, "unknown_event_type"),
        (
            {"url": "http://127.0.0.1/x", "events": ["video.indexed"], "description": "d" * 201},
            "description_too_long",
        ),
        ({"url": "http://127.0.0.1/x", "events": ["video.indexed"], "extra": 1}, "bad_request"),
        ({"events": ["video.indexed"]}, "bad_request"),
    ],
)
async def test_bad_input_is_refused_with_its_own_code(world: World, body: dict[str, Any], code: str) -> None:
    key = await world.key("wh-bad")
    status, answer = await world.call("POST", "/api/webhooks", key, body)
    assert (status, answer["error"]["code"]) == (400, code), answer
    assert await world.call("GET", "/api/webhooks", key) == (200, {"items": []})


async def test_limits_and_listing_bounds(world: World) -> None:
    key = await world.key("wh-limit")
    hooks = [await world.register(key, f"/ok/limit-{i}", list(WEBHOOK_EVENT_TYPES)) for i in range(3)]
    status, body = await world.call(
        "POST", "/api/webhooks", key, {"url": world.receiver.url + "/ok/4", "events": ["video.failed"]}
    )
    assert (status, body["error"]["code"]) == (409, "too_many_webhooks")
    for bad in ("0", "51", "x", "-1"):
        status, body = await world.call("GET", f"/api/webhooks/{hooks[0]['id']}/deliveries?limit={bad}", key)
        assert (status, body["error"]["code"]) == (400, "bad_request"), bad
    status, body = await world.call("GET", "/api/webhooks/not-an-id", key)
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_each_attempt_checks_the_address_again_and_connects_only_to_checked_ones(world: World) -> None:
    """DNS rebinding: what was allowed at registration is judged again at delivery, by the
    notifier's own policy, and the connection goes only to addresses its resolver allowed."""
    strict = NotifierSettings(timeout_s=TIMEOUT_S, connect_timeout_s=TIMEOUT_S)
    async with Sender(strict, TargetPolicy()) as sender:
        for url in (world.receiver.url, world.receiver.url.replace("127.0.0.1", "localhost")):
            outcome = await sender.post(url + "/ok/rebound", b"{}", {})
            assert not outcome.ok
            assert outcome.status_code is None
            assert "a loopback address" in (outcome.error or "")
    assert world.receiver.calls("/ok/rebound") == []  # nothing was sent
    with pytest.raises(OSError, match="loopback"):
        await CheckedResolver(TargetPolicy()).resolve("localhost", 80)
    allowed = await CheckedResolver(TargetPolicy(allow_loopback=True)).resolve("localhost", 80)
    assert allowed
    assert all(r["host"] in ("127.0.0.1", "::1") and r["hostname"] == "localhost" for r in allowed)


async def test_a_malformed_answer_is_a_failed_attempt_whose_reason_leaves_the_url_out() -> None:
    """The URL may carry the receiver's token (in its path or query): the attempt's error, which is
    logged and recorded, names what was wrong with the answer, never the URL."""

    async def answer_badly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nBad\x01Header: x\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_badly, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = NotifierSettings(timeout_s=TIMEOUT_S, connect_timeout_s=TIMEOUT_S)
    try:
        async with Sender(settings, TargetPolicy(allow_loopback=True)) as sender:
            outcome = await sender.post(f"http://127.0.0.1:{port}/hook/tok-path?token=tok-query", b"{}", {})
    finally:
        server.close()
        await server.wait_closed()
    assert not outcome.ok
    assert outcome.status_code is None
    assert (outcome.error or "").startswith("ClientResponseError: Invalid header"), outcome.error
    assert "tok-" not in (outcome.error or "")
    assert str(port) not in (outcome.error or "")
