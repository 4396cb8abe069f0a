"""Tenants cannot see each other, and every route wants a working key: the gateway in-process with
the real indexer (embedding model, Qdrant Edge) and the real chat service (extractive mode), over a
real nats-server and a real S3 server.

- **The matrix**: two tenants × every route and the WebSocket × {own id, the other's id, an unknown
  id, no key, a malformed key, a revoked key, an expired key}, each cell checking the status and
  the error code; another tenant's id (a video, a webhook, a tus upload) answers byte for byte like
  an id nobody has, headers included; the live streams (SSE) refuse with a JSON error before any
  frame; ``/v1/`` refuses in OpenAI's error shape. A route without a row fails the matrix.
- **Isolation in what comes back**: listings, search (filtered inside the vector store) and library
  chat retrieval of one tenant never hold the other's videos or passages, though both tenants hold
  videos that say nearly the same; conversations are per tenant.
- **Admins** act for another tenant with ``?owner=``; a member that tries gets ``owner_forbidden``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from tests.support.auth import ADMIN_KEY, bearer, create_key, revoke_key
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.media import make_video
from tests.support.paths import MODELS
from tests.support.stored_videos import put_transcript, transcribed, wait_ready
from vidsage.contracts.ids import new_id
from vidsage.contracts.names import conversation_cache_key, thumbnail_key
from vidsage.contracts.record import Status
from vidsage.contracts.search import SearchReply, SearchRequest
from vidsage.contracts.transcript import Segment
from vidsage.runtime import open_runtime, run_worker
from vidsage.settings import Settings
from vidsage_chat.serving import ChatService
from vidsage_dev.infra import S3Server, start_nats
from vidsage_dev.ports import free_port
from vidsage_gateway.app import create_app
from vidsage_gateway.auth import Policy, policy_for
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.indexer import Indexer
from vidsage_indexer.store import open_store
from vidsage_indexer.worker import STAGE

from .conftest import make_settings

pytestmark = [pytest.mark.needs_embedder, pytest.mark.timeout(120)]

OWNERS = ("acme", "bravo")
UNKNOWN = "01890a5d-ac96-774b-bcce-b302099a8057"
"""A well-formed id (of a video, a webhook, an upload) that nobody has."""
MALFORMED = "vsk_not-a-key"
TUS = {"Tus-Resumable": "1.0.0"}
HOOK_URL = "http://127.0.0.1:9/hook"
"""A webhook target (loopback is allowed here; nothing is delivered: no notifier runs)."""

# Nearly the same words in both tenants' libraries, so a leak would be found by any search.
SAYS = {
    "acme": "Doctor Hart counted forty two lanterns along the old harbour wall at dusk.",
    "bravo": "Along the old harbour wall Doctor Hart counted forty lanterns before dusk.",
}


@dataclass
class Tenant:
    owner: str
    key: str
    revoked: str
    expired: str
    video: str
    """An uploaded video with a thumbnail and a transcript (for the matrix)."""
    webhook: str
    upload: str
    """An unfinished tus upload."""
    spoken: str = ""
    """An indexed video whose transcript says ``SAYS[owner]`` (for search and chat)."""


@dataclass
class World:
    gw: RunningGateway
    session: aiohttp.ClientSession
    tenants: dict[str, Tenant]
    clip: Path

    def other(self, owner: str) -> Tenant:
        return next(t for o, t in self.tenants.items() if o != owner)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    e = Embedder(Settings(_env_file=None).indexer, MODELS)
    e.load()
    return e


async def _upload(session: aiohttp.ClientSession, base: str, clip: Path, key: str, **params: str) -> Any:
    form = aiohttp.FormData()
    form.add_field("file", clip.read_bytes(), filename=clip.name, content_type="application/octet-stream")
    async with session.post(
        f"{base}/api/videos/upload", data=form, headers=bearer(key), params=params
    ) as resp:
        body = await resp.json()
        assert resp.status == 201, body
    return body


async def _new_webhook(session: aiohttp.ClientSession, base: str, key: str) -> str:
    body = {"url": HOOK_URL, "events": ["video.indexed"]}
    async with session.post(f"{base}/api/webhooks", json=body, headers=bearer(key)) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    return str(created["id"])


async def _new_upload(session: aiohttp.ClientSession, base: str, key: str, length: int) -> str:
    """A tus upload of ``length`` bytes, nothing sent yet: its id."""
    headers = {**bearer(key), **TUS, "Upload-Length": str(length)}
    async with session.post(f"{base}/api/uploads/", headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        return resp.headers["Location"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, embedder: Embedder
) -> AsyncIterator[World]:
    state = tmp_path_factory.mktemp("tenancy")
    nats = start_nats(state / "nats", "127.0.0.1", free_port(), free_port(), sink=io.StringIO())
    settings = make_settings(
        nats.url,
        s3_server.endpoint,
        models_dir=str(MODELS),
        state_dir=str(state / "state"),
        indexer={"max_deliver": 2, "backoff_s": 0.2, "ack_wait_s": 30, "search_timeout_s": 5},
        chat={"rate_burst": 50, "rate_per_minute": 600},
        webhooks={"allow_loopback": True, "secret_key": base64.b64encode(os.urandom(24)).decode()},
    )
    clip = make_video(state / "clip.mp4", "mp4", duration_s=2.0, width=160, height=120)
    store = open_store(settings.indexer, settings.state_dir)
    store.ensure(embedder.dim)
    stop = asyncio.Event()
    try:
        async with (
            running_gateway(settings) as gw,
            open_runtime("indexer", settings, stop, worker=settings.indexer, wait_s=5) as irt,
            open_runtime("chat", settings, stop, wait_s=5) as crt,
            aiohttp.ClientSession() as session,
        ):
            indexer = Indexer(irt, embedder, store)
            searches = await indexer.serve_search()
            worker = asyncio.create_task(run_worker(irt, STAGE, indexer, settings.indexer))
            chat = ChatService(crt)
            chatting = asyncio.create_task(chat.run())
            await asyncio.wait_for(chat.ready.wait(), 10)

            try:  # the workers stop whatever happens (a setup that fails, too)
                tenants: dict[str, Tenant] = {}
                for owner in OWNERS:
                    key, _ = await create_key(session, gw.url, owner)
                    revoked, revoked_id = await create_key(session, gw.url, owner)
                    await revoke_key(session, gw.url, revoked_id)
                    expired, _ = await create_key(session, gw.url, owner, expires_in_days=1e-5)  # < 1 s
                    record = await _upload(session, gw.url, clip, key)
                    await gw.rt.storage.put_bytes(
                        thumbnail_key(record["id"]), b"\xff\xd8 jpeg", content_type="image/jpeg"
                    )
                    transcript, _ = await put_transcript(
                        gw.rt, record["id"], [Segment(id=0, start=0.0, end=1.5, text=" A short clip.")]
                    )
                    await gw.rt.catalog.update(
                        owner,
                        record["id"],
                        lambda r, t=transcript: r.model_copy(
                            update={
                                "objects": {**r.objects, "thumbnail": thumbnail_key(r.id), "transcript": t}
                            }
                        ),
                    )
                    spoken = await transcribed(
                        gw.rt,
                        [Segment(id=0, start=0.0, end=6.0, text=" " + SAYS[owner])],
                        f"{owner}-talk.mp4",
                        owner,
                    )
                    assert (await wait_ready(gw.rt, spoken)).status is Status.READY
                    tenants[owner] = Tenant(
                        owner,
                        key,
                        revoked,
                        expired,
                        record["id"],
                        webhook=await _new_webhook(session, gw.url, key),
                        upload=await _new_upload(session, gw.url, key, clip.stat().st_size),
                        spoken=spoken.id,
                    )
                await asyncio.sleep(1.0)  # the expired keys are past their expiry now
                yield World(gw, session, tenants, clip)
            finally:
                stop.set()
                await asyncio.wait_for(worker, 30)
                await asyncio.wait_for(chatting, 30)
                await searches.unsubscribe()
    finally:
        store.close()
        nats.stop()


# -- the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    """``{id}`` where the id goes (of what ``kind`` says)."""
    ok: int
    """The status for the tenant's own request."""
    ok_code: str | None = None
    """The error code of that answer, when it is a refusal (a member on an admin route)."""
    kind: str = "video"
    """What ``{id}`` names: a ``video``, a ``webhook`` or a tus ``upload``."""
    reads_id: bool = True
    """False where the answer does not depend on the id (tus's OPTIONS): every id answers alike."""

    @property
    def has_id(self) -> bool:
        return "{id}" in self.path

    @property
    def websocket(self) -> bool:
        return self.path.startswith("/ws/")

    @property
    def sse(self) -> bool:
        return self.path.split("?")[0].endswith("/events")

    @property
    def openai(self) -> bool:
        return self.path.startswith("/v1/")

    @property
    def tus(self) -> bool:
        return self.path.startswith("/api/uploads/")


