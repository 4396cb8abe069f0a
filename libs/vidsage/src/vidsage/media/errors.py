"""The one exception type raised by :mod:`vidsage.media`."""

from __future__ import annotations

from typing import Final, Literal

MediaErrorCode = Literal[
    "unsupported_type",
    "empty_file",
    "undecodable",
    "truncated",
    "too_long",
    "no_video_stream",
    "frame_too_large",
    "no_audio_stream",
]

UNSUPPORTED_TYPE: Final = "unsupported_type"
EMPTY_FILE: Final = "empty_file"
UNDECODABLE: Final = "undecodable"
TRUNCATED: Final = "truncated"
TOO_LONG: Final = "too_long"
NO_VIDEO_STREAM: Final = "no_video_stream"
FRAME_TOO_LARGE: Final = "frame_too_large"
NO_AUDIO_STREAM: Final = "no_audio_stream"


class MediaError(Exception):
    """A media file was rejected or could not be processed.

    Attributes:
        code: a stable, machine-readable reason (one of :data:`MediaErrorCode`),
            suitable for API error bodies and metrics labels.
        message: a human-readable explanation; ``str(error) == error.message``.
            It never contains server-side file paths.
    """

    code: str
    message: str

    def __init__(self, code: MediaErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"MediaError(code={self.code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str]]:
        # Keeps the error picklable across ProcessPoolExecutor boundaries.
        return (type(self), (self.code, self.message))
