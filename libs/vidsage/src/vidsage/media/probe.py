"""Probing uploaded videos: container facts, limits and integrity."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Final

import av
from av.container import InputContainer
from av.packet import Packet
from av.stream import Stream
from av.video.stream import VideoStream

from vidsage.media._container import (
    declared_duration,
    describe_exception,
    first_video_stream,
    open_input,
    to_float,
    translate_errors,
    undecodable,
)
from vidsage.media.errors import TOO_LONG, TRUNCATED, MediaError
from vidsage.media.sniff import VideoFormat
from vidsage.settings import MAX_FRAME_PIXELS

TRUNCATION_RATIO: Final = 0.9
"""Media data must cover at least this share of the declared duration ..."""
TRUNCATION_SLACK_S: Final = 0.5
"""... minus this many seconds; otherwise the file is reported as ``truncated``."""

_MAX_FIRST_FRAME_ERRORS: Final = 8


@dataclass(frozen=True)
class ProbeResult:
    """What :func:`probe` learned about a video file.

    ``width`` and ``height`` are the coded frame size of the first video stream (before any
    sample aspect ratio or display rotation); ``fps`` is the average frame rate if known;
    codecs are FFmpeg codec names (``"h264"``, ``"aac"``, ``"mpeg4"``, ``"pcm_s16le"``);
    ``bit_rate`` is the container's overall bit rate in bit/s if known.
    """

    format: VideoFormat
    duration_s: float
    width: int
    height: int
    fps: float | None
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None
    bit_rate: int | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``format`` becomes its string value (``"mp4"``)."""
        data = asdict(self)
        data["format"] = self.format.value
        return data


def probe(
    path: str | os.PathLike[str],
    fmt: VideoFormat,
    *,
    max_duration_s: float | None = None,
    check_integrity: bool = True,
    max_pixels: int = MAX_FRAME_PIXELS,
) -> ProbeResult:
    """Open a video with the demuxer of ``fmt`` forced (local files only) and validate it.

    Checks, in order: the file opens; it has a video stream; its duration (container header,
    else the longest stream) is known and > 0; it is not longer than ``max_duration_s``; its
    first video frame decodes. With ``check_integrity`` all packets are also demuxed (not
    decoded) to find the time the media data really covers. The file is ``truncated`` if
    demuxing fails or the covered time is below
    ``TRUNCATION_RATIO * expected - TRUNCATION_SLACK_S`` (0.9 * expected - 0.5 s), where
    *expected* is the declared duration (for AVI, at least the header's frame count / frame rate,
    because FFmpeg shortens an AVI's duration to what it finds in a cut-off file).

    Args:
        path: local file path.
        fmt: the format from :func:`vidsage.media.sniff_format`.
        max_duration_s: reject longer videos with ``too_long``; None means no limit.
        check_integrity: demux the whole file to detect truncation (reads the file once).
        max_pixels: the largest frame (width x height) that may be decoded; a larger one is
            ``frame_too_large``, from the header, before any decoding.

    Returns:
        A :class:`ProbeResult`.

    Raises:
        MediaError: ``undecodable``, ``truncated``, ``too_long``, ``no_video_stream`` or
            ``frame_too_large``.
            No other exception type escapes. A cut-off MP4/MOV whose ``moov`` box was lost cannot
            be opened at all; it is reported as ``truncated`` when a top-level box visibly runs
            past the end of the file, else as ``undecodable``.
    """
    with open_input(path, fmt) as container, translate_errors(fmt):
        video = first_video_stream(container, fmt, max_pixels=max_pixels)
        duration = declared_duration(container)
        if duration is None or duration <= 0:
            raise undecodable(fmt, "the duration is unknown or zero")
        if max_duration_s is not None and duration > max_duration_s:
            raise MediaError(TOO_LONG, f"video is {duration:.1f} s long; the limit is {max_duration_s:.0f} s")
        result = _describe(container, video, fmt, duration)
        covered = _scan(container, video, fmt, check_integrity)
        if check_integrity:
            expected = _expected_duration(video, fmt, duration)
            if covered < TRUNCATION_RATIO * expected - TRUNCATION_SLACK_S:
                raise MediaError(
                    TRUNCATED,
                    f"the file is truncated: media data ends at {covered:.1f} s of {expected:.1f} s",
                )
        return result


def _describe(
    container: InputContainer, video: VideoStream, fmt: VideoFormat, duration: float
) -> ProbeResult:
    ctx = video.codec_context
    if not ctx.width or not ctx.height:
        raise undecodable(fmt, "the video stream has no frame size")
    audio = container.streams.audio[0] if container.streams.audio else None
    actx = audio.codec_context if audio is not None else None
    return ProbeResult(
        format=fmt,
        duration_s=duration,
        width=ctx.width,
        height=ctx.height,
        fps=to_float(video.average_rate) or to_float(video.guessed_rate),
        video_codec=ctx.name,
        audio_codec=actx.name if actx is not None else None,
        has_audio=audio is not None,
        audio_sample_rate=(actx.sample_rate or None) if actx is not None else None,
        audio_channels=(actx.layout.nb_channels or None) if actx is not None else None,
        bit_rate=container.bit_rate or None,
    )


def _scan(container: InputContainer, video: VideoStream, fmt: VideoFormat, check_integrity: bool) -> float:
    """Decode the first video frame; when checking integrity, demux everything.

    Returns the seconds covered by the audio/video packets seen (0.0 if not checking).
    One pass: video packets are decoded only until the first frame appears.
    """
    streams = [video, *container.streams.audio] if check_integrity else [video]
    covered = 0.0
    have_frame = False
    errors = 0
    last_error: BaseException | None = None
    try:
        for packet in container.demux(*streams):
            if check_integrity:
                covered = max(covered, _packet_end(packet))
            if have_frame or packet.stream is not video:
                continue
            try:
                have_frame = bool(packet.decode())
            except av.FFmpegError as exc:  # tolerate a few broken leading packets
                errors += 1
                last_error = exc
                if errors > _MAX_FIRST_FRAME_ERRORS:
                    raise undecodable(fmt, exc) from exc
            if have_frame and not check_integrity:
                break
    except MediaError:
        raise
    except Exception as exc:
        if not have_frame:
            raise undecodable(fmt, exc) from exc
        expected = _expected_duration(video, fmt, declared_duration(container) or 0.0)
        raise MediaError(
            TRUNCATED,
            f"the file is truncated or corrupt: media data breaks off at {covered:.1f} s "
            f"of {expected:.1f} s ({describe_exception(exc)})",
        ) from exc
    if not have_frame:
        have_frame = _flush_has_frame(video)
    if not have_frame:
        reason = describe_exception(last_error) if last_error else "no video frame could be decoded"
        raise undecodable(fmt, reason)
    return covered


def _flush_has_frame(video: VideoStream) -> bool:
    try:
        return bool(video.decode(None))
    except av.FFmpegError:
        return False


def _packet_end(packet: Packet[Stream]) -> float:
    """End time of ``packet`` in seconds, relative to its stream's start."""
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return 0.0
    start = packet.stream.start_time or 0
    return float((ts + (packet.duration or 0) - start) * packet.time_base)


def _expected_duration(video: VideoStream, fmt: VideoFormat, duration: float) -> float:
    if fmt is VideoFormat.AVI:
        rate = to_float(video.average_rate)
        if video.frames and rate:
            return max(duration, video.frames / rate)
    return duration