ROUTES = [
    Route("status", "GET", "/api/videos/{id}/status", 200),
    Route("stream", "GET", "/api/videos/{id}", 200),
    Route("stream-head", "HEAD", "/api/videos/{id}", 200),
    Route("stream-range", "GET", "/api/videos/{id}?range", 206),
    Route("thumbnail", "GET", "/api/videos/{id}/thumbnail", 200),
    Route("transcript", "GET", "/api/videos/{id}/transcript?format=vtt", 200),
    Route("links", "POST", "/api/videos/{id}/links", 201),
    Route("retry", "POST", "/api/videos/{id}/retry", 409, "not_failed"),  # own videos are ready, not failed
    Route("delete", "DELETE", "/api/videos/{id}", 204),
    Route("search-in-video", "GET", "/api/search?q=lanterns&video_id={id}", 200),
    Route("chat-video", "GET", "/ws/chat/{id}", 101),
    Route("video-events", "GET", "/api/videos/{id}/events", 200),
    Route("webhook", "GET", "/api/webhooks/{id}", 200, kind="webhook"),
    Route("webhook-deliveries", "GET", "/api/webhooks/{id}/deliveries", 200, kind="webhook"),
    Route("webhook-delete", "DELETE", "/api/webhooks/{id}", 204, kind="webhook"),
    Route("upload-options", "OPTIONS", "/api/uploads/{id}", 204, kind="upload", reads_id=False),
    Route("upload-head", "HEAD", "/api/uploads/{id}", 200, kind="upload"),
    Route("upload-describe", "GET", "/api/uploads/{id}", 200, kind="upload"),
    Route("upload-patch", "PATCH", "/api/uploads/{id}", 204, kind="upload"),
    Route("upload-terminate", "DELETE", "/api/uploads/{id}", 204, kind="upload"),
    Route("list", "GET", "/api/videos", 200),
    Route("upload", "POST", "/api/videos/upload", 201),
    Route("search", "GET", "/api/search?q=lanterns", 200),
    Route("usage", "GET", "/api/usage", 200),
    Route("session", "GET", "/api/session", 200),
    Route("chat-library", "GET", "/ws/chat", 101),
    Route("events", "GET", "/api/events", 200),
    Route("webhooks-list", "GET", "/api/webhooks", 200),
    Route("webhooks-create", "POST", "/api/webhooks", 201),
    Route("uploads-options", "OPTIONS", "/api/uploads/", 204),
    Route("uploads-create", "POST", "/api/uploads/", 201),
    # own: a text file, refused after the key and the fields passed (no transcriber runs here)
    Route("transcribe", "POST", "/v1/audio/transcriptions", 400, "unsupported_type"),
    Route("models", "GET", "/v1/models", 200),
    Route("model", "GET", "/v1/models/whisper-1", 200),
    Route("model-unknown", "GET", "/v1/models/whisper-9", 404, "model_not_found"),
    Route("keys-list", "GET", "/api/keys", 403, "admin_only"),
    Route("keys-create", "POST", "/api/keys", 403, "admin_only"),
    Route("keys-revoke", "DELETE", "/api/keys/AAAAAAAAAAAA", 403, "admin_only"),
    Route("unknown-route", "GET", "/api/nothing", 404, "not_found"),
    Route("unknown-route-v1", "GET", "/v1/nothing", 404, "not_found"),
]
ID_CELLS = ("own", "other", "unknown")
KEY_CELLS = {
    "no key": "missing_credentials",
    "malformed key": "malformed_key",
    "revoked key": "revoked_key",
    "expired key": "expired_key",
}
CELLS = [
    (owner, route, cell)
    for owner in OWNERS
    for route in ROUTES
    for cell in ((*ID_CELLS, *KEY_CELLS) if route.has_id else ("own", *KEY_CELLS))
]
PER_REQUEST_HEADERS = frozenset({"date", "x-request-id"})
"""Headers that differ between any two answers, whatever they say."""


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    header_list: list[tuple[str, str]]
    """Every header but :data:`PER_REQUEST_HEADERS`, lower-cased and sorted (repeats kept)."""


