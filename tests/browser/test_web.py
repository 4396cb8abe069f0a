"""The web page in a real browser: headless Chromium driven by Playwright, against the whole system
started the way ``make run`` starts it (real nats-server, S3 server and the five services).

What a person does on the page, checked by what they would see: upload a spoken-English video through
the picker, watch its status change without reloading until it is ``ready``, play it (``currentTime``
advances, fed by byte-range requests answered with 206), click a transcript line (the player seeks
there and the line is highlighted), search the library and open a hit (the video opens at that
moment), search within the video, ask the chat a question (the answer streams in token frames and its
citation link seeks the player), delete a video, see refusals explained in words, use a phone-sized
screen and the keyboard. Every page must run without console errors or uncaught exceptions.

Screenshots are written to ``test-artifacts/browser/`` at the repository root (git-ignored).
Skipped when ``/usr/bin/chromium`` is not installed (``apt-get install chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import APIRequestContext, Browser, BrowserContext, ConsoleMessage, Page, Playwright

from tests.support import capabilities
from tests.support.media import make_video
from tests.support.paths import ROOT
from tests.support.speech import SCRIPTS, make_speech_video
from vidsage_dev.system import DevSystem

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "test-artifacts" / "browser"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PROCESSING_TIMEOUT_MS = 120_000
WEB_DIR = ROOT / "services" / "gateway" / "src" / "vidsage_gateway" / "web"

PLAYER_TIME = "() => document.querySelector('#player').currentTime"


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 12 s of espeak-ng speech (SCRIPTS["short"]) in an H.264/AAC MP4, moov at the end."""
    capabilities.require("needs_espeak")
    return make_speech_video(tmp_path_factory.mktemp("clips") / "harbor-lanterns.mp4", SCRIPTS["short"])


@pytest.fixture(scope="module")
def api(playwright_session: Playwright, system: DevSystem) -> Iterator[APIRequestContext]:
    """Plain HTTP to the public API with the admin key, for setting up what a test does not do
    through the page."""
    assert system.admin_key is not None
    context = playwright_session.request.new_context(
        base_url=system.gateway_url, extra_http_headers={"Authorization": f"Bearer {system.admin_key}"}
    )
    yield context
    context.dispose()


def sign_in(context: BrowserContext, base: str, key: str) -> None:
    """Sign a browser context in as the page would (``POST /api/session``): its pages get the cookie."""
    response = context.request.post(f"{base}/api/session", data={"key": key})
    assert response.status == 201, response.text()


