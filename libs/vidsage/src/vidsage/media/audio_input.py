"""Files the transcription endpoint (``POST /v1/audio/transcriptions``) accepts: the video
containers of an upload (:func:`~vidsage.media.sniff_format`) and the audio containers OpenAI's
API takes (FLAC, M4A, MP3, OGG, WAV, WebM), decided by content, never by name; then probed for an
audio stream and a duration within the limit.

The same safety rules as for videos: the demuxer of the sniffed format is forced and only local
files may be opened (:func:`vidsage.media._container.open_input`).
"""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Final

from vidsage.media._container import declared_duration, open_input, translate_errors, undecodable
from vidsage.media.errors import NO_AUDIO_STREAM, TOO_LONG, UNSUPPORTED_TYPE, MediaError
from vidsage.media.sniff import VideoFormat, _magic_mime, sniff_format


class AudioFormat(StrEnum):
    """An audio container the transcription endpoint accepts."""

    WAV = "wav"
    MP3 = "mp3"
    FLAC = "flac"
    OGG = "ogg"
    WEBM = "webm"
    M4A = "m4a"

    @property
    def mime(self) -> str:
        return _MIME[self]

    @property
    def extension(self) -> str:
        return self.value

    @property
    def demuxer(self) -> str:
        """The FFmpeg demuxer forced when opening it (M4A is MP4's ``mov``, WebM is Matroska)."""
        return {AudioFormat.M4A: "mov", AudioFormat.WEBM: "matroska"}.get(self, self.value)

    @property
    def label(self) -> str:
        return "WebM" if self is AudioFormat.WEBM else self.value.upper()


MediaFormat = VideoFormat | AudioFormat
"""Any container a transcription accepts."""

_MIME: Final[dict[AudioFormat, str]] = {
    AudioFormat.WAV: "audio/wav",
    AudioFormat.MP3: "audio/mpeg",
    AudioFormat.FLAC: "audio/flac",
    AudioFormat.OGG: "audio/ogg",
    AudioFormat.WEBM: "audio/webm",
    AudioFormat.M4A: "audio/mp4",
}

# libmagic's answers for them (several spellings across libmagic versions)
_ACCEPTED_MIME: Final[dict[str, AudioFormat]] = {
    "audio/x-wav": AudioFormat.WAV,
    "audio/wav": AudioFormat.WAV,
    "audio/vnd.wave": AudioFormat.WAV,
    "audio/mpeg": AudioFormat.MP3,
    "audio/flac": AudioFormat.FLAC,
    "audio/x-flac": AudioFormat.FLAC,
    "audio/ogg": AudioFormat.OGG,
    "application/ogg": AudioFormat.OGG,
    "audio/x-opus+ogg": AudioFormat.OGG,
    "audio/x-vorbis+ogg": AudioFormat.OGG,
    "video/webm": AudioFormat.WEBM,
    "audio/webm": AudioFormat.WEBM,
    "audio/mp4": AudioFormat.M4A,
    "audio/x-m4a": AudioFormat.M4A,
}

ACCEPTED_LABELS: Final = "FLAC, M4A, MP3, OGG, WAV or WebM audio, or MP4, MOV or AVI video"


def sniff_media(head: bytes) -> MediaFormat:
    """The container of a file to transcribe, from its first :data:`~vidsage.media.SNIFF_BYTES`.

    Raises:
        MediaError: ``empty_file``; ``unsupported_type`` (the message names the detected type).
    """
    try:
        return sniff_format(head)
    except MediaError as exc:
        if exc.code != UNSUPPORTED_TYPE:
            raise
    mime = _magic_mime(head)
    fmt = _ACCEPTED_MIME.get(mime)
    if fmt is None:
        raise MediaError(UNSUPPORTED_TYPE, f"unsupported file type: detected {mime}; send {ACCEPTED_LABELS}")
    return fmt


def media_format(value: str) -> MediaFormat:
    """The format named by its value (``"mp4"``, ``"wav"``...); ValueError for another name."""
    try:
        return VideoFormat(value)
    except ValueError:
        return AudioFormat(value)


def probe_audio(path: str | os.PathLike[str], fmt: MediaFormat, *, max_duration_s: float | None) -> float:
    """The duration (seconds) of a file's audio, after checking it opens, has an audio stream and
    is not longer than ``max_duration_s``.

    Raises:
        MediaError: ``undecodable``, ``no_audio_stream`` or ``too_long``.
    """
    with open_input(path, fmt) as container, translate_errors(fmt):
        if not container.streams.audio:
            raise MediaError(NO_AUDIO_STREAM, "the file contains no audio stream")
        duration = declared_duration(container)
        if duration is None or duration <= 0:
            raise undecodable(fmt, "the duration is unknown or zero")
        if max_duration_s is not None and duration > max_duration_s:
            raise MediaError(
                TOO_LONG, f"the audio is {duration:.1f} s long; the limit is {max_duration_s:.0f} s"
            )
        return duration
