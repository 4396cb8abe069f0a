"""Tests of vidsage.media against real files generated with PyAV (see tests/support/media.py)."""

from __future__ import annotations

import pickle
import struct
import wave
from collections.abc import Callable
from pathlib import Path

import magic
import numpy as np
import pytest
from PIL import Image

import tests.support.media as mf
from vidsage.media import (
    SNIFF_BYTES,
    MediaError,
    ProbeResult,
    VideoFormat,
    decode_audio,
    extract_audio,
    make_thumbnail,
    probe,
    sniff_format,
    thumbnail_size,
)

FORMATS = ["mp4", "mov", "avi"]
CODECS = {"mp4": ("h264", "aac"), "mov": ("h264", "aac"), "avi": ("mpeg4", "pcm_s16le")}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def videos(media_dir: Path) -> dict[str, Path]:
    """One 3 s, 320x240, 10 fps video with audio per format; the first 0.5 s are black."""
    return {fmt: mf.make_video(media_dir / f"clip.{fmt}", fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def silent_mp4(media_dir: Path) -> Path:
    return mf.make_video(media_dir / "silent.mp4", "mp4", duration_s=2.0, audio=False)


def head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def luma_mean(path: Path) -> float:
    with Image.open(path) as image:
        return float(np.asarray(image.convert("L"), dtype=np.float32).mean())


def error_of(call: Callable[..., object], *args: object, **kwargs: object) -> MediaError:
    with pytest.raises(MediaError) as info:
        call(*args, **kwargs)
    return info.value


# --- errors -----------------------------------------------------------------------------------


def test_media_error_is_message_and_pickles() -> None:
    error = MediaError("too_long", "video is 181.0 s long; the limit is 180 s")
    assert str(error) == error.message == "video is 181.0 s long; the limit is 180 s"
    assert error.code == "too_long"
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.code, clone.message) == (error.code, error.message)


# --- sniff --------------------------------------------------------------------------------------


def test_video_format_properties() -> None:
    assert [f.mime for f in VideoFormat] == ["video/mp4", "video/quicktime", "video/x-msvideo"]
    assert [f.extension for f in VideoFormat] == ["mp4", "mov", "avi"]
    assert [f.demuxer for f in VideoFormat] == ["mov", "mov", "avi"]
    assert VideoFormat("mov") is VideoFormat.MOV


@pytest.mark.parametrize("fmt", FORMATS)
def test_sniff_detects_real_videos(videos: dict[str, Path], fmt: str) -> None:
    assert sniff_format(head(videos[fmt])) is VideoFormat(fmt)


def test_sniff_detects_faststart_mp4(media_dir: Path) -> None:
    path = mf.make_video(media_dir / "sniff_fast.mp4", "mp4", duration_s=1.0, faststart=True)
    assert sniff_format(head(path)) is VideoFormat.MP4


def test_sniff_ignores_file_names_and_extensions(videos: dict[str, Path], media_dir: Path) -> None:
    disguised = media_dir / "really_an_avi.mp4"
    disguised.write_bytes(videos["avi"].read_bytes())
    assert sniff_format(head(disguised)) is VideoFormat.AVI


def _non_video_heads(tmp_path: Path) -> dict[str, bytes]:
    return {
        "html": b"<!DOCTYPE html>\n<html><head><title>x</title></head><body>hi</body></html>\n",
        "elf": Path("/bin/true").read_bytes()[:SNIFF_BYTES],
        "text": b"just some plain text, nothing to see here\n" * 10,
        "wav": head(mf.make_wav(tmp_path / "tone.wav", seconds=0.5)),
    }


@pytest.mark.parametrize("kind", ["html", "elf", "text", "wav"])
def test_sniff_rejects_non_videos_naming_the_type(tmp_path: Path, kind: str) -> None:
    data = _non_video_heads(tmp_path)[kind]
    error = error_of(sniff_format, data)
    assert error.code == "unsupported_type"
    assert f"detected {magic.from_buffer(data, mime=True)}" in error.message
    assert "only MP4, MOV and AVI are accepted" in error.message


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_sniff_brand_decisions() -> None:
    def ftyp(brand: bytes) -> bytes:
        return _box(b"ftyp", brand + b"\0\0\0\0" + brand + b"isom") + _box(b"mdat", bytes(256))

    assert sniff_format(ftyp(b"mp42")) is VideoFormat.MP4
    assert sniff_format(ftyp(b"M4V ")) is VideoFormat.MP4
    assert sniff_format(ftyp(b"qt  ")) is VideoFormat.MOV
    for brand, mime in [(b"3gp4", "video/3gpp"), (b"M4A ", "audio/x-m4a"), (b"heic", "image/heic")]:
        error = error_of(sniff_format, ftyp(brand))
        assert error.code == "unsupported_type"
        assert f"detected {mime}" in error.message


def test_sniff_old_quicktime_with_leading_padding_atom() -> None:
    assert sniff_format(_box(b"wide", b"") + _box(b"mdat", bytes(256))) is VideoFormat.MOV


def test_sniff_rejects_empty() -> None:
    assert error_of(sniff_format, b"").code == "empty_file"


# --- probe --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_reports_stream_facts(videos: dict[str, Path], fmt: str) -> None:
    result = probe(videos[fmt], VideoFormat(fmt))
    assert isinstance(result, ProbeResult)
    assert result.format is VideoFormat(fmt)
    assert result.duration_s == pytest.approx(3.0, abs=0.2)
    assert (result.width, result.height) == (320, 240)
    assert result.fps == pytest.approx(10.0)
    assert (result.video_codec, result.audio_codec) == CODECS[fmt]
    assert result.has_audio is True
    assert result.audio_channels == 1
    assert result.audio_sample_rate in (22050, 44100)
    assert result.bit_rate is None or result.bit_rate > 0
    as_dict = result.to_dict()
    assert as_dict["format"] == fmt
    assert as_dict["width"] == 320


def test_probe_without_audio(silent_mp4: Path) -> None:
    result = probe(silent_mp4, VideoFormat.MP4)
    assert result.has_audio is False
    assert result.audio_codec is None
    assert result.audio_sample_rate is None
    assert result.audio_channels is None
    assert result.duration_s == pytest.approx(2.0, abs=0.2)


def test_probe_rejects_too_long_video_with_its_duration(media_dir: Path) -> None:
    path = mf.make_video(
        media_dir / "long.mp4", "mp4", duration_s=181, width=64, height=48, fps=1, audio=False
    )
    error = error_of(probe, path, VideoFormat.MP4, max_duration_s=180)
    assert error.code == "too_long"
    assert "181" in error.message
    assert "180" in error.message
    assert probe(path, VideoFormat.MP4, max_duration_s=200).duration_s == pytest.approx(181, abs=0.2)


def test_probe_truncated_mp4_with_moov_at_end(media_dir: Path) -> None:
    source = mf.make_video(media_dir / "cut_src.mp4", "mp4", duration_s=6.0)
    cut = mf.truncate(source, media_dir / "cut.mp4", 0.5)
    error = error_of(probe, cut, VideoFormat.MP4)
    assert error.code in ("undecodable", "truncated")
    assert str(media_dir) not in error.message  # no server paths in user-facing messages


@pytest.mark.parametrize("fmt", ["mp4", "mov"])
def test_probe_truncated_faststart_is_truncated(media_dir: Path, fmt: str) -> None:
    source = mf.make_video(media_dir / f"fast_src.{fmt}", fmt, duration_s=6.0, faststart=True)
    cut = mf.truncate(source, media_dir / f"fast_cut.{fmt}", 0.5)
    error = error_of(probe, cut, VideoFormat(fmt))
    assert error.code == "truncated"
    assert "of 6.0 s" in error.message
    # the cheap mode skips the full demux and therefore accepts the file
    assert probe(cut, VideoFormat(fmt), check_integrity=False).duration_s == pytest.approx(6.0, abs=0.2)


def test_probe_truncated_avi_is_truncated(media_dir: Path) -> None:
    source = mf.make_video(media_dir / "avi_src.avi", "avi", duration_s=6.0)
    cut = mf.truncate(source, media_dir / "avi_cut.avi", 0.5)
    assert error_of(probe, cut, VideoFormat.AVI).code == "truncated"


def test_probe_audio_only_file_has_no_video_stream(media_dir: Path) -> None:
    path = mf.make_audio_only(media_dir / "audio_only.mp4")
    assert error_of(probe, path, VideoFormat.MP4).code == "no_video_stream"


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_garbage_with_a_valid_head_is_undecodable(
    videos: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"garbage.{fmt}"
    rng = np.random.default_rng(7)
    path.write_bytes(head(videos[fmt])[:32] + rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    assert error_of(probe, path, VideoFormat(fmt)).code == "undecodable"


def test_probe_with_the_wrong_format_is_undecodable(videos: dict[str, Path]) -> None:
    assert error_of(probe, videos["avi"], VideoFormat.MP4).code == "undecodable"
    assert error_of(probe, videos["mp4"], VideoFormat.AVI).code == "undecodable"


def test_probe_missing_file_is_a_media_error(tmp_path: Path) -> None:
    assert error_of(probe, tmp_path / "missing.mp4", VideoFormat.MP4).code == "undecodable"


# --- thumbnail ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "max_width", "expected"),
    [
        ((1920, 1080), 640, (640, 360)),
        ((320, 240), 640, (320, 240)),
        ((320, 240), 100, (100, 76)),  # 75.0 -> nearest even, ties upward
        ((1080, 1920), 640, (640, 1138)),  # 1137.8 -> 1138
        ((100, 1), 640, (100, 2)),
    ],
)
def test_thumbnail_size_rule(src: tuple[int, int], max_width: int, expected: tuple[int, int]) -> None:
    assert thumbnail_size(*src, max_width) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_thumbnail_is_a_representative_jpeg(videos: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"thumb_{fmt}.jpg"
    size = make_thumbnail(videos[fmt], VideoFormat(fmt), out)
    assert size == thumbnail_size(320, 240, 640)
    with Image.open(out) as image:
        assert image.format == "JPEG"
        assert image.size == size
    assert luma_mean(out) > 60  # the first frame is black, the thumbnail must not be


def test_thumbnail_scales_down_and_never_up(media_dir: Path, videos: dict[str, Path], tmp_path: Path) -> None:
    small = mf.make_video(media_dir / "small.mp4", "mp4", duration_s=2.0, width=160, height=120, audio=False)
    assert make_thumbnail(small, VideoFormat.MP4, tmp_path / "small.jpg") == (160, 120)
    narrow = make_thumbnail(videos["mp4"], VideoFormat.MP4, tmp_path / "narrow.jpg", max_width=100)
    assert narrow == thumbnail_size(320, 240, 100) == (100, 76)
    with Image.open(tmp_path / "narrow.jpg") as image:
        assert image.size == narrow


def test_thumbnail_of_longer_video_seeks_past_a_long_black_intro(media_dir: Path, tmp_path: Path) -> None:
    path = mf.make_video(
        media_dir / "intro.mp4",
        "mp4",
        duration_s=30,
        width=160,
        height=120,
        fps=5,
        audio=False,
        black_first_s=12,
    )
    out = tmp_path / "intro.jpg"
    assert make_thumbnail(path, VideoFormat.MP4, out) == (160, 120)
    assert luma_mean(out) > 60


def test_thumbnail_honours_portrait_rotation(media_dir: Path, tmp_path: Path) -> None:
    path = mf.make_video(media_dir / "portrait.mp4", "mp4", duration_s=1.5, audio=False, rotation=-90)
    assert make_thumbnail(path, VideoFormat.MP4, tmp_path / "portrait.jpg") == thumbnail_size(240, 320, 640)


def test_thumbnail_of_an_all_black_video_still_succeeds(media_dir: Path, tmp_path: Path) -> None:
    path = mf.make_video(media_dir / "black.mp4", "mp4", duration_s=1.0, audio=False, black_first_s=5)
    assert make_thumbnail(path, VideoFormat.MP4, tmp_path / "black.jpg") == (320, 240)


def test_thumbnail_errors_are_media_errors(tmp_path: Path) -> None:
    path = mf.make_audio_only(tmp_path / "audio_only.mp4")
    out = tmp_path / "none.jpg"
    assert error_of(make_thumbnail, path, VideoFormat.MP4, out).code == "no_video_stream"
    assert not out.exists()


# --- audio --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_extract_audio_writes_mono_16k_wav(videos: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"audio_{fmt}.wav"
    seconds = extract_audio(videos[fmt], VideoFormat(fmt), out)
    assert seconds == pytest.approx(3.0, abs=0.1)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() / 16000 == pytest.approx(seconds)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert np.abs(samples[16000:32000]).max() > 3000  # the tone survived


def test_extract_audio_custom_rate(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "audio_8k.wav"
    assert extract_audio(videos["mp4"], VideoFormat.MP4, out, sample_rate=8000) == pytest.approx(3.0, abs=0.1)
    with wave.open(str(out), "rb") as wav:
        assert wav.getframerate() == 8000


def test_output_write_errors_are_not_blamed_on_the_upload(videos: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        extract_audio(videos["mp4"], VideoFormat.MP4, tmp_path / "missing_dir" / "a.wav")
    with pytest.raises(FileNotFoundError):
        make_thumbnail(videos["mp4"], VideoFormat.MP4, tmp_path / "missing_dir" / "t.jpg")


def test_extract_audio_without_audio_returns_none(silent_mp4: Path, tmp_path: Path) -> None:
    out = tmp_path / "none.wav"
    assert extract_audio(silent_mp4, VideoFormat.MP4, out) is None
    assert not out.exists()


# --- decompression bombs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame_bomb(media_dir: Path) -> Path:
    """One 1200x1200 frame (1.44 megapixels) in a few kB: a bomb against a 1-megapixel bound."""
    return mf.make_frame_bomb(media_dir / "bomb.mov", 1200)


def test_a_frame_over_the_pixel_bound_is_refused_before_decoding(frame_bomb: Path, tmp_path: Path) -> None:
    assert frame_bomb.stat().st_size < 100_000
    err = error_of(probe, frame_bomb, VideoFormat.MOV, max_pixels=1_000_000)
    assert err.code == "frame_too_large"
    assert "1200x1200" in err.message
    out = tmp_path / "thumb.jpg"
    assert error_of(make_thumbnail, frame_bomb, VideoFormat.MOV, out, max_pixels=1_000_000).code == (
        "frame_too_large"
    )
    assert not out.exists()
    # under the bound the same file is a fine (if grey) video
    assert probe(frame_bomb, VideoFormat.MOV, max_pixels=2_000_000).width == 1200


def test_the_decoder_is_given_the_pixel_bound_too(videos: dict[str, Path]) -> None:
    """A header that understates the frames cannot make FFmpeg allocate more than the bound."""
    from vidsage.media._container import first_video_stream, open_input
    from vidsage.settings import MAX_FRAME_PIXELS

    with open_input(videos["mp4"], VideoFormat.MP4) as container:
        video = first_video_stream(container, VideoFormat.MP4)
        assert video.codec_context.options["max_pixels"] == str(MAX_FRAME_PIXELS)
        assert MAX_FRAME_PIXELS == 7680 * 4320


def test_ingest_bounds_the_frame_size_it_decodes(frame_bomb: Path, tmp_path: Path) -> None:
    from vidsage_ingest.process import process_video

    err = error_of(
        process_video,
        frame_bomb,
        VideoFormat.MOV,
        tmp_path,
        thumbnail_width=64,
        sample_rate=16000,
        max_pixels=1_000_000,
    )
    assert err.code == "frame_too_large"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_decode_audio_gives_the_samples_of_the_extracted_wav(
    videos: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    """In memory, the same samples as the WAV file ingest writes (and as faster-whisper reads it)."""
    from faster_whisper import decode_audio as whisper_decode

    audio = decode_audio(videos[fmt], VideoFormat(fmt))
    assert audio is not None
    assert audio.dtype == np.float32
    wav = tmp_path / f"audio_{fmt}.wav"
    extract_audio(videos[fmt], VideoFormat(fmt), wav)
    np.testing.assert_array_equal(audio, whisper_decode(str(wav), sampling_rate=16000))
    assert len(audio) / 16000 == pytest.approx(3.0, abs=0.1)
    assert np.abs(audio[16000:32000]).max() > 3000 / 32768


def test_decode_audio_without_audio_is_none_and_garbage_is_undecodable(
    silent_mp4: Path, videos: dict[str, Path], tmp_path: Path
) -> None:
    assert decode_audio(silent_mp4, VideoFormat.MP4) is None
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(videos["mp4"].read_bytes()[:2000] + b"\x00" * 5000)
    assert error_of(decode_audio, bad, VideoFormat.MP4).code in ("undecodable", "truncated")