@dataclass
class Tab:
    """A page plus everything it said on the console."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    def goto(self, route: str = "#/") -> None:
        self.page.goto(f"{self.base}/{route}")

    def assert_no_errors(self, *allowed: str) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in allowed)]
        assert not unexpected, f"console errors: {unexpected}"

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


def _open_tab(browser: Browser, base: str, name: str, key: str | None, **context_args: Any) -> Iterator[Tab]:
    """A fresh browser context, signed in with ``key`` (None: signed out)."""
    context = browser.new_context(**{"viewport": DESKTOP, **context_args})
    context.set_default_timeout(30_000)
    if key is not None:
        sign_in(context, base, key)
    page = context.new_page()
    tab = Tab(page, base)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
    try:
        yield tab
    finally:
        tab.screenshot(f"{name}-last")  # what the page showed at the end, pass or fail
        context.close()


@pytest.fixture
def tab(browser: Browser, system: DevSystem, request: pytest.FixtureRequest) -> Iterator[Tab]:
    yield from _open_tab(browser, system.gateway_url, request.node.name, system.admin_key)


@pytest.fixture
def phone_tab(browser: Browser, system: DevSystem, request: pytest.FixtureRequest) -> Iterator[Tab]:
    yield from _open_tab(
        browser,
        system.gateway_url,
        request.node.name + "-phone",
        system.admin_key,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


def watch_live_streams(page: Page) -> list[tuple[str, int]]:
    """(path, status) of every live status stream (Server-Sent Events) the page opens."""
    opened: list[tuple[str, int]] = []

    def on_response(response: Any) -> None:
        path = urllib.parse.urlsplit(response.url).path
        if path.endswith("/events") and "text/event-stream" in response.headers.get("content-type", ""):
            opened.append((path, response.status))

    page.on("response", on_response)
    return opened


def upload_via_api(api: APIRequestContext, path: Path) -> dict[str, Any]:
    response = api.post(
        "/api/videos/upload",
        multipart={"file": {"name": path.name, "mimeType": "video/mp4", "buffer": path.read_bytes()}},
    )
    assert response.status == 201, response.text()
    return response.json()


@pytest.fixture(scope="module")
def ready_video(
    api: APIRequestContext, browser: Browser, system: DevSystem, speech_clip: Path
) -> dict[str, Any]:
    """The speech clip, uploaded through the API; returned once its page shows it ``ready``."""
    record = upload_via_api(api, speech_clip)
    context = browser.new_context()
    assert system.admin_key is not None
    sign_in(context, system.gateway_url, system.admin_key)
    try:
        page = context.new_page()
        page.goto(f"{system.gateway_url}/#/videos/{record['id']}")
        page.wait_for_selector(".badge-ready, .badge-failed", timeout=PROCESSING_TIMEOUT_MS)
    finally:
        context.close()
    record = api.get(f"/api/videos/{record['id']}/status").json()
    assert record["status"] == "ready", record
    return record


def player_time(page: Page) -> float:
    return float(page.evaluate(PLAYER_TIME))


def wait_player_near(page: Page, seconds: float, tolerance: float = 1.0) -> float:
    page.wait_for_function(
        f"() => Math.abs(document.querySelector('#player').currentTime - {seconds}) < {tolerance}"
    )
    return player_time(page)


def pause_at(page: Page, seconds: float) -> None:
    """Pause the player at ``seconds`` (and wait for the seek), so a later seek is visible."""
    page.evaluate(
        f"() => {{ const v = document.querySelector('#player'); v.pause(); v.currentTime = {seconds}; }}"
    )
    wait_player_near(page, seconds, 0.3)


def open_video(tab: Tab, video_id: str) -> None:
    tab.goto(f"#/videos/{video_id}")
    tab.page.wait_for_selector(".transcript-lines li")
    tab.page.wait_for_function("() => document.querySelector('#player').readyState >= 1")


# -- tests ----------------------------------------------------------------------------------------


def test_page_and_static_files_are_served(api: APIRequestContext) -> None:
    page = api.get("/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/app.js">' in page.text()

    expected = {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
    }
    shipped = sorted(p for p in WEB_DIR.iterdir() if p.suffix in expected)
    assert {p.name for p in shipped} >= {"app.js", "style.css", "icon.svg"}
    for path in shipped:
        response = api.get(f"/static/{path.name}")
        assert response.status == 200, path.name
        assert response.headers["content-type"] == expected[path.suffix], path.name
        assert response.headers["cache-control"] == "no-cache"
        assert response.body() == path.read_bytes()
        again = api.get(f"/static/{path.name}", headers={"If-None-Match": response.headers["etag"]})
        assert again.status == 304, path.name

    # Every module an import names is shipped (a missing one breaks the page silently elsewhere).
    for path in WEB_DIR.glob("*.js"):
        for name in re.findall(r'from "\./([\w.-]+)"', path.read_text()):
            assert (WEB_DIR / name).is_file(), f"{path.name} imports missing {name}"

    # No listing, nothing outside the shipped files, no Python source.
    for probe in ["/static/", "/static/__init__.py", "/static/%2e%2e/app.py", "/static/nope.js"]:
        response = api.get(probe)
        assert response.status == 404, probe
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.timeout(300)
def test_upload_watch_play_seek_and_search(tab: Tab, api: APIRequestContext, speech_clip: Path) -> None:
    page = tab.page
    stream_requests: list[tuple[str | None, int]] = []
    page.on(
        "response",
        lambda r: (
            stream_requests.append((r.request.headers.get("range"), r.status))
            if re.search(r"/api/videos/[^/?#]+$", r.url)
            else None
        ),
    )
    live = watch_live_streams(page)
    tab.goto("#/")
    page.wait_for_selector("#upload-input", state="attached")
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page reloads

    # Upload through the picker: the row shows progress and then success, the card appears at once.
    with page.expect_response(lambda r: "/api/uploads/" in r.url and r.request.method == "PATCH") as answer:
        page.set_input_files("#upload-input", str(speech_clip))
    assert answer.value.status == 204  # tus: the PATCH that completes the upload names the video
    video_id = answer.value.headers["vidsage-video-id"]
    page.wait_for_selector(".upload-row.done")
    assert page.locator(".upload-row progress").evaluate("el => el.value") == 100
    card = page.locator(f'.video-card[data-video-id="{video_id}"]')
    assert card.get_attribute("data-status") != "ready"
    assert "harbor-lanterns.mp4" in card.inner_text()
    assert "00:1" in card.locator(".video-meta").inner_text()  # duration ≈ 12 s
    tab.screenshot("library-processing-desktop")

    # Live status: the card reaches ready without a reload, showing a thumbnail on the way.
    page.wait_for_selector(
        f'.video-card[data-video-id="{video_id}"]:is([data-status=ready], [data-status=failed])',
        timeout=PROCESSING_TIMEOUT_MS,
    )
    assert card.get_attribute("data-status") == "ready", card.inner_text()
    assert card.locator(".badge").inner_text() == "Ready"
    assert page.evaluate("() => window.__sameDocument === true"), "the library reloaded"
    assert ("/api/events", 200) in live, live  # learned over its live status stream (EventSource)
    card.locator("img").wait_for()
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    tab.screenshot("library-desktop")

    # The video page: transcript beside the player, subtitles from the VTT track, downloads.
    card.locator(".video-name a").click()
    page.wait_for_selector(".transcript-lines li")
    assert page.locator("h1").inner_text() == "harbor-lanterns.mp4"
    lines = page.locator(".transcript-lines li")
    assert lines.count() >= 2
    transcript_text = " ".join(lines.all_inner_texts()).lower()
    assert "lanterns" in transcript_text
    assert "jellyfish" in transcript_text
    page.wait_for_function(
        "() => { const t = document.querySelector('#player').textTracks[0];"
        " return t && t.mode === 'showing' && t.cues && t.cues.length > 0; }"
    )
    for fmt in ("srt", "vtt", "txt"):
        href = page.locator(".downloads a", has_text=fmt.upper()).get_attribute("href")
        response = api.get(href or "")
        assert response.status == 200
        assert "lanterns" in response.text().lower()

    # Play: time advances, fed by byte ranges the gateway answers with 206.
    page.evaluate("() => document.querySelector('#player').play()")
    page.wait_for_function(f"() => ({PLAYER_TIME})() > 1.5", timeout=20_000)
    assert any(rng and rng.startswith("bytes=") and status == 206 for rng, status in stream_requests), (
        stream_requests
    )

    # Click a transcript line: the player seeks to its start and the line is highlighted.
    second = lines.nth(1)
    start = float(second.get_attribute("data-start") or "nan")
    assert start > 2
    pause_at(page, 0.2)
    second.locator(".text").click()
    wait_player_near(page, start)
    page.wait_for_selector(".transcript-lines li:nth-child(2).current")
    assert second.get_attribute("aria-current") == "true"
    assert re.search(rf"#/videos/{video_id}\?t={start:.2f}$", page.url)
    tab.screenshot("video-desktop")

    # Search within this video: a hit seeks the player.
    pause_at(page, 11.0)
    page.fill("#video-search-input", "lanterns harbor wall")
    page.press("#video-search-input", "Enter")
    hit = page.locator(".video-hits .hit").first
    hit.wait_for()
    assert "lanterns" in hit.inner_text().lower()
    assert hit.locator("mark").count() >= 1
    hit_start = float(hit.locator("a").get_attribute("data-t") or "nan")
    hit.locator("a").click()
    wait_player_near(page, hit_start)

    # Search the library from the header and open a hit: the video opens at that moment.
    page.fill("#search-input", "bioluminescent jellyfish")
    page.press("#search-input", "Enter")
    page.wait_for_url(re.compile(r"#/search\?q=bioluminescent"))
    result = page.locator(".library-hits .hit-link").first
    result.wait_for()
    assert "jellyfish" in result.inner_text().lower()
    assert "harbor-lanterns.mp4" in result.inner_text()
    # the hit's matching sentence is highlighted inside its passage, and the link seeks to it
    top = api.get("/api/search", params={"q": "bioluminescent jellyfish", "limit": "20"}).json()["hits"][0]
    lo, hi = top["match_chars"]
    assert result.locator("mark.match").inner_text() == top["text"][lo:hi]
    assert result.locator(".text").inner_text().split() == top["text"].split()
    tab.screenshot("search-desktop")
    href = result.get_attribute("href") or ""
    match = re.fullmatch(rf"#/videos/{video_id}\?t=([\d.]+)", href)
    assert match, href
    assert float(match.group(1)) == pytest.approx(top["match_start"], abs=0.01)
    result.click()
    page.wait_for_selector(".transcript-lines li")
    wait_player_near(page, float(match.group(1)))
    page.wait_for_selector(".transcript-lines li.current")

    tab.assert_no_errors()


@pytest.mark.timeout(180)
def test_video_page_fills_in_as_processing_ends(tab: Tab, api: APIRequestContext, speech_clip: Path) -> None:
    """Opened right after the upload: status, transcript, subtitles and chat arrive without a reload."""
    record = upload_via_api(api, speech_clip)
    page = tab.page
    live = watch_live_streams(page)
    tab.goto(f"#/videos/{record['id']}")
    page.locator("h1", has_text="harbor-lanterns.mp4").wait_for()
    assert page.locator(".video-info .badge").inner_text() != "Ready"
    assert page.locator("#chat-input").is_disabled()
    assert page.locator(".chat .hint").inner_text() == "Chat opens once the video is ready."
    assert page.locator("#video-search-input").is_disabled()
    assert page.locator(".transcript-lines li").count() == 0
    page.evaluate("() => { window.__sameDocument = true; }")

    page.locator(".video-info .badge", has_text="Ready").wait_for(timeout=PROCESSING_TIMEOUT_MS)
    assert page.locator(".transcript-lines li").count() >= 2
    assert page.locator("#chat-input").is_enabled()
    assert page.locator("#video-search-input").is_enabled()
    page.wait_for_function(
        "() => { const t = document.querySelector('#player').textTracks[0];"
        " return t && t.mode === 'showing' && t.cues && t.cues.length > 0; }"
    )
    assert page.evaluate("() => window.__sameDocument === true"), "the page reloaded"
    assert (f"/api/videos/{record['id']}/events", 200) in live, live
    tab.assert_no_errors()


@pytest.mark.timeout(240)
def test_chat_streams_an_answer_with_citation_links(tab: Tab, ready_video: dict[str, Any]) -> None:
    page = tab.page
    frames: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(_json_frame(payload)))

    page.on("websocket", on_socket)
    open_video(tab, ready_video["id"])
    page.wait_for_selector("#chat-input:not([disabled])")
    pause_at(page, 11.0)

    page.fill("#chat-input", "How many lanterns did Doctor Hart count along the harbor wall?")
    page.press("#chat-input", "Enter")
    answer = page.locator(".msg.assistant").last
    page.wait_for_selector(".msg.assistant[aria-busy='false']", timeout=60_000)

    tokens = [f for f in frames if f.get("type") == "token"]
    done = [f for f in frames if f.get("type") == "done"]
    assert len(tokens) >= 2, frames  # streamed, not one block
    assert len(done) == 1, frames
    assert done[0]["citations"], done[0]
    assert not [f for f in frames if f.get("type") == "error"], frames
    streamed = "".join(t["content"] for t in tokens)
    text = answer.locator(".answer-text").inner_text()
    assert text.split() == streamed.split()  # what streamed in is what is shown
    assert "42" in text or "forty" in text.lower()

    # Every citation is a link to its moment (listed under the answer, and each [mm:ss] mark in it).
    citations = done[0]["citations"]
    sources = answer.locator(".citations a.citation")
    assert sources.count() == len(citations)
    for i, citation in enumerate(citations):
        assert _moment(sources.nth(i).get_attribute("href")) == (
            ready_video["id"],
            pytest.approx(citation["start"], abs=0.01),
        )
    marks = answer.locator(".answer-text a.citation")
    assert marks.count() >= 1
    tab.screenshot("chat-desktop")
    # Clicking one seeks the player to that moment.
    mark_id, mark_t = _moment(marks.first.get_attribute("href"))
    assert mark_id == ready_video["id"]
    assert any(abs(c["start"] - mark_t) < 0.01 for c in citations)
    marks.first.click()
    wait_player_near(page, mark_t)
    pause_at(page, 11.0)
    sources.first.click()
    wait_player_near(page, citations[0]["start"])

    # The conversation goes on over the same socket with the conversation id.
    page.fill("#chat-input", "What glowed like a jellyfish?")
    page.press("#chat-input", "Enter")
    page.wait_for_function(
        "() => document.querySelectorAll(\".msg.assistant[aria-busy='false']\").length === 2"
    )
    assert len([f for f in frames if f.get("type") == "done"]) == 2
    tab.assert_no_errors()


@pytest.mark.timeout(120)
def test_library_chat_links_to_the_cited_video(tab: Tab, ready_video: dict[str, Any]) -> None:
    page = tab.page
    tab.goto("#/")
    page.wait_for_selector("#chat-input:not([disabled])")
    page.fill("#chat-input", "What glowed like a jellyfish in the dark water?")
    page.press("#chat-input", "Enter")
    answer = page.locator(".msg.assistant").last
    page.wait_for_selector(".msg.assistant[aria-busy='false']", timeout=60_000)
    assert "jellyfish" in answer.locator(".answer-text").inner_text()
    source = answer.locator(".citations a.citation").first
    assert "harbor-lanterns.mp4" in source.inner_text()  # a library answer names the video
    video_id, start = _moment(source.get_attribute("href"))
    tab.screenshot("library-chat-desktop")
    source.click()
    page.wait_for_selector(".transcript-lines li")
    assert page.locator("h1").inner_text() == "harbor-lanterns.mp4"
    assert video_id in page.url
    wait_player_near(page, start)
    tab.assert_no_errors()


@pytest.mark.timeout(120)
def test_chat_citations_show_their_video_and_support(tab: Tab, ready_video: dict[str, Any]) -> None:
    """A language-model answer whose second citation the support check found unsupported. The chat
    socket is answered in the browser (Playwright's WebSocket routing) with such a ``done`` frame:
    the local system has no language model, and the frame is what the page must render."""
    page = tab.page
    vid = ready_video["id"]
    sent: list[dict[str, Any]] = []

    def serve(ws: Any) -> None:
        def on_message(message: str | bytes) -> None:
            frame = json.loads(message)
            sent.append(frame)
            ws.send(json.dumps({"type": "token", "content": "Dr. Hart counted 42 lanterns [00:01]. "}))
            ws.send(json.dumps({"type": "token", "content": "They were blue [00:05]."}))
            done = {
                "type": "done",
                "message_id": "m1",
                "conversation_id": "c1",
                "mode": "llm",
                "unsupported": 1,
                "citations": [
                    {
                        "video_id": vid,
                        "filename": "harbor-lanterns.mp4",
                        "start": 1.0,
                        "end": 4.0,
                        "text": "counted 42 lanterns",
                        "supported": True,
                        "support_score": 0.81,
                    },
                    {
                        "video_id": vid,
                        "filename": "harbor-lanterns.mp4",
                        "start": 5.0,
                        "end": 8.0,
                        "text": "along the harbor wall",
                        "supported": False,
                        "support_score": 0.12,
                    },
                ],
            }
            ws.send(json.dumps(done))

        ws.on_message(on_message)

    page.route_web_socket(re.compile(r".*/ws/chat$"), serve)
    tab.goto("#/")
    page.wait_for_selector("#chat-input:not([disabled])")
    page.fill("#chat-input", "How many lanterns were there?")
    page.press("#chat-input", "Enter")
    answer = page.locator(".msg.assistant").last
    page.wait_for_selector(".msg.assistant[aria-busy='false']", timeout=30_000)
    assert sent[0]["content"] == "How many lanterns were there?"
    items = answer.locator(".citations li")
    assert items.count() == 2
    good, bad = items.nth(0), items.nth(1)
    # each source names its video (library chat) and carries the support mark
    assert good.locator("a.citation").inner_text() == "harbor-lanterns.mp4 00:01"
    assert "✓ supported" in good.inner_text()
    assert "not supported" in bad.inner_text()
    assert bad.get_attribute("class") == "unsupported"
    assert "line-through" in bad.locator("q").evaluate("e => getComputedStyle(e).textDecorationLine")
    assert good.locator("q").evaluate("e => getComputedStyle(e).textDecorationLine") == "none"
    assert "1 citation does not seem to support the answer." in answer.inner_text()
    tab.screenshot("chat-support-desktop")
    tab.assert_no_errors()


def _moment(href: str | None) -> tuple[str, float]:
    match = re.fullmatch(r"#/videos/([^?]+)\?t=([\d.]+)", href or "")
    assert match, href
    return match.group(1), float(match.group(2))


def _json_frame(payload: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except ValueError:
        return {"type": "not-json", "payload": str(payload)}
    return value if isinstance(value, dict) else {"type": "not-an-object"}


def test_phone_layout_and_keyboard(phone_tab: Tab, ready_video: dict[str, Any]) -> None:
    page = phone_tab.page
    no_overflow = "() => document.documentElement.scrollWidth <= window.innerWidth"

    phone_tab.goto("#/")
    page.locator(f'.video-card[data-video-id="{ready_video["id"]}"]').wait_for()
    assert page.evaluate(no_overflow), "the library scrolls sideways on a phone"
    phone_tab.screenshot("library-phone")

    open_video(phone_tab, ready_video["id"])
    assert page.evaluate(no_overflow), "the video page scrolls sideways on a phone"
    player = page.locator("#player").bounding_box()
    transcript = page.locator(".transcript").bounding_box()
    assert player
    assert transcript
    assert player["width"] <= PHONE["width"]
    assert transcript["y"] >= player["y"] + player["height"]  # one column: the transcript below
    phone_tab.screenshot("video-phone")

    # Keyboard only, from a fresh load: skip link first, then search, a result, a transcript line.
    phone_tab.goto("")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    assert page.url.endswith(f"{phone_tab.base}/")  # the hash stays the router's
    page.locator("#search-input").focus()
    page.keyboard.type("lanterns")
    page.keyboard.press("Enter")
    page.locator(".library-hits .hit-link").first.wait_for()
    assert page.evaluate("() => document.activeElement.tagName") == "H1"  # focus moved to the new view
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('hit-link')"):
            break
    else:
        raise AssertionError("Tab never reached a search result")
    page.keyboard.press("Enter")
    page.wait_for_selector(".transcript-lines li")
    page.locator(".transcript-lines li").nth(1).locator("a").focus()
    page.keyboard.press("Enter")
    start = float(page.locator(".transcript-lines li").nth(1).get_attribute("data-start") or "nan")
    wait_player_near(page, start)
    phone_tab.assert_no_errors()


def test_refusals_are_explained_in_words(tab: Tab, api: APIRequestContext, tmp_path: Path) -> None:
    page = tab.page
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.url.endswith("/api/uploads/") else None)
    tab.goto("#/")
    page.wait_for_selector("#upload-input", state="attached")

    # Dropped on the drop zone: the zone shows it is a target, and the file is checked.
    zone = page.locator(".drop-zone")
    dropped = page.evaluate_handle(
        "() => { const d = new DataTransfer();"
        " d.items.add(new File(['hello'], 'dropped.txt', {type: 'text/plain'})); return d; }"
    )
    zone.dispatch_event("dragenter", {"dataTransfer": dropped})
    assert "dragging" in (zone.get_attribute("class") or "")
    zone.dispatch_event("drop", {"dataTransfer": dropped})
    assert "dragging" not in (zone.get_attribute("class") or "")
    dropped_row = page.locator(".upload-row", has_text="dropped.txt")
    assert (
        dropped_row.locator("[role=alert]").inner_text()
        == "Not uploaded: This is not an MP4, MOV or AVI video."
    )

    # Checked in the browser, never sent: wrong type, over the size limit, over 3 minutes.
    big = tmp_path / "too-big.mp4"
    with big.open("wb") as f:
        f.truncate(100 * 1024 * 1024 + 1)  # sparse: no disk used
    long_clip = make_video(tmp_path / "too-long.mp4", "mp4", duration_s=181.0, width=64, height=48, fps=5)
    page.set_input_files("#upload-input", [{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}])
    page.set_input_files("#upload-input", str(big))
    page.set_input_files("#upload-input", str(long_clip))
    rows = page.locator(".upload-row.failed [role=alert]")
    rows.nth(3).wait_for()
    messages = rows.all_inner_texts()
    assert "Not uploaded: This is not an MP4, MOV or AVI video." in messages
    assert "Not uploaded: This file is 100.0 MiB, over the 100 MiB limit." in messages
    assert "Not uploaded: This video lasts 03:01; the limit is 03:00." in messages
    assert uploads == []

    # Sent, refused by the server (it decides the type by content): its message is shown.
    fake = b"this is text pretending to be a video\n" * 20
    expected = api.post(
        "/api/videos/upload",
        multipart={"file": {"name": "fake.mp4", "mimeType": "video/mp4", "buffer": fake}},
    )
    assert expected.status == 415
    server_message = expected.json()["error"]["message"]
    page.set_input_files("#upload-input", [{"name": "fake.mp4", "mimeType": "video/mp4", "buffer": fake}])
    refused = page.locator(".upload-row.failed [role=alert]", has_text="Refused by the server")
    refused.wait_for()
    assert refused.inner_text() == f"Refused by the server: {server_message}"
    assert len(uploads) == 1
    tab.screenshot("refusals-desktop")
    # The browser itself logs the 415 answer; anything else is a fault of the page.
    tab.assert_no_errors("status of 415")


def test_upload_progress_and_cancel(tab: Tab, api: APIRequestContext, speech_clip: Path) -> None:
    """On a slow link the bar moves by percent, and Cancel stops the upload: nothing is stored."""
    page = tab.page
    before = {v["id"] for v in api.get("/api/videos?limit=200").json()["items"]}
    tab.goto("#/")
    page.wait_for_selector("#upload-input", state="attached")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(  # about 40 KB/s up: the 390 KB clip takes ~10 s
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 40_000},
    )
    page.set_input_files("#upload-input", str(speech_clip))
    page.wait_for_function(
        "() => { const bar = document.querySelector('.upload-row progress');"
        " return bar && bar.value > 5 && bar.value < 90; }"
    )
    row = page.locator(".upload-row").first
    assert re.search(r"Uploading… \d+ %", row.inner_text())
    tab.screenshot("upload-progress-desktop")
    page.get_by_role("button", name="Cancel the upload of harbor-lanterns.mp4").click()
    assert row.locator("[role=alert]").inner_text() == "Not uploaded: The upload was cancelled."
    assert row.get_by_role("button", name=re.compile("Cancel")).count() == 0
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    after = {v["id"] for v in api.get("/api/videos?limit=200").json()["items"]}
    assert after == before
    # the page terminates the cancelled upload; until the gateway has seen the PATCH end, that
    # termination is refused with 423 and tried again
    page.wait_for_function("() => !Object.keys(localStorage).some(k => k.startsWith('vidsage.upload:'))")
    tab.assert_no_errors("(Locked)")


def test_delete_from_the_video_page(
    tab: Tab, api: APIRequestContext, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clip = make_video(tmp_path_factory.mktemp("delete") / "to-delete.mp4", "mp4", duration_s=2.0)
    record = upload_via_api(api, clip)
    page = tab.page
    tab.goto(f"#/videos/{record['id']}")
    page.locator("h1", has_text="to-delete.mp4").wait_for()
    page.get_by_role("button", name="Delete video…").click()
    dialog = page.locator("dialog.confirm")
    assert dialog.is_visible()
    page.get_by_role("button", name="Cancel").click()
    assert not dialog.is_visible()
    assert api.get(f"/api/videos/{record['id']}/status").status == 200

    page.get_by_role("button", name="Delete video…").click()
    page.locator("dialog.confirm").get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url(re.compile(r"#/$"))
    page.locator("h1", has_text="Library").wait_for()
    assert page.locator(f'.video-card[data-video-id="{record["id"]}"]').count() == 0
    assert api.get(f"/api/videos/{record['id']}/status").status == 404
    tab.assert_no_errors()


def test_the_page_ships_in_the_gateway_wheel(tmp_path: Path) -> None:
    """Images install the gateway from its wheel (not editable): every page file must be inside."""
    source = tmp_path / "gateway"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(
        ROOT / "services" / "gateway",
        source,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("vidsage_gateway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"vidsage_gateway/web/{p.name}"
        for p in WEB_DIR.iterdir()
        if p.suffix in {".html", ".js", ".css", ".svg"}
    }
    assert "vidsage_gateway/web/index.html" in shipped
    assert shipped <= names, sorted(shipped - names)


def test_an_upload_resumes_after_a_reload_and_a_dropped_connection(
    tab: Tab, api: APIRequestContext, tmp_path: Path
) -> None:
    """An upload an earlier page left half done resumes when the same file is chosen again, and a
    PATCH whose connection drops is retried from the offset the server reports."""
    clip = make_video(tmp_path / "resumed.mp4", "mp4", duration_s=2.0)
    os.utime(clip, (1_700_000_000, 1_700_000_000))  # the page keys the upload by name, size and mtime
    data = clip.read_bytes()
    half = len(data) // 2
    tus = {"Tus-Resumable": "1.0.0"}
    created = api.post(
        "/api/uploads/",
        headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": "filename cmVzdW1lZC5tcDQ="},
    )
    assert created.status == 201, created.text()
    url = created.headers["location"]
    first = api.fetch(
        url,
        method="PATCH",
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        data=data[:half],
    )
    assert first.status == 204
    page = tab.page
    tab.goto("#/")
    page.wait_for_selector("#upload-input", state="attached")
    # the earlier page's memory of that upload, as it would have left it before the reload
    page.evaluate(
        "([key, url]) => localStorage.setItem(key, url)",
        [f"vidsage.upload:resumed.mp4:{len(data)}:1700000000000", url],
    )
    offsets: list[str] = []
    dropped: list[bool] = []

    def drop_the_first_patch(route: Any) -> None:
        if route.request.method == "PATCH" and not dropped:
            dropped.append(True)
            route.abort("connectionreset")
        else:
            if route.request.method == "PATCH":
                offsets.append(route.request.headers["upload-offset"])
            route.continue_()

    page.route("**/api/uploads/**", drop_the_first_patch)
    page.set_input_files("#upload-input", str(clip))
    row = page.locator(".upload-row", has_text="resumed.mp4")
    row.and_(page.locator(".upload-row.done")).wait_for()
    assert row.get_attribute("data-resumed-at") == str(half)
    assert dropped == [True]
    assert offsets == [str(half)]  # retried from where the server was, never from zero
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('vidsage.upload:'))") == []
    video_id = row.get_by_role("link", name="Open").get_attribute("href").rsplit("/", 1)[1]  # type: ignore[union-attr]
    record = api.get(f"/api/videos/{video_id}/status").json()
    assert (record["filename"], record["size"]) == ("resumed.mp4", len(data))
    tab.assert_no_errors("net::ERR_CONNECTION_RESET")
