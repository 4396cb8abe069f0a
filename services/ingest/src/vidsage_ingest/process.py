"""The blocking media work of one video, run in an executor: probe, thumbnail, (optionally) audio."""

from __future__ import annotations

import time
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
    audio: bool = False,
    timings: dict[str, float] | None = None,
) -> IngestResult:
    """Probe ``source`` (FFmpeg limited to local files), write ``thumbnail.jpg`` and, with
    ``audio``, ``audio.wav`` into ``work``; the seconds of each step go to ``timings``. Raises
    :class:`vidsage.media.MediaError` for files that cannot be processed (``frame_too_large``
    before any frame is decoded when a frame exceeds ``max_pixels``)."""
    steps = {} if timings is None else timings
    started = time.perf_counter()
    info = probe(source, fmt, max_pixels=max_pixels)
    probed = time.perf_counter()
    thumb = work / names.THUMBNAIL_FILE
    size = make_thumbnail(source, fmt, thumb, max_width=thumbnail_width, max_pixels=max_pixels)
    steps["probe"], steps["thumbnail"] = probed - started, time.perf_counter() - probed
    if not audio:
        return IngestResult(info, thumb, size, None, None)
    started = time.perf_counter()
    wav = work / names.AUDIO_FILE
    audio_s = extract_audio(source, fmt, wav, sample_rate=sample_rate)
    steps["audio"] = time.perf_counter() - started
    return IngestResult(info, thumb, size, None if audio_s is None else wav, audio_s)