WS_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
}


async def _own_id(world: World, route: Route, tenant: Tenant) -> str:
    """The tenant's id for ``route``: a fresh one where the route consumes it."""
    session, base = world.session, world.gw.url
    if route.name == "delete":
        return str((await _upload(session, base, world.clip, tenant.key))["id"])
    if route.name == "webhook-delete":
        return await _new_webhook(session, base, tenant.key)
    if route.name in ("upload-patch", "upload-terminate"):
        return await _new_upload(session, base, tenant.key, world.clip.stat().st_size)
    return str(getattr(tenant, route.kind))


def _answer(status: int, body: bytes, headers: Any) -> Answer:
    listed = sorted((k.lower(), v) for k, v in headers.items() if k.lower() not in PER_REQUEST_HEADERS)
    return Answer(status, body, dict(headers), listed)


async def call(world: World, route: Route, owner: str, cell: str) -> Answer:
    """One cell's request: ``owner``'s key (or the cell's bad one) on ``route`` with the cell's id."""
    tenant = world.tenants[owner]
    key = {
        "no key": None,
        "malformed key": MALFORMED,
        "revoked key": tenant.revoked,
        "expired key": tenant.expired,
    }
    headers = bearer(key.get(cell, tenant.key)) if key.get(cell, tenant.key) else {}
    if route.has_id:
        others = str(getattr(world.other(owner), route.kind))
        target = (
            others
            if cell == "other"
            else UNKNOWN
            if cell == "unknown"
            else await _own_id(world, route, tenant)
        )
    else:
        target = ""
    path = route.path.replace("{id}", target).replace("?range", "")
    if route.name == "stream-range":
        headers["Range"] = "bytes=0-99"
    url = f"{world.gw.url}{path}"
    if route.websocket and route.ok == 101 and cell == "own":
        async with world.session.ws_connect(url, headers=headers) as ws:
            assert not ws.closed
        return _answer(101, b"", {})
    if route.websocket:  # a refused handshake: the JSON error before any upgrade
        headers |= WS_HEADERS
    if route.tus:
        headers |= TUS
    kwargs: dict[str, Any] = {}
    if route.name == "upload":
        form = aiohttp.FormData()
        form.add_field(
            "file", world.clip.read_bytes(), filename="c.mp4", content_type="application/octet-stream"
        )
        kwargs["data"] = form
    elif route.name == "transcribe":
        form = aiohttp.FormData()
        form.add_field("model", "whisper-1")
        form.add_field(
            "file", b"plain words, not a sound\n" * 40, filename="a.mp3", content_type="audio/mpeg"
        )
        kwargs["data"] = form
    elif route.name == "keys-create":
        kwargs["json"] = {"owner": owner}
    elif route.name == "links":
        kwargs["json"] = {"expires_in_s": 600}
    elif route.name == "webhooks-create":
        kwargs["json"] = {"url": HOOK_URL, "events": ["video.indexed"]}
    elif route.name == "uploads-create":
        headers["Upload-Length"] = str(world.clip.stat().st_size)
    elif route.name == "upload-patch":
        headers |= {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
        kwargs["data"] = world.clip.read_bytes()[:1000]
    async with world.session.request(route.method, url, headers=headers, **kwargs) as resp:
        if resp.content_type == "text/event-stream":  # a live stream: its first frame, then hang up
            first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)
            resp.close()
            return _answer(resp.status, first, resp.headers)
        return _answer(resp.status, await resp.read(), resp.headers)


