"""Tests of tests/support/speech.py: WER scoring, espeak-ng speech, and videos that speak it."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest
from faster_whisper import decode_audio

import tests.support.speech as sf

CODECS = {"mp4": ("h264", "aac"), "mov": ("h264", "aac"), "avi": ("mpeg4", "pcm_s16le")}
LEAD_S = 0.5
FPS = 10


# ------------------------------------------------------------------------------------------------ WER


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("the cat sat down", "the cat sat down", 0.0),
        ("the cat sat down", "the dog sat down", 0.25),  # one substitution in 4 words
        ("the cat sat down", "the cat sat right down", 0.25),  # one insertion
        ("the cat sat down", "the cat down", 0.25),  # one deletion
        ("the cat sat down", "cat sat", 0.5),  # two deletions
        ("the cat", "a big dog ran off", 2.5),  # 2 substitutions + 3 insertions over 2 words
        ("The cat, sat DOWN!", "the cat sat down.", 0.0),  # case and punctuation ignored
        ("Don't stop", "don\u2019t stop", 0.0),  # apostrophes inside words kept, curly = straight
        ("forty-two lanterns", "forty two lanterns", 0.0),  # hyphens separate words
        ("42 lanterns", "forty two lanterns", 1.0),  # digits and number words are not reconciled
        ("", "", 0.0),
        ("  ...  ", "", 0.0),  # punctuation only counts as empty
        ("", "something", 1.0),
        ("hello world", "", 1.0),
    ],
)
def test_word_error_rate(reference: str, hypothesis: str, expected: float) -> None:
    assert sf.word_error_rate(reference, hypothesis) == pytest.approx(expected)


def test_normalise_words() -> None:
    assert sf.normalise_words("Dr. Hart's  42 lanterns -- 'quoted', it's\ttrue!") == [
        "dr",
        "hart's",
        "42",
        "lanterns",
        "quoted",
        "it's",
        "true",
    ]


# ------------------------------------------------------------------------------------------- speech


def _read_wav(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        return wav.getnchannels(), wav.getsampwidth(), rate, wav.getnframes() / rate


@pytest.mark.needs_espeak
@pytest.mark.parametrize("name", sorted(sf.SCRIPTS))
def test_each_script_synthesises_within_its_intended_duration(name: str) -> None:
    path = sf.speech_wav(name)
    channels, width, rate, seconds = _read_wav(path)
    low, high = sf.INTENDED_SECONDS[name]
    print(f"{name}: {seconds:.2f} s, {len(sf.normalise_words(sf.SCRIPTS[name]))} words")
    assert (channels, width, rate) == (1, 2, 22050)
    assert low <= seconds <= high
    samples, _ = sf.read_wav(path)
    assert np.abs(samples).max() > 3000  # real speech, not silence


def test_scripts_are_what_later_tests_rely_on() -> None:
    assert set(sf.SCRIPTS) == {"short", "names", "long", "instructions"}
    assert "42" in sf.SCRIPTS["short"]
    assert "Reykjavik" in sf.SCRIPTS["names"]
    assert "1987" in sf.SCRIPTS["names"]
    assert "ignore your previous instructions" in sf.SCRIPTS["instructions"]
    long_text = sf.SCRIPTS["long"]
    assert all(word in long_text for word in ("tomato", "sailboat", "Saturn"))
    assert 12 <= long_text.count(". ") + 1 <= 16


@pytest.mark.needs_espeak
def test_speech_wav_is_cached_per_process() -> None:
    first = sf.speech_wav("short")
    assert sf.speech_wav("short") == first
    assert first.is_file()
    with pytest.raises(KeyError):
        sf.speech_wav("no-such-script")


@pytest.mark.needs_espeak
def test_synthesize_options_and_errors(tmp_path: Path) -> None:
    slow = sf.synthesize("-s 400 one two three four five", tmp_path / "slow.wav", speed_wpm=100)
    fast = sf.synthesize("-s 400 one two three four five", tmp_path / "fast.wav", speed_wpm=250)
    assert sf.wav_duration(slow) > sf.wav_duration(fast) * 1.5  # text starting with "-" is not an option
    with pytest.raises(RuntimeError, match="espeak-ng failed"):
        sf.synthesize("hello", tmp_path / "x.wav", voice="nosuchvoice")


def test_synthesize_without_espeak_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sf.shutil, "which", lambda _name: None)
    with pytest.raises(RuntimeError, match="Debian package 'espeak-ng'"):
        sf.synthesize("hello", tmp_path / "x.wav")


# ------------------------------------------------------------------------------------------- videos


def _stream_seconds(path: Path) -> tuple[str, str, int, float, float, int]:
    """Video codec, audio codec, audio channels, decoded audio seconds, video seconds, video frames."""
    with av.open(str(path)) as container:
        audio, video = container.streams.audio[0], container.streams.video[0]
        audio_codec, video_codec = audio.codec_context.name, video.codec_context.name
        channels = audio.codec_context.channels
        audio_samples = sum(frame.samples for frame in container.decode(audio=0))
        audio_s = audio_samples / audio.codec_context.sample_rate
        container.seek(0)
        frames = sum(1 for _ in container.decode(video=0))
        video_s = frames / float(video.average_rate or FPS)
    return video_codec, audio_codec, channels, audio_s, video_s, frames


@pytest.mark.needs_espeak
@pytest.mark.parametrize("fmt", sf.FORMATS)
@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_make_speech_video(tmp_path: Path, fmt: str, layout: str) -> None:
    wav = sf.speech_wav("short")
    speech_s = sf.wav_duration(wav)
    out = sf.make_speech_video(tmp_path / f"short.{fmt}", wav, fmt, layout=layout, lead_silence_s=LEAD_S)
    video_codec, audio_codec, channels, audio_s, video_s, frames = _stream_seconds(out)
    print(f"{fmt}/{layout}: speech {speech_s:.3f} s, audio {audio_s:.3f} s, video {video_s:.2f} s")
    assert (video_codec, audio_codec) == CODECS[fmt]
    assert channels == (2 if layout == "stereo" else 1)
    assert audio_s == pytest.approx(speech_s + LEAD_S, abs=0.05)
    assert video_s == pytest.approx(audio_s, abs=1.0 / FPS + 0.05)
    assert frames == int(np.ceil((speech_s + LEAD_S) * FPS - 1e-6))

    # What the transcriber will see: 16 kHz mono, silent lead, then speech.
    pcm = decode_audio(str(out))
    assert len(pcm) / 16000 == pytest.approx(speech_s + LEAD_S, abs=0.05)
    lead = np.abs(pcm[: int(0.9 * LEAD_S * 16000)]).max()
    assert lead < 0.01
    assert np.abs(pcm).max() > 0.1


@pytest.mark.needs_espeak
def test_make_speech_video_from_text(tmp_path: Path) -> None:
    out = sf.make_speech_video(tmp_path / "hello.mp4", "Hello there, general Kenobi.", lead_silence_s=1.0)
    _, _, _, audio_s, video_s, _ = _stream_seconds(out)
    assert 1.8 < audio_s < 4.5
    assert video_s == pytest.approx(audio_s, abs=1.0 / FPS + 0.05)
    pcm = decode_audio(str(out))
    assert np.abs(pcm[: int(0.9 * 16000)]).max() < 0.01


@pytest.mark.parametrize("fmt", sf.FORMATS)
def test_make_silent_video(tmp_path: Path, fmt: str) -> None:
    out = sf.make_silent_video(tmp_path / f"silent.{fmt}", seconds=3.0, fmt=fmt)
    video_codec, audio_codec, _, audio_s, video_s, frames = _stream_seconds(out)
    assert (video_codec, audio_codec) == CODECS[fmt]
    assert audio_s == pytest.approx(3.0, abs=0.05)
    assert frames == 30
    assert video_s == pytest.approx(3.0)
    assert np.abs(decode_audio(str(out))).max() == 0.0


def test_unknown_format_and_layout_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        sf.make_silent_video(tmp_path / "x.mkv", fmt="mkv")
    with pytest.raises(ValueError, match="layout"):
        sf.make_silent_video(tmp_path / "x.mp4", layout="5.1")
