"""Media handling for uploads: type sniffing, probing, thumbnails and audio extraction.

All functions are synchronous and blocking; async callers should run them in an executor.
Every failure is reported as :class:`MediaError` with a stable ``code``.
"""

from vidsage.media.audio import decode_audio, extract_audio
from vidsage.media.audio_input import AudioFormat, MediaFormat, media_format, probe_audio, sniff_media
from vidsage.media.errors import MediaError, MediaErrorCode
from vidsage.media.probe import ProbeResult, probe
from vidsage.media.sniff import SNIFF_BYTES, VideoFormat, sniff_format
from vidsage.media.thumbnail import make_thumbnail, thumbnail_size

__all__ = [
    "SNIFF_BYTES",
    "AudioFormat",
    "MediaError",
    "MediaErrorCode",
    "MediaFormat",
    "ProbeResult",
    "VideoFormat",
    "decode_audio",
    "extract_audio",
    "make_thumbnail",
    "media_format",
    "probe",
    "probe_audio",
    "sniff_format",
    "sniff_media",
    "thumbnail_size",
]