def _error(answer: Answer) -> dict[str, Any] | None:
    return json.loads(answer.body)["error"] if answer.body and answer.status >= 400 else None


def _error_code(answer: Answer) -> str | None:
    error = _error(answer)
    return error["code"] if error else None


def _check_error_shape(route: Route, answer: Answer) -> None:
    """An error is vidsage's ``{error: {code, message}}``; under ``/v1/`` OpenAI's ``{error:
    {message, type, param, code}}``; a live stream's refusal is that JSON, never a stream."""
    if route.sse:
        assert answer.headers["Content-Type"].startswith(
            "application/json" if answer.status >= 400 else "text/event-stream"
        ), answer.headers
        if answer.status == 200:
            assert answer.body.startswith(b"retry: ")
    error = _error(answer)
    if error is None:
        return
    if route.openai:
        assert set(error) == {"message", "type", "param", "code"}, error
        assert error["type"] == ("server_error" if answer.status >= 500 else "invalid_request_error"), error
    else:
        assert {"code", "message"} <= set(error), error


@pytest.mark.parametrize(
    ("owner", "route", "cell"), CELLS, ids=[f"{o}-{r.name}-{c.replace(' ', '_')}" for o, r, c in CELLS]
)
async def test_the_matrix(world: World, owner: str, route: Route, cell: str) -> None:
    answer = await call(world, route, owner, cell)
    if cell in KEY_CELLS:
        expected, code = 401, KEY_CELLS[cell]
        assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer"), answer.headers
    elif cell in ("other", "unknown") and route.reads_id:
        expected, code = 404, "not_found"
    else:
        expected, code = route.ok, route.ok_code
    assert (answer.status, _error_code(answer) if route.method != "HEAD" else code) == (expected, code), (
        answer.body
    )
    if route.method != "HEAD":
        _check_error_shape(route, answer)
    if route.tus and cell in ID_CELLS:  # every tus answer from the route says the protocol version
        assert answer.headers.get("Tus-Resumable") == "1.0.0", answer.headers


