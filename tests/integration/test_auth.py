"""Authentication at the edges, the gateway in-process (and once as its own process) over a real
nats-server and a real S3 server: every bad input of issue 12 is a specific 401/403 JSON error, the
gateway stays up, and nothing it logs holds the key; sessions (cookie, CSRF, sign-out, revoked
key), signed links (tampered, forged, replayed, expired, revoked), the admin key routes, /metrics,
the security headers, revocation seen by a second gateway process within the bound, and failing
closed when the key store cannot be read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nats.aio.client import Client as NATS

from tests.support.auth import ADMIN_KEY, SIGNING_SECRET, bearer, create_key, revoke_key, stall_key_watch
from tests.support.env import service_env
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.media import make_video
from tests.support.stored_videos import put_transcript
from vidsage.auth.keys import generate_key
from vidsage.auth.keystore import UNKNOWN_TTL_S, KeyStore
from vidsage.auth.signing import LinkClaims, sign_link
from vidsage.bus import provision_kv
from vidsage.contracts import names
from vidsage.contracts.names import thumbnail_key
from vidsage.contracts.transcript import Segment
from vidsage.settings import Settings
from vidsage_dev.infra import NatsServer, S3Server
from vidsage_dev.ports import free_port
from vidsage_gateway.sessions import SESSION_COOKIE

from .conftest import make_settings

pytestmark = pytest.mark.timeout(120)

ORIGIN_EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(
        tmp_path_factory.mktemp("auth") / "clip.mp4", "mp4", duration_s=2.0, width=160, height=120
    )


@pytest.fixture
async def gw(settings: Settings) -> AsyncIterator[RunningGateway]:
    async with running_gateway(settings) as gateway:
        yield gateway


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """No default headers, a cookie jar that keeps cookies of an IP address (the test server's)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def upload(http: aiohttp.ClientSession, base: str, clip: Path, key: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", clip.read_bytes(), filename="clip.mp4", content_type="application/octet-stream")
    async with http.post(f"{base}/api/videos/upload", data=form, headers=bearer(key)) as resp:
        body = await resp.json()
        assert resp.status == 201, body
    return body


async def answer(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with http.request(method, url, **kwargs) as resp:
        raw = await resp.read()
        return (
            resp.status,
            (json.loads(raw) if raw and resp.content_type == "application/json" else raw),
            resp.headers,
        )


def assert_error(body: Any, code: str) -> None:
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]


def captured(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """Everything the process logged so far: stdout, stderr (structlog) and the stdlib records."""
    out, err = capfd.readouterr()
    return out + err + caplog.text


async def still_up(http: aiohttp.ClientSession, base: str, key: str) -> None:
    status, _, _ = await answer(http, "GET", f"{base}/healthz")
    assert status == 200
    status, body, _ = await answer(http, "GET", f"{base}/api/videos", headers=bearer(key))
    assert status == 200, body


# -- bad Authorization headers and keys -----------------------------------------------------------

_, WELL_FORMED_UNKNOWN = generate_key()
TEN_KB_KEY = "vsk_" + "A" * 10240
BAD_HEADERS = [
    ("Basic dXNlcjpwYXNzd29yZA==", "bad_authorization"),
    ("Bearer", "bad_authorization"),
    ("Bearer    ", "bad_authorization"),
    ("Token " + WELL_FORMED_UNKNOWN, "bad_authorization"),
    (f"Bearer {WELL_FORMED_UNKNOWN} {WELL_FORMED_UNKNOWN}", "bad_authorization"),
    ("Bearer sk_live_" + "a" * 52, "malformed_key"),  # 60 characters, another prefix
    ("Bearer " + WELL_FORMED_UNKNOWN.replace("vsk_", "VSK_"), "malformed_key"),
    ("Bearer " + WELL_FORMED_UNKNOWN[:-1] + "-", "malformed_key"),  # a character outside base62
    ("Bearer " + WELL_FORMED_UNKNOWN[:-1], "malformed_key"),  # one short
    ("Bearer " + TEN_KB_KEY, "malformed_key"),  # a 10 kB key
    ("Bearer " + WELL_FORMED_UNKNOWN, "unknown_key"),
]


@pytest.mark.parametrize(("header", "code"), BAD_HEADERS, ids=lambda v: str(v)[:24])
async def test_bad_authorization_is_a_specific_401_and_never_logged(
    gw: RunningGateway,
    http: aiohttp.ClientSession,
    header: str,
    code: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for method, path in (("GET", "/api/videos"), ("DELETE", "/api/videos/x"), ("GET", "/ws/chat")):
        status, body, headers = await answer(
            http, method, f"{gw.url}{path}", headers={"Authorization": header}
        )
        assert status == 401, (path, body)
        assert_error(body, code)
        assert headers["WWW-Authenticate"].startswith('Bearer realm="vidsage"')
        assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    await still_up(http, gw.url, ADMIN_KEY)
    logged = captured(capfd, caplog)
    token = header.partition(" ")[2].strip()
    for fragment in {token, token[:40], token[4:40]} - {""}:
        assert fragment not in logged, "a key reached the log"


async def test_a_known_key_id_with_the_wrong_secret_is_unknown(
    gw: RunningGateway, http: aiohttp.ClientSession
) -> None:
    _key, key_id = await create_key(http, gw.url, "acme")
    forged = f"vsk_{key_id}_{generate_key()[1][-43:]}"
    status, body, _ = await answer(http, "GET", f"{gw.url}/api/usage", headers=bearer(forged))
    assert status == 401
    assert_error(body, "unknown_key")  # not "revoked" or "expired": a wrong secret learns nothing


async def test_a_header_past_the_parser_limit_is_refused_and_not_logged(
    gw: RunningGateway,
    http: aiohttp.ClientSession,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    huge = "vsk_" + base64.b64encode(os.urandom(30_000)).decode()
    status, _, _ = await answer(
        http, "GET", f"{gw.url}/api/videos", headers={"Authorization": f"Bearer {huge}"}
    )
    assert status == 400  # aiohttp's parser, before the application
    await still_up(http, gw.url, ADMIN_KEY)
    logged = captured(capfd, caplog)
    assert huge[:40] not in logged
    assert huge[4:60] not in logged


# -- the admin key routes ---------------------------------------------------------------------------


async def test_keys_are_created_listed_and_revoked_by_admins_only(
    gw: RunningGateway, http: aiohttp.ClientSession
) -> None:
    admin = bearer(ADMIN_KEY)
    status, created, headers = await answer(
        http, "POST", f"{gw.url}/api/keys", json={"owner": "acme", "label": "laptop"}, headers=admin
    )
    assert status == 201, created
    assert created["key"].startswith(f"vsk_{created['id']}_")
    assert (created["owner"], created["role"], created["label"]) == ("acme", "member", "laptop")
    assert headers["Cache-Control"] == "no-store"
    status, listing, _ = await answer(http, "GET", f"{gw.url}/api/keys", headers=admin)
    assert status == 200
    assert created["id"] in {k["id"] for k in listing["items"]}
    text = json.dumps(listing)
    assert created["key"] not in text
    assert all("hash" not in k and "key" not in k for k in listing["items"])
    status, acmes, _ = await answer(
        http, "GET", f"{gw.url}/api/keys", params={"owner": "acme"}, headers=admin
    )
    assert {k["owner"] for k in acmes["items"]} == {"acme"}

    member = bearer(created["key"])
    status, _, _ = await answer(http, "GET", f"{gw.url}/api/usage", headers=member)
    assert status == 200
    for method, path, kwargs in (
        ("GET", "/api/keys", {}),
        ("POST", "/api/keys", {"json": {"owner": "acme", "role": "admin"}}),
        ("DELETE", f"/api/keys/{created['id']}", {}),
    ):
        status, body, _ = await answer(http, method, f"{gw.url}{path}", headers=member, **kwargs)
        assert status == 403
        assert_error(body, "admin_only")

    status, _, _ = await answer(http, "DELETE", f"{gw.url}/api/keys/{created['id']}", headers=admin)
    assert status == 204
    status, _, _ = await answer(http, "DELETE", f"{gw.url}/api/keys/{created['id']}", headers=admin)
    assert status == 204  # revoking twice is fine
    status, body, _ = await answer(http, "GET", f"{gw.url}/api/usage", headers=member)
    assert status == 401
    assert_error(body, "revoked_key")
    (listed,) = [
        k
        for k in (await answer(http, "GET", f"{gw.url}/api/keys", headers=admin))[1]["items"]
        if k["id"] == created["id"]
    ]
    assert listed["revoked_at"] is not None
    assert listed["last_used_at"] is not None  # it was used once before
    for unknown in ("AAAAAAAAAAAA", "not-a-key-id", "x" * 300):
        status, body, _ = await answer(http, "DELETE", f"{gw.url}/api/keys/{unknown}", headers=admin)
        assert status == 404
        assert_error(body, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"owner": "Not An Owner"},
        {"owner": "a" * 64},
        {"owner": "-acme"},
        {"owner": "acme.corp"},
        {"owner": "*"},
        {"owner": ""},
        {},
        {"owner": "acme", "role": "root"},
        {"owner": "acme", "expires_in_days": 0},
        {"owner": "acme", "expires_in_days": 100000},
        {"owner": "acme", "label": "x" * 101},
        {"owner": "acme", "key": "vsk_chosen_by_the_client"},
        "not json",
    ],
    ids=lambda b: str(b)[:30],
)
async def test_invalid_key_requests_are_400(
    gw: RunningGateway, http: aiohttp.ClientSession, body: Any
) -> None:
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    status, answered, _ = await answer(
        http, "POST", f"{gw.url}/api/keys", headers=bearer(ADMIN_KEY), **kwargs
    )
    assert status == 400, answered
    assert_error(answered, "bad_request")


# -- sessions, cookies and CSRF -------------------------------------------------------------------


async def sign_in(http: aiohttp.ClientSession, base: str, key: str, **headers: str) -> aiohttp.ClientResponse:
    async with http.post(f"{base}/api/session", json={"key": key}, headers=headers) as resp:
        await resp.read()
        return resp


async def test_a_session_cookie_signs_a_browser_in_and_out(
    gw: RunningGateway, http: aiohttp.ClientSession, clip: Path
) -> None:
    key, _ = await create_key(http, gw.url, "acme")
    video = await upload(http, gw.url, clip, key)
    own = {"Origin": gw.url}
    resp = await sign_in(http, gw.url, key, **own)
    assert resp.status == 201
    cookie = resp.cookies[SESSION_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["secure"]  # plain http here
    assert int(cookie["max-age"]) == 12 * 3600
    session_id = cookie.value

    status, me, _ = await answer(http, "GET", f"{gw.url}/api/session")
    assert (status, me["owner"], me["role"]) == (200, "acme", "member")
    status, _, _ = await answer(
        http, "GET", f"{gw.url}/api/videos/{video['id']}", headers={"Range": "bytes=0-9"}
    )
    assert status == 206  # media with the cookie alone
    async with http.ws_connect(f"{gw.url}/ws/chat/{video['id']}", headers=own) as ws:  # the WebSocket too
        assert not ws.closed

    # state-changing requests with the cookie need the gateway's own Origin
    for headers, code in (({}, "origin_not_allowed"), ({"Origin": ORIGIN_EVIL}, "origin_not_allowed")):
        status, body, _ = await answer(http, "DELETE", f"{gw.url}/api/videos/{video['id']}", headers=headers)
        assert status == 403
        assert_error(body, code)
        status, body, _ = await answer(
            http, "POST", f"{gw.url}/api/videos/{video['id']}/links", json={}, headers=headers
        )
        assert status == 403
        assert_error(body, code)
        status, body, _ = await answer(
            http, "GET", f"{gw.url}/ws/chat", headers={**headers, **websocket_upgrade()}
        )
        assert status == 403
        assert_error(body, code)
    status, _, _ = await answer(
        http, "POST", f"{gw.url}/api/videos/{video['id']}/links", json={}, headers=own
    )
    assert status == 201

    # signing out ends the session: the old cookie works nowhere any more
    async with http.delete(f"{gw.url}/api/session", headers=own) as resp:
        assert resp.status == 204
        assert resp.cookies[SESSION_COOKIE].value == ""  # cleared
    stale = {"Cookie": f"{SESSION_COOKIE}={session_id}"}
    for path in ("/api/session", f"/api/videos/{video['id']}", "/api/videos"):
        status, body, _ = await answer(http, "GET", f"{gw.url}{path}", headers=stale)
        assert status == 401, path
        assert_error(body, "session_invalid")
    for forged in (
        "x" * 43,
        session_id[:-1] + ("A" if session_id[-1] != "A" else "B"),
        "../../etc",
        "a" * 5000,
    ):
        status, body, _ = await answer(
            http, "GET", f"{gw.url}/api/session", headers={"Cookie": f"{SESSION_COOKIE}={forged}"}
        )
        assert status == 401
        assert_error(body, "session_invalid")


async def test_a_cookie_from_a_revoked_key_stops_working_at_once(
    gw: RunningGateway, http: aiohttp.ClientSession
) -> None:
    key, key_id = await create_key(http, gw.url, "acme")
    assert (await sign_in(http, gw.url, key)).status == 201
    assert (await answer(http, "GET", f"{gw.url}/api/videos"))[0] == 200
    await revoke_key(http, gw.url, key_id)
    await asyncio.sleep(0.2)  # the watch brings the revocation in milliseconds
    status, body, _ = await answer(http, "GET", f"{gw.url}/api/videos")
    assert status == 401
    assert_error(body, "revoked_key")


async def test_signing_in_checks_the_key_and_the_origin(
    gw: RunningGateway, http: aiohttp.ClientSession
) -> None:
    key, key_id = await create_key(http, gw.url, "acme")
    for bad, code in (
        ("nonsense", "malformed_key"),
        (WELL_FORMED_UNKNOWN, "unknown_key"),
        ("", "malformed_key"),
    ):
        async with http.post(f"{gw.url}/api/session", json={"key": bad}) as resp:
            assert resp.status == 401
            assert_error(await resp.json(), code)
            assert SESSION_COOKIE not in resp.cookies
    async with http.post(f"{gw.url}/api/session", data=b"{not json") as resp:
        assert resp.status == 401
        assert_error(await resp.json(), "missing_credentials")
    async with http.post(f"{gw.url}/api/session", json={"key": key}, headers={"Origin": ORIGIN_EVIL}) as resp:
        assert resp.status == 403  # a foreign page cannot sign a browser in (login CSRF)
        assert_error(await resp.json(), "origin_not_allowed")
    async with http.post(f"{gw.url}/api/session", headers=bearer(key)) as resp:  # or the header
        assert resp.status == 201
    await revoke_key(http, gw.url, key_id)
    await asyncio.sleep(0.2)
    async with http.post(f"{gw.url}/api/session", json={"key": key}) as resp:
        assert resp.status == 401
        assert_error(await resp.json(), "revoked_key")


async def test_https_behind_a_trusted_proxy_makes_the_cookie_secure(
    nats_server: NatsServer, s3_server: Any, http: aiohttp.ClientSession
) -> None:
    trusted = make_settings(
        nats_server.url, s3_server.endpoint, gateway={"trusted_proxies": ["127.0.0.1/32"]}
    )
    async with running_gateway(trusted) as gw:
        key, _ = await create_key(http, gw.url, "acme")
        resp = await sign_in(http, gw.url, key, **{"X-Forwarded-Proto": "https"})
        assert resp.cookies[SESSION_COOKIE]["secure"]
    untrusted = make_settings(nats_server.url, s3_server.endpoint)
    async with running_gateway(untrusted) as gw:
        resp = await sign_in(http, gw.url, ADMIN_KEY, **{"X-Forwarded-Proto": "https"})
        assert not resp.cookies[SESSION_COOKIE]["secure"]  # a header anyone can send is not believed


async def test_a_session_works_on_every_replica_and_ends_on_all(
    settings: Settings, gw: RunningGateway, http: aiohttp.ClientSession
) -> None:
    async with running_gateway(settings) as replica:
        resp = await sign_in(http, gw.url, ADMIN_KEY)
        cookie = {"Cookie": f"{SESSION_COOKIE}={resp.cookies[SESSION_COOKIE].value}"}
        assert (await answer(http, "GET", f"{replica.url}/api/session", headers=cookie))[0] == 200
        async with http.delete(f"{gw.url}/api/session", headers=cookie):
            pass
        status, body, _ = await answer(http, "GET", f"{replica.url}/api/session", headers=cookie)
        assert status == 401
        assert_error(body, "session_invalid")


def websocket_upgrade() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }


# -- signed links ---------------------------------------------------------------------------------


async def media_video(gw: RunningGateway, http: aiohttp.ClientSession, clip: Path, key: str) -> str:
    """A video of the key's tenant with a thumbnail and a transcript."""
    video = await upload(http, gw.url, clip, key)
    vid = video["id"]
    await gw.rt.storage.put_bytes(thumbnail_key(vid), b"\xff\xd8 jpeg", content_type="image/jpeg")
    transcript, _ = await put_transcript(gw.rt, vid, [Segment(id=0, start=0.0, end=1.5, text=" Hello.")])
    await gw.rt.catalog.update(
        video["owner"],
        vid,
        lambda r: r.model_copy(
            update={"objects": {**r.objects, "thumbnail": thumbnail_key(vid), "transcript": transcript}}
        ),
    )
    return vid


async def test_signed_links_open_the_media_without_a_session(
    gw: RunningGateway, http: aiohttp.ClientSession, clip: Path
) -> None:
    key, key_id = await create_key(http, gw.url, "acme")
    vid = await media_video(gw, http, clip, key)
    other = await media_video(gw, http, clip, key)
    status, links, _ = await answer(
        http, "POST", f"{gw.url}/api/videos/{vid}/links", json={"expires_in_s": 600}, headers=bearer(key)
    )
    assert status == 201, links
    source = clip.read_bytes()
    async with aiohttp.ClientSession() as stranger:  # no key, no cookie
        status, body, headers = await answer(
            stranger, "GET", f"{gw.url}{links['stream']}", headers={"Range": "bytes=10-19"}
        )
        assert status == 206
        assert body == source[10:20]
        assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"  # meant to be shared
        assert (await answer(stranger, "HEAD", f"{gw.url}{links['stream']}"))[0] == 200
        status, body, headers = await answer(stranger, "GET", f"{gw.url}{links['thumbnail']}")
        assert (status, headers["Content-Type"]) == (200, "image/jpeg")
        status, body, headers = await answer(stranger, "GET", f"{gw.url}{links['transcript']}")
        assert status == 200
        assert body.startswith(b"WEBVTT")

        token = links["stream"].split("link=", 1)[1]
        claims, mac = token.split(".")
        flipped = claims[:-2] + ("A" if claims[-2] != "A" else "B") + claims[-1]
        other_secret = sign_link(
            b"another secret entirely, 32+ bytes!", LinkClaims("acme", vid, key_id, int(time.time()) + 600)
        )
        expired = sign_link(SIGNING_SECRET.encode(), LinkClaims("acme", vid, key_id, int(time.time()) - 1))
        for path, code in (
            (f"/api/videos/{vid}?link={flipped}.{mac}", "link_invalid"),  # tampered claims
            (f"/api/videos/{vid}?link={claims}.{mac[:-3]}", "link_invalid"),  # truncated signature
            (f"/api/videos/{vid}?link=garbage", "link_invalid"),
            (f"/api/videos/{vid}?link={'a' * 2000}", "link_invalid"),
            (f"/api/videos/{vid}?link={other_secret}", "link_invalid"),  # forged with another secret
            (f"/api/videos/{other}?link={token}", "link_invalid"),  # replayed onto another video
            (f"/api/videos/{other}/thumbnail?link={token}", "link_invalid"),
            (f"/api/videos/{vid}?link={expired}", "link_expired"),
            (f"/api/videos/{vid}/status?link={token}", "missing_credentials"),  # not a media route
        ):
            status, body, _ = await answer(stranger, "GET", f"{gw.url}{path}")
            assert status == (401 if code == "missing_credentials" else 403), (path, body)
            assert_error(body, code)
        status, body, _ = await answer(stranger, "DELETE", f"{gw.url}/api/videos/{vid}?link={token}")
        assert status == 401  # a link never deletes
        assert_error(body, "missing_credentials")
        status, body, _ = await answer(stranger, "GET", f"{gw.url}{links['stream']}&owner=bravo")
        assert status == 403
        assert_error(body, "owner_forbidden")

        await revoke_key(http, gw.url, key_id)
        await asyncio.sleep(0.2)
        status, body, _ = await answer(stranger, "GET", f"{gw.url}{links['stream']}")
        assert status == 403
        assert_error(body, "link_revoked")
    status, body, _ = await answer(http, "GET", f"{gw.url}/api/videos/{vid}/status", headers=bearer(key))
    assert_error(body, "revoked_key")
    status, body, _ = await answer(
        http, "GET", f"{gw.url}/api/videos/{vid}/status", headers=bearer(ADMIN_KEY)
    )
    assert status == 404  # the video is acme's, not the admin's own tenant's


@pytest.mark.parametrize("expires_in_s", [0, 59, 86401, "soon"])
async def test_a_link_lasts_a_minute_to_a_day(
    gw: RunningGateway, http: aiohttp.ClientSession, clip: Path, expires_in_s: Any
) -> None:
    video = await upload(http, gw.url, clip, ADMIN_KEY)
    status, body, _ = await answer(
        http,
        "POST",
        f"{gw.url}/api/videos/{video['id']}/links",
        json={"expires_in_s": expires_in_s},
        headers=bearer(ADMIN_KEY),
    )
    assert status == 400
    assert_error(body, "bad_request")


# -- /metrics, security headers -------------------------------------------------------------------


async def test_metrics_are_for_admins_and_the_metrics_token(
    nats_server: NatsServer, s3_server: Any, http: aiohttp.ClientSession
) -> None:
    token = base64.urlsafe_b64encode(os.urandom(24)).decode()
    settings = make_settings(nats_server.url, s3_server.endpoint, gateway={"metrics_token": token})
    async with running_gateway(settings) as gw:
        member, _ = await create_key(http, gw.url, "acme")
        status, body, _ = await answer(http, "GET", f"{gw.url}/metrics")
        assert status == 401
        assert_error(body, "missing_credentials")
        status, body, _ = await answer(http, "GET", f"{gw.url}/metrics", headers=bearer(member))
        assert status == 403
        assert_error(body, "admin_only")
        status, body, _ = await answer(http, "GET", f"{gw.url}/metrics", headers=bearer(token[:-1] + "x"))
        assert status == 401
        for key in (token, ADMIN_KEY):
            status, text, _ = await answer(http, "GET", f"{gw.url}/metrics", headers=bearer(key))
            assert status == 200
            assert b"vidsage_auth_failures_total" in text
        status, body, _ = await answer(http, "GET", f"{gw.url}/api/videos", headers=bearer(token))
        assert status == 401  # the metrics token opens /metrics and nothing else
        assert_error(body, "malformed_key")
        for open_path in ("/healthz", "/readyz", "/api/openapi.json", "/", "/static/app.js"):
            status, body, _ = await answer(http, "GET", f"{gw.url}{open_path}")
            if open_path == "/readyz":  # open, and not ready: no indexer answers searches here
                assert (status, body["error"]["code"]) == (503, "not_ready")
            else:
                assert status == 200, open_path  # these need nothing


async def test_every_response_has_the_security_headers(
    gw: RunningGateway, http: aiohttp.ClientSession, clip: Path
) -> None:
    video = await upload(http, gw.url, clip, ADMIN_KEY)
    for method, path, headers in (
        ("GET", "/", {}),
        ("GET", "/static/app.js", {}),
        ("GET", "/api/videos", bearer(ADMIN_KEY)),
        ("GET", f"/api/videos/{video['id']}", {**bearer(ADMIN_KEY), "Range": "bytes=0-9"}),
        ("GET", "/api/videos", {}),  # a 401
        ("GET", "/nothing", {}),  # a 404
        ("GET", "/healthz", {}),
    ):
        _, _, got = await answer(http, method, f"{gw.url}{path}", headers=headers)
        csp = got["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert got["X-Frame-Options"] == "DENY"
        assert got["X-Content-Type-Options"] == "nosniff"
        assert got["Referrer-Policy"] == "no-referrer"
        assert got["Cross-Origin-Resource-Policy"] == "same-origin"


async def test_framing_can_be_allowed_for_named_origins(
    nats_server: NatsServer, s3_server: Any, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(
        nats_server.url, s3_server.endpoint, gateway={"frame_ancestors": ["https://intranet.example"]}
    )
    async with running_gateway(settings) as gw:
        _, _, got = await answer(http, "GET", f"{gw.url}/")
    assert "frame-ancestors https://intranet.example" in got["Content-Security-Policy"]
    assert "X-Frame-Options" not in got


# -- bootstrap, revocation across processes, failing closed --------------------------------------


async def test_the_bootstrap_key_is_made_once_by_many_replicas_and_stays_revoked(
    settings: Settings, http: aiohttp.ClientSession
) -> None:
    async with running_gateway(settings) as one, running_gateway(settings) as two:  # at once
        status, listing, _ = await answer(http, "GET", f"{one.url}/api/keys", headers=bearer(ADMIN_KEY))
        bootstrap = [k for k in listing["items"] if k["label"] == "bootstrap"]
        assert len(bootstrap) == 1
        assert bootstrap[0]["role"] == "admin"
        assert (await answer(http, "GET", f"{two.url}/api/keys", headers=bearer(ADMIN_KEY)))[0] == 200
        other_admin, _ = await create_key(http, one.url, "local", role="admin")
        await revoke_key(http, one.url, bootstrap[0]["id"], admin_key=other_admin)
    async with running_gateway(settings) as restarted:  # a restart does not bring it back
        status, body, _ = await answer(http, "GET", f"{restarted.url}/api/keys", headers=bearer(ADMIN_KEY))
        assert status == 401
        assert_error(body, "revoked_key")


# -- a key the gateway's watch has not brought yet ------------------------------------------------


@pytest.fixture
async def stalled(nats_server: NatsServer, s3_server: S3Server) -> AsyncIterator[RunningGateway]:
    """A gateway whose key watch is stopped (as if its deliveries were late), with a 30 s bound so
    that it keeps serving meanwhile: whatever the bucket gets now reaches it only by a miss read."""
    settings = make_settings(nats_server.url, s3_server.endpoint, gateway={"key_sync_bound_s": 30})
    async with running_gateway(settings) as gateway:
        await stall_key_watch(gateway.auth.cache)
        yield gateway


async def test_a_new_key_works_at_once_on_a_gateway_its_watch_has_not_reached(
    stalled: RunningGateway, http: aiohttp.ClientSession, nc: NATS
) -> None:
    cache = stalled.auth.cache
    key, _ = await create_key(http, stalled.url, "acme")  # POST /api/keys, then at once:
    reads = cache.miss_reads
    status, body, _ = await answer(http, "GET", f"{stalled.url}/api/usage", headers=bearer(key))
    assert status == 200, body
    assert cache.miss_reads == reads + 1  # a miss, read from the bucket
    assert (await answer(http, "GET", f"{stalled.url}/api/usage", headers=bearer(key)))[0] == 200
    assert cache.miss_reads == reads + 1  # and kept
    # made by another gateway (its own connection, straight into the bucket): signing in works too
    elsewhere = KeyStore(await provision_kv(nc.jetstream(), names.KEYS_BUCKET))
    other, _ = await elsewhere.create("globex", "member")
    async with http.post(f"{stalled.url}/api/session", json={"key": other}) as resp:
        assert resp.status == 201, await resp.text()
    status, body, _ = await answer(http, "GET", f"{stalled.url}/api/session")
    assert status == 200, body
    assert body["owner"] == "globex"
    # revoked before this gateway ever saw it: the read finds it revoked
    revoked, stored = await elsewhere.create("globex", "member")
    await elsewhere.revoke(stored.id)
    status, body, _ = await answer(http, "GET", f"{stalled.url}/api/usage", headers=bearer(revoked))
    assert status == 401
    assert_error(body, "revoked_key")


async def test_a_made_up_key_is_unknown_for_a_read_of_the_bucket_per_second(
    stalled: RunningGateway, http: aiohttp.ClientSession
) -> None:
    cache = stalled.auth.cache
    _, made_up = generate_key()
    reads = cache.miss_reads
    started = time.monotonic()
    answers = await asyncio.gather(
        *(answer(http, "GET", f"{stalled.url}/api/usage", headers=bearer(made_up)) for _ in range(20))
    )
    elapsed = time.monotonic() - started
    for status, body, _ in answers:
        assert status == 401
        assert_error(body, "unknown_key")
    # one read, shared by the lookups while it ran and remembered for UNKNOWN_TTL_S after
    assert 1 <= cache.miss_reads - reads <= 1 + int(elapsed / UNKNOWN_TTL_S)


@contextlib.contextmanager
def gateway_process(settings: Settings, log: Path) -> Iterator[str]:
    """``python -m vidsage_gateway`` as its own process on a free port; its URL."""
    port = free_port()
    env = service_env(
        settings,
        VIDSAGE_GATEWAY__HOST="127.0.0.1",
        VIDSAGE_GATEWAY__PORT=str(port),
        VIDSAGE_GATEWAY__SIGNING_SECRET=SIGNING_SECRET,
        VIDSAGE_LOG_FORMAT="json",
    )
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidsage_gateway"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_for(
    http: aiohttp.ClientSession, url: str, key: str, want: int, *, seconds: float = 30
) -> float:
    """Poll ``url`` with ``key`` until it answers ``want``; the seconds that took."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(aiohttp.ClientConnectionError):
            async with http.get(url, headers=bearer(key)) as resp:
                if resp.status == want:
                    return time.monotonic() - started
        assert time.monotonic() - started < seconds, f"{url} never answered {want}"
        await asyncio.sleep(0.02)


async def test_a_second_gateway_process_refuses_a_revoked_key_within_the_bound(
    settings: Settings, gw: RunningGateway, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    log = tmp_path / "gateway-2.log"
    with gateway_process(settings, log) as second:
        key, key_id = await create_key(http, gw.url, "acme")
        await wait_for(http, f"{second}/api/usage", key, 200)  # started, and the new key reached it
        await revoke_key(http, gw.url, key_id)
        took = await wait_for(http, f"{second}/api/usage", key, 401)
        async with http.get(f"{second}/api/usage", headers=bearer(key)) as resp:
            assert_error(await resp.json(), "revoked_key")
    bound = settings.gateway.key_sync_bound_s
    assert took <= bound + 1.0, f"the second gateway served a revoked key {took:.2f} s after revocation"
    logged = log.read_text()
    assert '"event": "request"' in logged  # the process logged its requests...
    assert key not in logged  # ... and never the key
    assert ADMIN_KEY not in logged
    assert SIGNING_SECRET not in logged


async def test_without_the_key_store_authentication_fails_closed(
    nats_server: NatsServer, gw: RunningGateway, http: aiohttp.ClientSession
) -> None:
    assert (await answer(http, "GET", f"{gw.url}/api/usage", headers=bearer(ADMIN_KEY)))[0] == 200
    nats_server.stop()
    _, never_seen = generate_key()  # a miss: the read of the bucket fails, so it is not "unknown"
    status, body, _ = await answer(http, "GET", f"{gw.url}/api/usage", headers=bearer(never_seen))
    assert status == 503, body
    assert_error(body, "auth_unavailable")
    bound = gw.rt.settings.gateway.key_sync_bound_s
    await asyncio.sleep(bound + 0.5)
    for _ in range(3):
        status, body, headers = await answer(http, "GET", f"{gw.url}/api/usage", headers=bearer(ADMIN_KEY))
        assert status == 503, body
        assert_error(body, "auth_unavailable")
        assert headers["Retry-After"] == "1"
    status, body, _ = await answer(http, "GET", f"{gw.url}/readyz")
    assert status == 503
    assert body["error"]["checks"]["keys"] != "ok"
    status, _, _ = await answer(http, "GET", f"{gw.url}/healthz")
    assert status == 200  # alive, just not serving possibly revoked keys
