"""The blocking media work of one video, run in an executor: probe, thumbnail, audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidsage.contracts import names
from vidsage.media import ProbeResult, VideoFormat, extract_audio, make_thumbnail, probe
from vidsage.settings import MAX_FRAME_PIXELS


@dataclass(frozen=True)
class IngestResult:
    probe: ProbeResult
    thumbnail: Path
    thumbnail_size: tuple[int, int]
    audio: Path | None
    audio_duration_s: float | None


def process_video(
    source: Path,
    fmt: VideoFormat,
    work: Path,
    *,
    thumbnail_width: int,
    sample_rate: int,
    max_pixels: int = MAX_FRAME_PIXELS,
) -> IngestResult:
    """Probe ``source`` (FFmpeg limited to local files), write ``thumbnail.jpg`` and ``audio.wav``
    into ``work``. Raises :class:`vidsage.media.MediaError` for files that cannot be processed
    (``frame_too_large`` before any frame is decoded when a frame exceeds ``max_pixels``)."""
    info = probe(source, fmt, max_pixels=max_pixels)
    thumb = work / names.THUMBNAIL_FILE
    size = make_thumbnail(source, fmt, thumb, max_width=thumbnail_width, max_pixels=max_pixels)
    audio = work / names.AUDIO_FILE
    audio_s = extract_audio(source, fmt, audio, sample_rate=sample_rate)
    return IngestResult(info, thumb, size, None if audio_s is None else audio, audio_s)