@pytest.mark.parametrize("route", [r for r in ROUTES if r.has_id], ids=lambda r: r.name)
@pytest.mark.parametrize("owner", OWNERS)
async def test_another_tenants_id_answers_exactly_like_one_that_does_not_exist(
    world: World, owner: str, route: Route
) -> None:
    """A video, a webhook or an upload of another tenant: the same status, body and headers (tus's
    ``Upload-Offset``/``Upload-Length``/``Upload-Expires`` too) as an id nobody has."""
    others, unknown = await call(world, route, owner, "other"), await call(world, route, owner, "unknown")
    assert others.status == unknown.status == (404 if route.reads_id else route.ok)
    assert others.body == unknown.body  # byte for byte: existence does not leak
    assert others.header_list == unknown.header_list
    if route.tus:
        assert not {"upload-offset", "upload-length", "upload-expires", "upload-metadata"} & set(
            dict(others.header_list)
        ), others.headers
    if route.method != "HEAD" and route.reads_id:
        what = route.kind.encode()
        assert others.body == b'{"error": {"code": "not_found", "message": "' + what + b' not found"}}'


async def test_every_route_that_wants_a_key_is_a_row_of_the_matrix() -> None:
    """A new route must be added to :data:`ROUTES` (a HEAD aiohttp answers with the GET handler is
    the GET's row; ``/metrics`` has its own tests)."""
    app = create_app(Settings(_env_file=None))  # nothing connects until the app starts
    handlers = {(r.method, r.resource.canonical): r.handler for r in app.router.routes() if r.resource}
    wanted = {
        (method, path)
        for (method, path), handler in handlers.items()
        if policy_for(method, path) in (Policy.PROTECTED, Policy.MEDIA)
        and not (method == "HEAD" and handlers.get(("GET", path)) is handler)
    }
    rows = set()
    for route in ROUTES:
        path = route.path.replace("{id}", UNKNOWN).split("?")[0]
        match = await app.router.resolve(make_mocked_request(route.method, path, app=app))
        resource = match.route.resource
        if resource is not None:
            rows.add((route.method, resource.canonical))
    assert wanted - rows == set()


