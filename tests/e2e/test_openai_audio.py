"""The OpenAI-compatible transcription endpoint, end to end: the real ``openai`` client pointed at the
gateway of the whole system (``base_url=<gateway>/v1``, a vidsage key as the API key), the work done
by the transcriber pool through the jobs stream, on synthesized speech."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import srt
import webvtt
from minio import Minio

from tests.support.speech import SCRIPTS, make_speech_video, speech_wav, wav_duration, word_error_rate
from tests.support.system import call_api
from vidsage.contracts import names
from vidsage_dev.system import DevSystem

pytestmark = [pytest.mark.e2e, pytest.mark.needs_espeak, pytest.mark.needs_whisper, pytest.mark.timeout(180)]

SHORT = SCRIPTS["short"]


def _api(system: DevSystem, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    return call_api(method, f"{system.gateway_url}{path}", key, body)


@pytest.fixture(scope="module")
def keys(system: DevSystem) -> dict[str, str]:
    """A member key each for two tenants."""
    assert system.admin_key is not None
    made = {}
    for owner in ("oa-alice", "oa-bob"):
        status, created = _api(
            system, "POST", "/api/keys", system.admin_key, {"owner": owner, "role": "member"}
        )
        assert status == 201, created
        made[owner] = created["key"]
    return made


@pytest.fixture(scope="module")
def client(system: DevSystem, keys: dict[str, str]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{system.gateway_url}/v1", api_key=keys["oa-alice"], max_retries=0, timeout=120
    ) as c:
        yield c


@pytest.fixture(scope="module")
def speech() -> Path:
    return speech_wav("short")


def _temporary_objects(system: DevSystem) -> list[str]:
    access, secret = system.s3_keys
    endpoint = system.s3_endpoint.removeprefix("http://")
    s3 = Minio(endpoint, access_key=access, secret_key=secret, secure=False, region="us-east-1")
    return [
        o.object_name or ""
        for o in s3.list_objects(names.S3_BUCKET, prefix=names.TRANSCRIPTIONS_PREFIX, recursive=True)
    ]


def test_models_lists_the_whisper_names(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "whisper-1" in ids
    assert "whisper-base" in ids
    assert client.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-nothing")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_json_is_the_text_of_the_speech(client: openai.OpenAI, speech: Path) -> None:
    with speech.open("rb") as fh:
        result = client.audio.transcriptions.create(model="whisper-1", file=fh)
    assert word_error_rate(SHORT, result.text) < 0.25, result.text
    assert result.usage is not None
    assert result.usage.seconds == pytest.approx(wav_duration(speech), abs=1)


def test_text_srt_and_vtt_are_plain_text(client: openai.OpenAI, speech: Path) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-base", file=speech, response_format="text"
    )
    assert raw.headers["content-type"].startswith("text/plain")
    text = raw.parse()
    assert isinstance(text, str)
    assert word_error_rate(SHORT, text) < 0.25, text

    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=speech, response_format="srt"
    )
    assert raw.headers["content-type"].startswith("text/plain")
    cues = list(srt.parse(raw.parse()))
    assert cues
    assert all(c.start < c.end for c in cues)
    assert word_error_rate(SHORT, " ".join(c.content for c in cues)) < 0.25

    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=speech, response_format="vtt"
    )
    assert raw.headers["content-type"].startswith("text/plain")
    body = raw.parse()
    assert body.startswith("WEBVTT")
    captions = webvtt.from_buffer(__import__("io").StringIO(body))
    assert len(captions) == len(cues)


def test_verbose_json_segments_and_words(client: openai.OpenAI, speech: Path) -> None:
    duration = wav_duration(speech)
    seg = client.audio.transcriptions.create(model="whisper-1", file=speech, response_format="verbose_json")
    assert seg.language == "english"
    assert seg.duration == pytest.approx(duration, abs=0.1)
    assert seg.segments
    assert seg.words is None
    assert all(0 <= s.start < s.end <= duration + 0.5 for s in seg.segments)
    assert [s.id for s in seg.segments] == list(range(len(seg.segments)))
    assert all(s.tokens for s in seg.segments)
    assert word_error_rate(SHORT, seg.text) < 0.25

    words = client.audio.transcriptions.create(
        model="whisper-1", file=speech, response_format="verbose_json", timestamp_granularities=["word"]
    )
    assert words.words
    assert words.segments is None
    starts = [w.start for w in words.words]
    assert starts == sorted(starts)
    assert all(w.start <= w.end for w in words.words)
    assert word_error_rate(SHORT, " ".join(w.word for w in words.words)) < 0.25
    assert all(w.word == w.word.strip() for w in words.words)

    both = client.audio.transcriptions.create(
        model="whisper-1",
        file=speech,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert both.words
    assert both.segments


def test_language_prompt_and_temperature_reach_the_model(client: openai.OpenAI, speech: Path) -> None:
    forced = client.audio.transcriptions.create(
        model="whisper-1", file=speech, response_format="verbose_json", language="de"
    )
    assert forced.language == "german"
    plain = client.audio.transcriptions.create(model="whisper-1", file=speech, language="en")
    primed = client.audio.transcriptions.create(
        model="whisper-1", file=speech, language="en", prompt="Dr. Amelia Hart: bio-luminescent jelly-fish."
    )
    # the prompt primes the decoder: it takes the prompt's spellings (beam search: deterministic)
    assert "Dr. Amelia" not in plain.text, plain.text
    assert "Dr. Amelia" in primed.text, primed.text
    assert "bio-luminescent" in primed.text
    assert word_error_rate(SHORT, primed.text) < 0.35, primed.text
    sampled = client.audio.transcriptions.create(model="whisper-1", file=speech, temperature=0.3)
    assert word_error_rate(SHORT, sampled.text) < 0.5, sampled.text  # sampling, not beam search


def test_a_video_container_is_transcribed_too(client: openai.OpenAI, tmp_path: Path, speech: Path) -> None:
    video = make_speech_video(tmp_path / "talk.mp4", speech, "mp4")
    result = client.audio.transcriptions.create(model="whisper-1", file=video)
    assert word_error_rate(SHORT, result.text) < 0.25


def test_a_file_that_is_not_audio_is_a_bad_request(client: openai.OpenAI, tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp3"
    notes.write_text("just some plain text, renamed to look like audio\n" * 50)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=notes)
    error = caught.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "unsupported_type",
        "file",
    )
    assert "unsupported file type: detected text/" in error["message"]


def test_an_unknown_model_is_a_bad_request(client: openai.OpenAI, speech: Path) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-9", file=speech)
    error = caught.value.response.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_found", "model")


def test_no_key_and_a_bad_key_are_401_in_openai_shape(system: DevSystem, speech: Path) -> None:
    with (
        openai.OpenAI(
            base_url=f"{system.gateway_url}/v1", api_key="vsk_not-a-real-key", max_retries=0
        ) as bad,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        bad.audio.transcriptions.create(model="whisper-1", file=speech)
    error = caught.value.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["code"] in ("malformed_key", "unknown_key")
    response = httpx.post(
        f"{system.gateway_url}/v1/audio/transcriptions",
        files={"file": ("a.wav", speech.read_bytes())},
        data={"model": "whisper-1"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_credentials"


def test_longer_than_the_limit_is_refused(client: openai.OpenAI, tmp_path: Path) -> None:
    import wave

    long = tmp_path / "long.wav"
    with wave.open(str(long), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * 181)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=long)
    assert caught.value.response.json()["error"]["code"] == "too_long"


def test_keep_makes_a_video_of_the_caller_only(
    system: DevSystem, client: openai.OpenAI, keys: dict[str, str], tmp_path: Path, speech: Path
) -> None:
    video = make_speech_video(tmp_path / "kept.mp4", speech, "mp4")
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=video, extra_body={"vidsage_keep": "true"}
    )
    video_id = raw.headers["x-vidsage-video-id"]
    assert word_error_rate(SHORT, raw.parse().text) < 0.25
    status, listing = _api(system, "GET", "/api/videos", keys["oa-alice"])
    assert status == 200
    assert [v["id"] for v in listing["items"]] == [video_id]
    assert listing["items"][0]["owner"] == "oa-alice"
    status, other = _api(system, "GET", "/api/videos", keys["oa-bob"])
    assert status == 200
    assert other["items"] == []
    status, _ = _api(system, "GET", f"/api/videos/{video_id}/status", keys["oa-bob"])
    assert status == 404
    # without the option nothing is kept; an audio file cannot be kept (no video)
    client.audio.transcriptions.create(model="whisper-1", file=speech)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(
            model="whisper-1", file=speech, extra_body={"vidsage_keep": "true"}
        )
    assert caught.value.response.json()["error"]["param"] == "vidsage_keep"
    status, listing = _api(system, "GET", "/api/videos", keys["oa-alice"])
    assert [v["id"] for v in listing["items"]] == [video_id]


def test_nothing_is_left_in_s3(system: DevSystem) -> None:
    """Every request above (answered or refused) deleted its temporary object."""
    assert _temporary_objects(system) == []
