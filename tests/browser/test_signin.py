"""Signing in on the web page, in headless Chromium against the whole system started as ``make run``
starts it: the sign-in form (a wrong key explained in words), the sign-in link ``make run`` prints
(the key leaves the address bar at once), playing the video over byte ranges with the session
cookie, a signed link opened in a fresh browser context (no session), and signing out, after which
the media answers 401 and the page asks to sign in again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Browser, BrowserContext, Page, Playwright

from tests.support.media import make_video
from tests.support.paths import ROOT
from vidsage_dev.system import DevSystem

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "test-artifacts" / "browser"
PLAYER_TIME = "() => document.querySelector('#player').currentTime"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight seconds of H.264/AAC with the moov box at the end (the player must ask for ranges)."""
    return make_video(
        tmp_path_factory.mktemp("signin") / "walk.mp4", "mp4", duration_s=8.0, width=320, height=240
    )


@pytest.fixture(scope="module")
def api(playwright_session: Playwright, system: DevSystem) -> Iterator[APIRequestContext]:
    assert system.admin_key is not None
    context = playwright_session.request.new_context(
        base_url=system.gateway_url, extra_http_headers={"Authorization": f"Bearer {system.admin_key}"}
    )
    yield context
    context.dispose()


@pytest.fixture(scope="module")
def video(api: APIRequestContext, clip: Path) -> dict[str, Any]:
    response = api.post(
        "/api/videos/upload",
        multipart={"file": {"name": clip.name, "mimeType": "video/mp4", "buffer": clip.read_bytes()}},
    )
    assert response.status == 201, response.text()
    record: dict[str, Any] = response.json()
    return record


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def errors_of(page: Page) -> list[str]:
    found: list[str] = []
    page.on("pageerror", lambda exc: found.append(f"uncaught: {exc}"))
    return found


@pytest.mark.timeout(240)
def test_sign_in_play_share_and_sign_out(
    context: BrowserContext, browser: Browser, system: DevSystem, video: dict[str, Any]
) -> None:
    base, key = system.gateway_url, system.admin_key
    assert key is not None
    page = context.new_page()
    uncaught = errors_of(page)

    # Signed out: the sign-in form, and a wrong key explained in words.
    page.goto(f"{base}/")
    page.wait_for_selector("#key-input")
    assert page.locator("h1").inner_text() == "Sign in"
    assert page.locator("#account").is_hidden()
    page.fill("#key-input", "vsk_this_is_not_a_key")
    page.click(".signin-form button[type=submit]")
    page.wait_for_selector(".signin-form .error:not([hidden])")
    assert "not a vidsage key" in page.locator(".signin-form .error").inner_text()
    screenshot(page, "signin-refused")

    # The sign-in link `make run` prints: signed in, and the key is gone from the address bar at once.
    page.goto(f"{base}/#key={key}")
    page.wait_for_selector("#account:not([hidden])")
    assert key not in page.url
    assert "key=" not in page.evaluate("() => location.href")
    assert page.locator("#account .who").inner_text() == "local · admin"
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["vidsage_session"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert key not in session["value"]
    assert page.evaluate("() => document.cookie") == ""  # HttpOnly: the page's scripts cannot read it

    # Play the video with the cookie alone: byte ranges, 206, time advances.
    ranges: list[tuple[str | None, int]] = []
    page.on(
        "response",
        lambda r: (
            ranges.append((r.request.headers.get("range"), r.status))
            if re.search(r"/api/videos/[^/?#]+$", r.url)
            else None
        ),
    )
    page.goto(f"{base}/#/videos/{video['id']}")
    page.wait_for_function(
        "() => document.querySelector('#player') && document.querySelector('#player').readyState >= 1"
    )
    page.evaluate("() => { const v = document.querySelector('#player'); v.muted = true; return v.play(); }")
    page.wait_for_function(f"() => ({PLAYER_TIME})() > 1.0", timeout=20_000)
    assert any(rng and rng.startswith("bytes=") and status == 206 for rng, status in ranges), ranges

    # Share a link: a fresh context (no cookie, no key) plays it, over ranges too.
    page.click("#share")
    page.wait_for_selector("#share-link:not([hidden])")
    link = page.locator("#share-link").input_value()
    assert link.startswith(f"{base}/api/videos/{video['id']}?link=")
    screenshot(page, "signin-shared-link")
    stranger = browser.new_context()
    try:
        assert stranger.cookies() == []
        viewer = stranger.new_page()
        answers: list[int] = []
        viewer.on("response", lambda r: answers.append(r.status) if "link=" in r.url else None)
        viewer.goto(link)
        viewer.wait_for_selector("video")
        viewer.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }"
        )
        viewer.wait_for_function("() => document.querySelector('video').currentTime > 1.0", timeout=20_000)
        assert 206 in answers, answers
        assert stranger.request.get(link.split("#")[0]).status == 200
        assert stranger.request.get(f"{base}/api/videos/{video['id']}").status == 401  # without the link: no
    finally:
        stranger.close()

    # Sign out: the media answers 401 to this browser, and the page asks to sign in again.
    page.click("#sign-out")
    page.wait_for_selector("#key-input")
    assert context.request.get(f"{base}/api/videos/{video['id']}").status == 401
    assert context.request.get(f"{base}/api/videos/{video['id']}/thumbnail").status == 401
    assert "vidsage_session" not in {c["name"] for c in context.cookies()}
    screenshot(page, "signin-signed-out")
    assert not uncaught, uncaught


@pytest.mark.timeout(120)
def test_a_revoked_key_brings_the_sign_in_form_back(
    context: BrowserContext, api: APIRequestContext, system: DevSystem
) -> None:
    created = api.post("/api/keys", data={"owner": "walker", "role": "member"})
    assert created.status == 201, created.text()
    member = created.json()
    page = context.new_page()
    page.goto(f"{system.gateway_url}/#key={member['key']}")
    page.wait_for_selector("#account:not([hidden])")
    assert page.locator("#account .who").inner_text() == "walker · member"
    page.wait_for_selector(".library")  # its own (empty) library
    assert api.delete(f"/api/keys/{member['id']}").status == 204
    page.goto(f"{system.gateway_url}/#/search?q=anything")  # the next request answers 401
    page.wait_for_selector("#key-input")
    assert "revoked" in page.locator(".signin .notice").inner_text()