# -- what comes back holds only the tenant's own --------------------------------------------------


async def get(world: World, path: str, key: str, **params: str) -> tuple[int, Any]:
    async with world.session.get(f"{world.gw.url}{path}", headers=bearer(key), params=params) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("owner", OWNERS)
async def test_a_listing_holds_only_the_tenants_videos(world: World, owner: str) -> None:
    status, page = await get(world, "/api/videos", world.tenants[owner].key, limit="200")
    assert status == 200
    assert page["items"]
    assert {v["owner"] for v in page["items"]} == {owner}
    ids = {v["id"] for v in page["items"]}
    other = world.other(owner)
    assert other.video not in ids
    assert other.spoken not in ids
    assert {world.tenants[owner].video, world.tenants[owner].spoken} <= ids


@pytest.mark.parametrize("owner", OWNERS)
async def test_search_finds_only_the_tenants_passages(world: World, owner: str) -> None:
    """Both libraries say nearly the same; each tenant's search finds its own passage only."""
    for query in (
        "Doctor Hart counted lanterns along the harbour wall",
        "harbour",
        SAYS[world.other(owner).owner],
    ):
        status, found = await get(world, "/api/search", world.tenants[owner].key, q=query, limit="50")
        assert status == 200, found
        assert found["hits"], query
        assert {hit["video_id"] for hit in found["hits"]} <= {
            world.tenants[owner].spoken,
            world.tenants[owner].video,
        }
        assert world.tenants[owner].spoken in {hit["video_id"] for hit in found["hits"]}


async def test_an_admin_searches_one_tenant_or_all(world: World) -> None:
    spoken = {t.spoken for t in world.tenants.values()}
    status, found = await get(world, "/api/search", ADMIN_KEY, q="harbour lanterns", owner="*", limit="50")
    assert status == 200
    assert spoken <= {hit["video_id"] for hit in found["hits"]}
    status, found = await get(world, "/api/search", ADMIN_KEY, q="harbour lanterns", owner="acme", limit="50")
    assert {hit["video_id"] for hit in found["hits"]} == {world.tenants["acme"].spoken}
    status, found = await get(world, "/api/search", ADMIN_KEY, q="harbour lanterns")  # its own tenant: empty
    assert (status, found["hits"]) == (200, [])


async def test_the_indexer_refuses_a_search_that_names_no_owner(world: World) -> None:
    """Whoever asks on the bus (not only the gateway) must say whose passages: no owner, no search."""
    rt = world.gw.rt
    for raw in (
        SearchRequest(q="harbour").model_dump_json(),
        '{"q": "harbour", "limit": 5}',
        '{"q": "harbour", "owner": "acme", "all_owners": true}',
    ):
        msg = await rt.nc.request(rt.settings.indexer.search_subject, raw.encode(), timeout=5)
        reply = SearchReply.model_validate_json(msg.data)
        assert reply.hits is None
        assert reply.error is not None
        assert reply.error.code in ("owner_required", "bad_request"), reply.error
    reply = SearchReply.model_validate_json(
        (
            await rt.nc.request(
                rt.settings.indexer.search_subject,
                SearchRequest(q="harbour", owner="bravo").model_dump_json().encode(),
                timeout=5,
            )
        ).data
    )
    assert reply.hits is not None
    assert {h.video_id for h in reply.hits} == {world.tenants["bravo"].spoken}


async def ask_library(
    world: World, key: str, question: str, conversation_id: str | None = None
) -> dict[str, Any]:
    async with world.session.ws_connect(f"{world.gw.url}/ws/chat", headers=bearer(key)) as ws:
        frame: dict[str, Any] = {"type": "message", "content": question}
        if conversation_id:
            frame["conversation_id"] = conversation_id
        await ws.send_json(frame)
        while True:
            answer = await ws.receive_json(timeout=30)
            if answer["type"] in ("done", "error"):
                return answer


