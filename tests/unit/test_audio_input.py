"""What the transcription endpoint accepts (:mod:`vidsage.media.audio_input`): OpenAI's audio
containers and the upload's video containers, by content; an audio stream and a duration within the
limit; anything else refused with a code the API answers with."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import AUDIO_CONTAINERS, make_tone, make_video
from vidsage.media import (
    AudioFormat,
    MediaError,
    VideoFormat,
    decode_audio,
    media_format,
    probe_audio,
    sniff_media,
)


def _head(path: Path) -> bytes:
    return path.read_bytes()[:4096]


@pytest.mark.parametrize("kind", sorted(AUDIO_CONTAINERS))
def test_each_audio_container_is_sniffed_probed_and_decoded(tmp_path: Path, kind: str) -> None:
    path = make_tone(tmp_path / f"tone.{kind}", kind, seconds=1.0)
    fmt = sniff_media(_head(path))
    assert fmt == AudioFormat(kind)
    assert media_format(fmt.value) is fmt
    assert probe_audio(path, fmt, max_duration_s=180) == pytest.approx(1.0, abs=0.1)
    audio = decode_audio(path, fmt, sample_rate=16000)
    assert audio is not None
    assert len(audio) == pytest.approx(16000, rel=0.1)


def test_a_named_file_is_judged_by_content(tmp_path: Path) -> None:
    path = make_tone(tmp_path / "tone.mp4", "flac")  # a FLAC named .mp4
    assert sniff_media(_head(path)) is AudioFormat.FLAC


def test_video_containers_are_accepted_as_the_upload_sniffs_them(tmp_path: Path) -> None:
    path = make_video(tmp_path / "clip.mov", "mov", duration_s=1.0)
    fmt = sniff_media(_head(path))
    assert fmt is VideoFormat.MOV
    assert probe_audio(path, fmt, max_duration_s=180) == pytest.approx(1.0, abs=0.2)


def test_text_is_refused_naming_what_it_is() -> None:
    with pytest.raises(MediaError) as caught:
        sniff_media(b"just some words, not audio at all\n" * 40)
    assert caught.value.code == "unsupported_type"
    assert "detected text/" in caught.value.message
    assert "WAV" in caught.value.message
    with pytest.raises(MediaError) as empty:
        sniff_media(b"")
    assert empty.value.code == "empty_file"


def test_no_audio_and_too_long_are_refused(tmp_path: Path) -> None:
    silent = make_video(tmp_path / "silent.mp4", "mp4", duration_s=1.0, audio=False)
    with pytest.raises(MediaError) as caught:
        probe_audio(silent, VideoFormat.MP4, max_duration_s=180)
    assert caught.value.code == "no_audio_stream"
    tone = make_tone(tmp_path / "tone.wav", "wav", seconds=3.0)
    with pytest.raises(MediaError) as long:
        probe_audio(tone, AudioFormat.WAV, max_duration_s=2.0)
    assert long.value.code == "too_long"
    assert "3.0 s" in long.value.message
