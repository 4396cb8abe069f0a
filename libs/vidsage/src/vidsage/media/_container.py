"""Shared PyAV plumbing: safe opening, error translation and duration helpers (internal)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Final

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from vidsage.media.errors import FRAME_TOO_LARGE, NO_VIDEO_STREAM, TRUNCATED, UNDECODABLE, MediaError
from vidsage.media.sniff import VideoFormat
from vidsage.settings import MAX_FRAME_PIXELS

if TYPE_CHECKING:
    from vidsage.media.audio_input import MediaFormat

SAFE_OPTIONS: Final[dict[str, str]] = {"protocol_whitelist": "file"}
"""FFmpeg options for every input we open: local files only, no network or nested protocols."""

_MAX_TOP_LEVEL_BOXES: Final = 10_000
# A file is only treated as ISO-BMFF if its first box is one of these.
_FIRST_BOXES: Final = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"}
)


def describe_exception(exc: BaseException) -> str:
    """A short description of ``exc`` without file-system paths (safe to show to users)."""
    if isinstance(exc, av.FFmpegError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def undecodable(fmt: MediaFormat, exc: BaseException | str) -> MediaError:
    """Build the ``undecodable`` error for ``fmt`` with a path-free reason."""
    reason = exc if isinstance(exc, str) else describe_exception(exc)
    return MediaError(UNDECODABLE, f"the file could not be decoded as {fmt.label}: {reason}")


@contextmanager
def translate_errors(fmt: MediaFormat) -> Iterator[None]:
    """Turn exceptions raised in the block into ``undecodable``.

    :class:`MediaError` passes unchanged, and so does a plain :class:`OSError` (not an FFmpeg
    error): inside the block such errors come from writing our own output files (disk full,
    missing directory) and are not the upload's fault.
    """
    try:
        yield
    except MediaError:
        raise
    except OSError as exc:
        if not isinstance(exc, av.FFmpegError):
            raise
        raise undecodable(fmt, exc) from exc
    except Exception as exc:
        raise undecodable(fmt, exc) from exc


@contextmanager
def open_input(path: str | os.PathLike[str], fmt: MediaFormat) -> Iterator[InputContainer]:
    """Open ``path`` for reading with the demuxer of ``fmt`` forced and only the file protocol allowed.

    The container is always closed on exit. Errors while opening become :class:`MediaError`
    (``truncated`` for an ISO-BMFF file whose boxes run past the end of the file, else
    ``undecodable``); errors inside the block are *not* translated (see :func:`translate_errors`).
    """
    url = str(Path(path).absolute())  # absolute: a "name:..." path can never look like a URL
    try:
        container = av.open(url, mode="r", format=fmt.demuxer, options=dict(SAFE_OPTIONS))
    except Exception as exc:
        if fmt is not VideoFormat.AVI:
            overrun = bmff_overrun(url)
            if overrun is not None:
                raise MediaError(TRUNCATED, f"the file is truncated: {overrun}") from exc
        raise undecodable(fmt, exc) from exc
    try:
        yield container
    finally:
        container.close()


def first_video_stream(
    container: InputContainer, fmt: VideoFormat, *, max_pixels: int = MAX_FRAME_PIXELS
) -> VideoStream:
    """The first video stream, its decoded frame size bounded by ``max_pixels``.

    ``undecodable`` if no streams at all were found, else ``no_video_stream``. A frame size in the
    container's header over ``max_pixels`` is ``frame_too_large`` before anything is decoded (a
    decompression bomb: a small file with one huge, highly compressible frame); and the decoder is
    given the same bound (FFmpeg's ``max_pixels``), so a header that understates the size of the
    frames in the data fails their decoding instead of allocating them.
    """
    if not container.streams:
        raise undecodable(fmt, "no audio or video streams were found")
    if not container.streams.video:
        raise MediaError(NO_VIDEO_STREAM, "the file contains no video stream")
    video = container.streams.video[0]
    ctx = video.codec_context
    if ctx.width * ctx.height > max_pixels:
        raise MediaError(
            FRAME_TOO_LARGE,
            f"the video's frames are {ctx.width}x{ctx.height} pixels; the limit is {max_pixels} pixels "
            f"({max_pixels / 1e6:.1f} megapixels)",
        )
    ctx.options = {**ctx.options, "max_pixels": str(max_pixels)}
    return video


def declared_duration(container: InputContainer) -> float | None:
    """Duration in seconds from the container header, else the longest stream; None if unknown."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    longest: float | None = None
    for stream in container.streams:
        if stream.duration is not None and stream.duration > 0 and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
            longest = seconds if longest is None else max(longest, seconds)
    return longest


def to_float(rate: Fraction | None) -> float | None:
    """A positive frame rate as float, else None."""
    if rate is None or rate <= 0:
        return None
    return float(rate)


def bmff_overrun(path: str | os.PathLike[str]) -> str | None:
    """Walk the top-level ISO-BMFF boxes; describe the first one that runs past end of file.

    Only box headers are read. Returns None when every box fits (or the file is not ISO-BMFF).
    This tells a cut-off MP4/MOV (``mdat`` incomplete, ``moov`` missing) from a corrupt one.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            offset = 0
            for _ in range(_MAX_TOP_LEVEL_BOXES):
                if offset + 8 > size:
                    return None
                fh.seek(offset)
                header = fh.read(16)
                if len(header) < 8:
                    return None
                box_size, kind = struct.unpack_from(">I4s", header)
                if (offset == 0 and kind not in _FIRST_BOXES) or not _is_box_type(kind):
                    return None
                if box_size == 1:
                    if len(header) < 16:  # 64-bit size field itself cut off
                        return f"the '{_box_name(kind)}' box header is cut off at byte {size}"
                    (box_size,) = struct.unpack_from(">Q", header, 8)
                elif box_size == 0:  # box extends to end of file
                    return None
                if box_size < 8:
                    return None
                if offset + box_size > size:
                    return (
                        f"the '{_box_name(kind)}' box needs {offset + box_size} bytes "
                        f"but the file has only {size}"
                    )
                offset += box_size
    except OSError:
        return None
    return None


def _is_box_type(kind: bytes) -> bool:
    return kind.isascii() and kind.decode("ascii").isprintable()


def _box_name(kind: bytes) -> str:
    return kind.decode("ascii")