@pytest.mark.parametrize("owner", OWNERS)
async def test_library_chat_cites_only_the_tenants_videos(world: World, owner: str) -> None:
    done = await ask_library(
        world, world.tenants[owner].key, "Who counted the lanterns along the harbour wall?"
    )
    assert done["type"] == "done", done
    assert done["citations"]
    assert {c["video_id"] for c in done["citations"]} <= {
        world.tenants[owner].spoken,
        world.tenants[owner].video,
    }


async def test_a_conversation_is_its_tenants(world: World) -> None:
    """Another tenant sending the same conversation id starts an empty conversation of its own and
    never reads (nor changes) the first tenant's."""
    acme, bravo = world.tenants["acme"], world.tenants["bravo"]
    conversation = new_id()
    first = await ask_library(world, acme.key, "Who counted the lanterns?", conversation)
    assert first["conversation_id"] == conversation
    cache = world.gw.rt.cache
    acmes = conversation_cache_key("acme", None, conversation)
    assert len((await cache.get(acmes, fresh=True))["messages"]) == 2
    assert await cache.get(conversation_cache_key("bravo", None, conversation), fresh=True) is None
    second = await ask_library(world, bravo.key, "And how many were there?", conversation)
    assert second["type"] == "done", second
    bravos = (await cache.get(conversation_cache_key("bravo", None, conversation), fresh=True))["messages"]
    assert [m["content"] for m in bravos if m["role"] == "user"] == ["And how many were there?"]
    assert len((await cache.get(acmes, fresh=True))["messages"]) == 2  # untouched


# -- admins and ?owner= -------------------------------------------------------------------------


async def test_an_admin_acts_for_a_tenant_with_owner(world: World) -> None:
    acme = world.tenants["acme"]
    status, body = await get(world, f"/api/videos/{acme.video}/status", ADMIN_KEY)
    assert status == 404  # the admin's own tenant has no such video
    status, body = await get(world, f"/api/videos/{acme.video}/status", ADMIN_KEY, owner="acme")
    assert status == 200
    assert body["owner"] == "acme"
    assert body["links"]["stream"] == f"/api/videos/{acme.video}?owner=acme"  # the links keep the scope
    async with world.session.get(
        f"{world.gw.url}{body['links']['thumbnail']}", headers=bearer(ADMIN_KEY)
    ) as resp:
        assert resp.status == 200
    status, page = await get(world, "/api/videos", ADMIN_KEY, owner="*", limit="200")
    assert status == 200
    assert {v["owner"] for v in page["items"]} >= set(OWNERS)
    status, usage = await get(world, "/api/usage", ADMIN_KEY, owner="*")
    assert status == 200
    assert {u["owner"] for u in usage["items"]} >= set(OWNERS)
    for bad, code in (("*", "bad_request"), ("Not An Owner", "bad_request"), ("a.b", "bad_request")):
        status, body = await get(world, f"/api/videos/{acme.video}/status", ADMIN_KEY, owner=bad)
        assert (status, body["error"]["code"]) == (400, code), bad


@pytest.mark.parametrize(
    "path",
    [
        "/api/videos",
        "/api/videos/{id}/status",
        "/api/videos/{id}",
        "/api/search?q=x",
        "/api/usage",
        "/api/keys",
        "/api/events",
        "/api/videos/{id}/events",
        "/api/webhooks",
        "/api/webhooks/{webhook}/deliveries",
        "/api/uploads/{upload}",
        "/v1/models",
    ],
)
async def test_owner_from_a_member_is_forbidden(world: World, path: str) -> None:
    acme = world.tenants["acme"]
    for asked in ("bravo", "acme", "*"):  # even its own name: ?owner= is for admins
        target = path.replace("{id}", acme.video).replace("{webhook}", acme.webhook)
        status, body = await get(world, target.replace("{upload}", acme.upload), acme.key, owner=asked)
        assert (status, body["error"]["code"]) == (403, "owner_forbidden"), (path, asked)
    async with world.session.get(
        f"{world.gw.url}/ws/chat", headers={**bearer(acme.key), **WS_HEADERS}, params={"owner": "bravo"}
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "owner_forbidden"
