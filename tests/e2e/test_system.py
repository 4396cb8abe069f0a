"""End to end: the whole system started the way ``make run`` starts it (real nats-server, real
S3 server, five service processes), driven over HTTP only."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import srt
import webvtt
from PIL import Image

from tests.support.auth import bearer
from tests.support.media import make_video
from tests.support.speech import SCRIPTS, make_speech_video, speech_wav, word_error_rate
from vidsage.media import thumbnail_size
from vidsage_dev.system import DevSystem

pytestmark = pytest.mark.e2e

ORDER = ["uploaded", "ingesting", "ingested", "transcribing", "transcribed", "indexing", "ready"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "mp4": make_video(d / "a.mp4", "mp4", duration_s=4.0, width=1280, height=720, black_first_s=1.0),
        "mov": make_video(d / "b.mov", "mov", duration_s=3.0, width=480, height=360),
        "avi": make_video(d / "c.avi", "avi", duration_s=3.0, width=320, height=240, audio=False),
    }


@pytest.fixture
async def http(system: DevSystem) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    assert system.admin_key is not None
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=60), headers=bearer(system.admin_key)
    ) as session:
        yield session, system.gateway_url


async def upload(session: aiohttp.ClientSession, base: str, path: Path) -> tuple[int, Any]:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", path.read_bytes(), filename=path.name, content_type="application/octet-stream")
    async with session.post(f"{base}/api/videos/upload", data=form) as resp:
        return resp.status, await resp.json()


async def wait_for_status(
    session: aiohttp.ClientSession, base: str, video_id: str, want: str
) -> dict[str, Any]:
    """Poll until the video reaches ``want`` (or a later status, or failed); 90 s at most."""
    for _ in range(900):
        async with session.get(f"{base}/api/videos/{video_id}/status") as resp:
            body = await resp.json()
        if body["status"] == "failed" or ORDER.index(body["status"]) >= ORDER.index(want):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"status stuck at {body['status']}")


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("kind", "size"), [("mp4", (1280, 720)), ("mov", (480, 360)), ("avi", (320, 240))])
async def test_upload_ingest_thumbnail_and_ranges(
    http: tuple[aiohttp.ClientSession, str], clips: dict[str, Path], kind: str, size: tuple[int, int]
) -> None:
    session, base = http
    source = clips[kind].read_bytes()
    status, record = await upload(session, base, clips[kind])
    assert status == 201, record
    video_id = record["id"]

    done = await wait_for_status(session, base, video_id, "ingested")
    assert done["status"] != "failed", done.get("error")
    assert (done["width"], done["height"]) == size
    assert done["stages"]["ingest"]["state"] == "done"

    async with session.get(f"{base}/api/videos/{video_id}/thumbnail") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/jpeg"
        image = Image.open(io.BytesIO(await resp.read()))
    assert image.format == "JPEG"
    assert image.size == thumbnail_size(*size, 640)

    n = len(source)
    for start, end in [(0, 0), (0, 1023), (n // 2, n // 2 + 4095), (n - 100, n - 1)]:
        async with session.get(
            f"{base}/api/videos/{video_id}", headers={"Range": f"bytes={start}-{end}"}
        ) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{n}"
            assert await resp.read() == source[start : end + 1]
    async with session.get(f"{base}/api/videos/{video_id}", headers={"Range": "bytes=-512"}) as resp:
        assert resp.status == 206
        assert await resp.read() == source[-512:]
    async with session.get(f"{base}/api/videos/{video_id}") as resp:
        assert resp.status == 200
        assert await resp.read() == source


async def test_list_and_delete(http: tuple[aiohttp.ClientSession, str], clips: dict[str, Path]) -> None:
    session, base = http
    status, record = await upload(session, base, clips["avi"])
    assert status == 201
    async with session.get(f"{base}/api/videos?limit=200") as resp:
        listed = [v["id"] for v in (await resp.json())["items"]]
    assert listed[0] == record["id"]
    await wait_for_status(session, base, record["id"], "ingested")
    async with session.delete(f"{base}/api/videos/{record['id']}") as resp:
        assert resp.status == 204
    for path in ("", "/status", "/thumbnail"):
        async with session.get(f"{base}/api/videos/{record['id']}{path}") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"
    async with session.delete(f"{base}/api/videos/{record['id']}") as resp:
        assert resp.status == 404


async def test_bad_upload_over_the_wire(http: tuple[aiohttp.ClientSession, str], tmp_path: Path) -> None:
    session, base = http
    fake = tmp_path / "page.mp4"
    fake.write_text("<html><body>hello</body></html>" * 10)
    status, body = await upload(session, base, fake)
    assert status == 415
    assert body["error"]["code"] == "unsupported_type"


async def test_every_service_is_running(system: DevSystem, http: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = http
    assert {p.name for p in system.processes() if p.alive} >= {
        "gateway",
        "ingest",
        "transcriber",
        "indexer",
        "chat",
    }
    async with session.get(f"{base}/readyz") as resp:
        assert resp.status == 200


@pytest.mark.timeout(240)
@pytest.mark.needs_espeak
async def test_spoken_words_come_back_as_a_transcript(
    http: tuple[aiohttp.ClientSession, str], tmp_path: Path
) -> None:
    session, base = http
    video = make_speech_video(tmp_path / "talk.mp4", speech_wav("short"), "mp4")
    status, record = await upload(session, base, video)
    assert status == 201
    async with session.get(f"{base}/api/videos/{record['id']}/transcript") as resp:
        if resp.status == 409:  # not ready yet: says so, with the status
            assert (await resp.json())["error"]["code"] == "not_ready"

    done = await wait_for_status(session, base, record["id"], "transcribed")
    assert done["status"] != "failed", done.get("error")
    assert done["language"] == "en"
    assert done["stages"]["transcribe"]["state"] == "done"

    async with session.get(f"{base}/api/videos/{record['id']}/transcript?format=json") as resp:
        assert resp.status == 200
        transcript = await resp.json()
    wer = word_error_rate(SCRIPTS["short"], " ".join(s["text"] for s in transcript["segments"]))
    assert wer < 0.25, wer
    ends = [s["end"] for s in transcript["segments"]]
    assert ends == sorted(ends)
    assert ends[-1] <= done["duration_s"] + 0.01

    async with session.get(f"{base}/api/videos/{record['id']}/transcript?format=srt") as resp:
        assert resp.headers["Content-Type"].startswith("application/x-subrip")
        cues = list(srt.parse(await resp.text()))
    async with session.get(f"{base}/api/videos/{record['id']}/transcript?format=vtt") as resp:
        assert resp.headers["Content-Type"].startswith("text/vtt")
        captions = webvtt.from_buffer(io.StringIO(await resp.text())).captions
    assert len(cues) == len(captions) == len(transcript["segments"])
    async with session.get(f"{base}/api/videos/{record['id']}/transcript?format=txt") as resp:
        assert (await resp.text()).startswith("[00:0")


@pytest.mark.timeout(120)
async def test_a_video_without_audio_is_transcribed_empty(
    http: tuple[aiohttp.ClientSession, str], clips: dict[str, Path]
) -> None:
    session, base = http
    status, record = await upload(session, base, clips["avi"])  # made without an audio stream
    assert status == 201
    done = await wait_for_status(session, base, record["id"], "transcribed")
    # transcribed, or already further on (the empty transcript is indexed within milliseconds), never failed
    assert done["status"] in ORDER[ORDER.index("transcribed") :], done.get("error")
    assert done["stages"]["transcribe"]["state"] == "done"
    assert done["has_audio"] is False
    async with session.get(f"{base}/api/videos/{record['id']}/transcript?format=txt") as resp:
        assert resp.status == 200
        assert await resp.text() == ""


@pytest.mark.timeout(240)
@pytest.mark.needs_espeak
async def test_a_spoken_fact_is_found_by_search(
    http: tuple[aiohttp.ClientSession, str], tmp_path: Path
) -> None:
    session, base = http
    video = make_speech_video(tmp_path / "names.mp4", speech_wav("names"), "mp4")
    status, record = await upload(session, base, video)
    assert status == 201
    done = await wait_for_status(session, base, record["id"], "ready")
    assert done["status"] == "ready", done.get("error")
    assert done["stages"]["index"]["state"] == "done"

    for query in ("Reykjavik", "weather balloon test by engineers"):
        async with session.get(f"{base}/api/search", params={"q": query, "limit": 3}) as resp:
            assert resp.status == 200
            body = await resp.json()
        hits = [h for h in body["hits"] if h["video_id"] == record["id"]]
        assert hits, (query, body)
        assert hits[0]["filename"] == "names.mp4"
        assert hits[0]["link"].startswith(f"/api/videos/{record['id']}#t=")
    async with session.get(f"{base}/api/search", params={"q": "balloon", "video_id": record["id"]}) as resp:
        body = await resp.json()
    assert body["hits"]
    assert {h["video_id"] for h in body["hits"]} == {record["id"]}

    async with session.delete(f"{base}/api/videos/{record['id']}") as resp:
        assert resp.status == 204
    for _ in range(50):  # the indexer drops the points when it sees vidsage.video.deleted
        async with session.get(f"{base}/api/search", params={"q": "Reykjavik"}) as resp:
            body = await resp.json()
        if all(h["video_id"] != record["id"] for h in body["hits"]):
            break
        await asyncio.sleep(0.1)
    assert all(h["video_id"] != record["id"] for h in body["hits"])


@pytest.mark.timeout(300)
@pytest.mark.needs_espeak
async def test_chat_extractive_cites_the_segment_that_answers(
    http: tuple[aiohttp.ClientSession, str], tmp_path: Path
) -> None:
    """No LLM key (the embedded default): the answer quotes the transcript and cites the segment."""
    session, base = http
    video = make_speech_video(tmp_path / "hobbies.mp4", speech_wav("long"), "mp4")
    status, record = await upload(session, base, video)
    assert status == 201
    vid = record["id"]
    async with session.ws_connect(f"{base}/ws/chat/{vid}") as ws:
        await ws.send_json({"type": "message", "content": "too early?"})
        early = await ws.receive_json(timeout=30)
        if early["type"] == "error":  # unless the pipeline was already done
            assert early["code"] == "not_ready"
            assert early["status"] in ORDER[:-1]
    done = await wait_for_status(session, base, vid, "ready")
    assert done["status"] == "ready", done.get("error")
    async with session.get(f"{base}/api/videos/{vid}/transcript") as resp:
        segments = (await resp.json())["segments"]
    (answer_segment,) = [s for s in segments if "simmer" in s["text"]]

    async with session.ws_connect(f"{base}/ws/chat/{vid}") as ws:
        await ws.send_json({"type": "message", "content": "For how many minutes should everything simmer?"})
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(await ws.receive_json(timeout=30))
    final = frames[-1]
    assert final["type"] == "done", final
    assert final["mode"] == "extractive"
    text = "".join(f["content"] for f in frames if f["type"] == "token")
    assert text.startswith(answer_segment["text"].strip()), text  # the answering sentence first
    assert text.endswith("(Quoted from the transcript: no language model is configured.)")
    # The answer quotes whole sentences, and cites the segments they come from: the segment that
    # answers, with the rest of its sentence when a long sentence was cut into two cues.
    first = final["citations"][0]
    assert first["video_id"] == vid
    assert first["start"] == answer_segment["start"]
    assert answer_segment["text"].strip() in first["text"]
    for citation in final["citations"]:  # every citation is a run of real segments of this video
        assert citation["video_id"] == vid
        assert any(
            segments[i]["start"] == citation["start"]
            and segments[j]["end"] == citation["end"]
            and " ".join(s["text"].strip() for s in segments[i : j + 1]) == citation["text"].strip()
            for i in range(len(segments))
            for j in range(i, len(segments))
        ), citation
