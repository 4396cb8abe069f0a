"""The rendered WebVTT loads in a real browser ``<track>`` (headless Chromium).

A page served over HTTP holds ``<video src=clip.mp4><track src=subs.vtt default>``; its script puts
the track in ``hidden`` mode (which makes the browser fetch and parse it), waits for the track
element's ``load`` or ``error`` event (and for the clip's ``loadedmetadata``, so the video's
duration can be reported too) and writes the outcome as JSON into ``<pre id=out>``.
Chromium runs with ``--dump-dom`` and ``--virtual-time-budget``, so the DOM is printed once the page
is quiet (network idle, timers run), without a fixed sleep.

What the page reports for each cue: ``startTime``, ``endTime``, ``text`` (the *raw* cue text, with
``&amp;`` etc. still escaped), ``getCueAsHTML().textContent`` (the text a viewer sees, decoded)
and ``id`` (the cue identifier).

Skipped when ``/usr/bin/chromium`` is not installed (``apt-get install chromium``).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.media import make_video
from vidsage.contracts.transcript import Segment, Transcript, to_srt, to_vtt

CHROMIUM_TIMEOUT_S = 60
CLIP_DURATION_S = 2.0

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>track check</title>
<video id="video" src="clip.mp4" muted preload="auto">
  <track id="track" kind="subtitles" srclang="en" label="English" src="{subs}" default></track>
</video>
<pre id="out">pending</pre>
<script>
const out = document.getElementById("out");
const video = document.getElementById("video");
const el = document.getElementById("track");
let done = false;
let trackState = null;
let videoSettled = false;
function report(state) {{
  if (done) return;
  done = true;
  const list = el.track.cues;
  const cues = list ? Array.from(list, (c) => [c.startTime, c.endTime, c.text,
                                                c.getCueAsHTML().textContent, c.id]) : [];
  out.textContent = JSON.stringify({{
    state, readyState: el.readyState, cues,
    video: {{duration: video.duration, width: video.videoWidth, error: video.error && video.error.code}},
  }});
}}
// Report once both the track and the clip's metadata have settled (either may come first).
function settle() {{ if (trackState && videoSettled) report(trackState); }}
function onTrack(state) {{ trackState = trackState || state; settle(); }}
function onVideo() {{ videoSettled = true; settle(); }}
el.addEventListener("load", () => onTrack("loaded"));
el.addEventListener("error", () => onTrack("error"));
video.addEventListener("loadedmetadata", onVideo);
video.addEventListener("error", onVideo);
el.track.mode = "hidden";  // fetch and parse the track without drawing it
if (el.readyState === HTMLTrackElement.LOADED) onTrack("loaded");
if (el.readyState === HTMLTrackElement.ERROR) onTrack("error");
if (video.readyState >= HTMLMediaElement.HAVE_METADATA || video.error) onVideo();
setTimeout(() => report(trackState || "timeout"), 8000);  // virtual time: free when all settles
</script>
"""

OUT_RE = re.compile(r'<pre id="out">(.*?)</pre>', re.DOTALL)


def browser_transcript() -> Transcript:
    """Markup characters, ``-->``, a line break, unicode, out of order, one segment past the end."""
    return Transcript(
        video_id="vid-browser",
        language="en",
        language_probability=0.99,
        duration_s=CLIP_DURATION_S,
        model="tiny.en",
        created_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        segments=[
            Segment(id=2, start=1.5, end=2.6, text="ünïcødé 日本語 🎬"),
            Segment(id=0, start=0.0, end=0.8, text=" Tom & Jerry <b>bold</b> "),
            Segment(id=1, start=0.8, end=1.5, text="a --> b\r\nnext line"),
        ],
    )


@dataclass
class Site:
    root: Path
    base_url: str


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A folder with clip.mp4, served over HTTP on 127.0.0.1 with a free port."""
    root = tmp_path_factory.mktemp("site")
    make_video(root / "clip.mp4", "mp4", duration_s=CLIP_DURATION_S, width=64, height=48, audio=False)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="track-http", daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def load_track(chromium: Path, site: Site, name: str, vtt: str, tmp_path: Path) -> dict[str, Any]:
    """Serve ``vtt`` as ``<name>.vtt`` behind a page with a ``<track>``; return what the page saw."""
    (site.root / f"{name}.vtt").write_text(vtt, encoding="utf-8")
    (site.root / f"{name}.html").write_text(PAGE.format(subs=f"{name}.vtt"), encoding="utf-8")
    profile = tmp_path / "profile"
    profile.mkdir()
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        f"{site.base_url}/{name}.html",
    ]
    # Own process group, so a hung browser is killed with its zygote and renderer children.
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT_S} s")
    assert proc.returncode == 0, f"chromium exited with {proc.returncode}: {stderr[-2000:]}"
    match = OUT_RE.search(stdout)
    assert match, f"no #out element in the dumped DOM:\n{stdout[-2000:]}\n{stderr[-2000:]}"
    # --dump-dom serialises the DOM, so the JSON text inside <pre> is HTML-escaped once more.
    return json.loads(html.unescape(match.group(1)))


def test_rendered_vtt_loads_in_track(chromium: Path, site: Site, tmp_path: Path) -> None:
    vtt = to_vtt(browser_transcript())
    result = load_track(chromium, site, "subs", vtt, tmp_path)

    assert result["state"] == "loaded", result
    assert result["readyState"] == 2  # HTMLTrackElement.LOADED
    cues = result["cues"]
    assert len(cues) == 3
    (first_start, first_end, first_raw, first_text, first_id) = cues[0]
    assert (first_start, first_end) == pytest.approx((0.0, 0.8))
    assert first_raw == "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt;"  # VTTCue.text is the raw cue text
    assert first_text == "Tom & Jerry <b>bold</b>"  # what is displayed: escapes decoded, no markup
    assert first_id == "0"
    assert cues[1][1:] == [pytest.approx(1.5), "a --&gt; b next line", "a --> b next line", "1"]
    assert cues[1][0] == pytest.approx(0.8)
    (last_start, last_end, last_raw, last_text, last_id) = cues[-1]
    assert (last_start, last_end) == pytest.approx((1.5, CLIP_DURATION_S))  # clamped to the duration
    assert last_raw == last_text == "ünïcødé 日本語 🎬"
    assert last_id == "2"
    # The track belongs to a real, decodable clip.
    assert result["video"]["duration"] == pytest.approx(CLIP_DURATION_S, abs=0.2)
    assert result["video"]["width"] == 64


def test_empty_transcript_vtt_loads_with_no_cues(chromium: Path, site: Site, tmp_path: Path) -> None:
    empty = browser_transcript().model_copy(update={"segments": []})
    result = load_track(chromium, site, "empty", to_vtt(empty), tmp_path)
    assert result["state"] == "loaded", result
    assert result["cues"] == []


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(to_vtt(browser_transcript()).removeprefix("WEBVTT\n\n"), id="missing-header"),
        pytest.param(to_srt(browser_transcript()), id="srt-is-not-vtt"),
    ],
)
def test_negative_control_broken_vtt_is_rejected(
    chromium: Path, site: Site, tmp_path: Path, broken: str
) -> None:
    """The check can fail: a file without the WEBVTT signature does not load."""
    result = load_track(chromium, site, "broken", broken, tmp_path)
    assert result["state"] == "error" or result["cues"] == [], result
    assert result["state"] != "timeout", result
