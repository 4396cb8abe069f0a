"""Content-based detection of the accepted video container formats."""

from __future__ import annotations

import struct
from enum import StrEnum
from typing import Final

from vidsage.media.errors import EMPTY_FILE, UNSUPPORTED_TYPE, MediaError

SNIFF_BYTES: Final = 4096
"""How many leading bytes of a file callers should pass to :func:`sniff_format`."""


class VideoFormat(StrEnum):
    """A container format vidsage accepts for upload."""

    MP4 = "mp4"
    MOV = "mov"
    AVI = "avi"

    @property
    def mime(self) -> str:
        """The canonical MIME type (e.g. for ``Content-Type`` when serving the file)."""
        return _MIME[self]

    @property
    def extension(self) -> str:
        """The canonical file extension, without the dot."""
        return self.value

    @property
    def demuxer(self) -> str:
        """The FFmpeg demuxer name forced when opening the file with PyAV.

        MP4 and MOV share FFmpeg's ``mov`` demuxer (``"mov,mp4,m4a,3gp,3g2,mj2"``);
        ``av.open(format="mov")`` selects it. Forcing the demuxer means FFmpeg never
        guesses another format (e.g. an HLS playlist hidden in the file) from the content.
        """
        return "avi" if self is VideoFormat.AVI else "mov"

    @property
    def label(self) -> str:
        """Upper-case name used in user-facing messages (``"MP4"``)."""
        return self.value.upper()


_MIME: Final[dict[VideoFormat, str]] = {
    VideoFormat.MP4: "video/mp4",
    VideoFormat.MOV: "video/quicktime",
    VideoFormat.AVI: "video/x-msvideo",
}

# libmagic's answers (checked against libmagic's ISO-BMFF rules) that we accept.
# * video/mp4: brands isom/iso2..iso6/mp41/mp42/avc1/dash/mmp4 - plain MP4.
# * video/x-m4v: Apple's M4V brands; structurally plain MP4 with H.264/AAC.
# * video/quicktime: brand "qt  ", and brand-less QuickTime files starting with moov/mdat.
# Deliberately rejected: video/3gpp and video/3gpp2 (3GP phones' formats, often H.263/AMR),
# audio/mp4 and audio/x-m4a (audio-only), image/heic|heif|avif (still images), and the
# unknown ISO-BMFF brands libmagic reports as application/octet-stream.
_ACCEPTED_MIME: Final[dict[str, VideoFormat]] = {
    "video/mp4": VideoFormat.MP4,
    "video/x-m4v": VideoFormat.MP4,
    "video/quicktime": VideoFormat.MOV,
    "video/x-quicktime": VideoFormat.MOV,
    "video/x-msvideo": VideoFormat.AVI,
    "video/msvideo": VideoFormat.AVI,
    "video/avi": VideoFormat.AVI,
    "video/vnd.avi": VideoFormat.AVI,
}

# QuickTime padding atoms that may precede moov/mdat in old, ftyp-less .mov files;
# libmagic only recognises such files when they start with moov or mdat.
_PADDING_ATOMS: Final = frozenset({b"wide", b"free", b"skip"})


def sniff_format(head: bytes) -> VideoFormat:
    """Decide the container format of a file from its leading bytes (its content, not its name).

    Args:
        head: the first :data:`SNIFF_BYTES` bytes of the file (fewer if the file is shorter).

    Returns:
        The detected :class:`VideoFormat`.

    Raises:
        MediaError: ``empty_file`` if ``head`` is empty; ``unsupported_type`` for anything
            that is not MP4, MOV or AVI (the message names the detected MIME type).
    """
    if not head:
        raise MediaError(EMPTY_FILE, "the file is empty")
    mime = _magic_mime(head)
    if mime == "application/octet-stream":
        stripped = _strip_padding_atoms(head)
        if stripped is not None:
            mime = _magic_mime(stripped)
    fmt = _ACCEPTED_MIME.get(mime)
    if fmt is None:
        raise MediaError(
            UNSUPPORTED_TYPE,
            f"unsupported file type: detected {mime}; only MP4, MOV and AVI are accepted",
        )
    return fmt


def _magic_mime(data: bytes) -> str:
    # Imported here: python-magic loads libmagic at import, and the processes that only read
    # media (the transcriber decodes audio) need neither.
    import magic

    try:
        mime = magic.from_buffer(data, mime=True)
    except Exception as exc:  # magic.MagicException and friends
        raise MediaError(
            UNSUPPORTED_TYPE,
            f"unsupported file type: the type could not be identified ({type(exc).__name__}); "
            "only MP4, MOV and AVI are accepted",
        ) from exc
    return (mime or "application/octet-stream").split(";", 1)[0].strip().lower()


def _strip_padding_atoms(head: bytes) -> bytes | None:
    """Return ``head`` without leading QuickTime padding atoms, or None if there are none."""
    offset = 0
    while offset + 8 <= len(head):
        size, kind = struct.unpack_from(">I4s", head, offset)
        if kind not in _PADDING_ATOMS or size < 8:
            break
        offset += size
    if offset == 0 or offset + 8 > len(head):
        return None
    return head[offset:]
