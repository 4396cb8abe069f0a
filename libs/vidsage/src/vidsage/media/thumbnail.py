"""Representative JPEG thumbnails: skip black, white and flat frames such as fade-ins."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from vidsage.media._container import (
    declared_duration,
    first_video_stream,
    open_input,
    translate_errors,
    undecodable,
)
from vidsage.media.sniff import VideoFormat
from vidsage.settings import MAX_FRAME_PIXELS

CANDIDATE_FRACTIONS: Final = (0.10, 0.25, 0.40, 0.55, 0.70)
"""Where candidate frames are taken, as fractions of the duration."""
SEQUENTIAL_MAX_S: Final = 10.0
"""Videos up to this long (or of unknown length) are decoded from the start instead of seeking."""
_MAX_FRAMES_PER_CANDIDATE: Final = 300
"""Frames decoded after a seek (or in total when decoding sequentially) before settling for
the last one - bounds the work for long GOPs and high frame rates."""
_SCORE_WIDTH: Final = 160
_DARK_MEAN: Final = 40.0
_BRIGHT_MEAN: Final = 215.0
_FLAT_STD: Final = 4.0

_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    90: Image.Transpose.ROTATE_90,
    -90: Image.Transpose.ROTATE_270,
    270: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    -180: Image.Transpose.ROTATE_180,
}


def thumbnail_size(src_w: int, src_h: int, max_width: int) -> tuple[int, int]:
    """The (width, height) of a thumbnail for a picture *displayed* at ``src_w`` x ``src_h``.

    Rule: ``width = min(max_width, src_w)`` (never upscaled); ``height`` is
    ``width * src_h / src_w`` rounded to the nearest *even* integer, ties upward, at least 2 -
    exactly ``max(2, 2 * floor(width * src_h / (2 * src_w) + 1/2))``, in integer arithmetic.

    Examples: (1920, 1080, 640) -> (640, 360); (320, 240, 640) -> (320, 240);
    (1080, 1920, 640) -> (640, 1138); (100, 1, 640) -> (100, 2).

    Raises:
        ValueError: if any argument is not positive.
    """
    if src_w <= 0 or src_h <= 0 or max_width <= 0:
        raise ValueError(f"sizes must be positive, got {src_w}x{src_h} and max_width={max_width}")
    width = min(max_width, src_w)
    height = max(2, 2 * ((width * src_h + src_w) // (2 * src_w)))
    return width, height


def make_thumbnail(
    path: str | os.PathLike[str],
    fmt: VideoFormat,
    out_path: str | os.PathLike[str],
    *,
    max_width: int = 640,
    quality: int = 85,
    max_pixels: int = MAX_FRAME_PIXELS,
) -> tuple[int, int]:
    """Write a JPEG of a representative frame of the video and return its (width, height).

    Candidate frames are taken at 10, 25, 40, 55 and 70 % of the duration - by seeking, or by
    decoding from the start for videos of at most :data:`SEQUENTIAL_MAX_S` seconds - plus the
    first frame as a fallback. Each is scored by the standard deviation of its luma; near-black
    (mean < 40), near-white (mean > 215) and flat (std < 4) frames are heavily penalised. The
    best frame wins (the earliest on ties).

    The output size is :func:`thumbnail_size` of the frame's *display* size: the coded width
    is scaled by a non-square sample aspect ratio, and width and height are swapped for a
    display rotation of +/-90 degrees (phone videos), which is applied to the picture too.

    Args:
        path: the video file.
        fmt: its format (from :func:`vidsage.media.sniff_format`).
        out_path: where to write the JPEG (overwritten if it exists).
        max_width: the thumbnail is at most this wide; smaller videos are not upscaled.
        quality: JPEG quality (1-95).
        max_pixels: the largest frame (width x height) that may be decoded (see
            :func:`~vidsage.media._container.first_video_stream`).

    Raises:
        MediaError: ``undecodable``, ``no_video_stream`` or ``frame_too_large`` (``truncated`` if a
            cut-off MP4/MOV cannot even be opened). A partially written file is removed.
        OSError: if ``out_path`` cannot be written (not the upload's fault).
    """
    out = Path(out_path)
    with open_input(path, fmt) as container, translate_errors(fmt):
        video = first_video_stream(container, fmt, max_pixels=max_pixels)
        _enable_threads(video)
        frame = _pick_frame(container, video, fmt)
        image, size = _render(frame, video, max_width)
        try:
            image.save(out, format="JPEG", quality=quality, optimize=True)
        except BaseException:
            with contextlib.suppress(OSError):
                out.unlink()
            raise
    return size


@dataclass
class _Best:
    """The best-scoring candidate so far."""

    frame: VideoFrame | None = None
    score: float = -1.0

    def offer(self, frame: VideoFrame) -> None:
        score = _score(frame)
        if score > self.score:
            self.frame, self.score = frame, score


def _pick_frame(container: InputContainer, video: VideoStream, fmt: VideoFormat) -> VideoFrame:
    duration = declared_duration(container)
    best = _Best()
    if duration is None or duration <= SEQUENTIAL_MAX_S:
        length = duration if duration else SEQUENTIAL_MAX_S
        _sample_sequentially(container, video, [f * length for f in CANDIDATE_FRACTIONS], best)
    else:
        _sample_by_seeking(container, video, [f * duration for f in CANDIDATE_FRACTIONS], best)
    if best.frame is None:
        raise undecodable(fmt, "no video frame could be decoded")
    return best.frame


def _sample_sequentially(
    container: InputContainer, video: VideoStream, targets: list[float], best: _Best
) -> None:
    """Decode from the start; offer the first frame and the first frame at/after each target."""
    pending = sorted(targets)
    for index, frame in enumerate(_frames(container, video)):
        t = _frame_time(frame, video)
        if index == 0 or (pending and (t is None or t >= pending[0])):
            best.offer(frame)
        while pending and (t is None or t >= pending[0]):
            pending.pop(0)
        if not pending or index + 1 >= _MAX_FRAMES_PER_CANDIDATE:
            return


def _sample_by_seeking(
    container: InputContainer, video: VideoStream, targets: list[float], best: _Best
) -> None:
    """Seek to the keyframe before each target, then decode forward to the target."""
    first = next(iter(_frames(container, video)), None)
    if first is not None:
        best.offer(first)
    tb = video.time_base or Fraction(1, av.time_base)
    start = video.start_time or 0
    seen: set[int | None] = set()
    for target in targets:
        try:
            container.seek(start + int(target / tb), stream=video, backward=True)
        except av.FFmpegError:
            continue  # unseekable: the first frame (and other targets) must do
        frame = _decode_until(container, video, target)
        if frame is not None and frame.pts not in seen:
            seen.add(frame.pts)
            best.offer(frame)


def _decode_until(container: InputContainer, video: VideoStream, target: float) -> VideoFrame | None:
    last: VideoFrame | None = None
    for count, frame in enumerate(_frames(container, video), start=1):
        last = frame
        t = _frame_time(frame, video)
        if t is None or t >= target or count >= _MAX_FRAMES_PER_CANDIDATE:
            break
    return last


def _frames(container: InputContainer, video: VideoStream) -> Iterator[VideoFrame]:
    """Decoded frames of ``video``; stops quietly at a corrupt tail once frames were produced."""
    produced = False
    frames: Iterable[VideoFrame] = container.decode(video)
    try:
        for frame in frames:
            produced = True
            yield frame
    except av.FFmpegError:
        if not produced:
            raise


def _frame_time(frame: VideoFrame, video: VideoStream) -> float | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return float((frame.pts - (video.start_time or 0)) * frame.time_base)


def _score(frame: VideoFrame) -> float:
    """Luma standard deviation, penalised for near-black, near-white and flat pictures."""
    width = min(_SCORE_WIDTH, frame.width)
    height = max(1, round(frame.height * width / frame.width))
    luma = frame.reformat(width=width, height=height, format="gray").to_ndarray().astype("float32")
    mean, std = float(luma.mean()), float(luma.std())
    score = std
    if mean < _DARK_MEAN or mean > _BRIGHT_MEAN:
        score *= 0.2
    if std < _FLAT_STD:
        score *= 0.1
    return score


def _render(frame: VideoFrame, video: VideoStream, max_width: int) -> tuple[Image.Image, tuple[int, int]]:
    """Scale (and rotate) ``frame`` to its thumbnail; return the image and its size."""
    display_w = frame.width
    sar = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio
    if sar and sar > 0 and sar != 1:
        display_w = max(1, round(frame.width * sar))
    transpose = _TRANSPOSE.get(_rotation(frame))
    quarter_turn = transpose in (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270)
    if quarter_turn:
        width, height = thumbnail_size(frame.height, display_w, max_width)
        scaled_w, scaled_h = height, width  # scale before rotating
    else:
        width, height = thumbnail_size(display_w, frame.height, max_width)
        scaled_w, scaled_h = width, height
    # PyAV's stub leaves VideoFrame.to_image unannotated; it returns a PIL image
    image: Image.Image = frame.to_image(width=scaled_w, height=scaled_h, interpolation="AREA")  # type: ignore[no-untyped-call]
    if transpose is not None:
        image = image.transpose(transpose)
    return image, (width, height)


def _rotation(frame: VideoFrame) -> int:
    try:
        return round(frame.rotation)
    except Exception:  # missing or malformed display matrix
        return 0


def _enable_threads(video: VideoStream) -> None:
    with contextlib.suppress(Exception):
        video.codec_context.thread_type = "AUTO"
