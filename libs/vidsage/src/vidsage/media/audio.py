"""The soundtrack of a video as mono audio for speech recognition: decoded into memory
(:func:`decode_audio`, what the transcriber feeds Whisper) or written as a 16-bit PCM WAV file
(:func:`extract_audio`). Both decode and resample the same way (FFmpeg's resampler to s16 mono),
so the samples are identical."""

from __future__ import annotations

import array
import contextlib
import os
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer

from vidsage.media._container import open_input, translate_errors, undecodable
from vidsage.media.sniff import VideoFormat

if TYPE_CHECKING:
    from vidsage.media.audio_input import MediaFormat

_MAX_BAD_PACKETS: Final = 25
"""Corrupt audio packets skipped before extraction gives up."""


def extract_audio(
    path: str | os.PathLike[str],
    fmt: VideoFormat,
    out_path: str | os.PathLike[str],
    *,
    sample_rate: int = 16000,
) -> float | None:
    """Decode the first audio stream and write it as a mono, 16-bit PCM WAV file.

    Audio is decoded, resampled (``av.AudioResampler``) and written chunk by chunk, so memory
    use does not grow with the length of the video. Up to a few corrupt packets are skipped.
    On failure the partial output file is removed.

    Args:
        path: the video file.
        fmt: its format (from :func:`vidsage.media.sniff_format`).
        out_path: where to write the WAV file (overwritten if it exists).
        sample_rate: output sample rate in Hz.

    Returns:
        The duration of the written audio in seconds (0.0 for an audio stream without
        packets, written as an empty WAV), or None (and nothing is written) when
        the video has no audio stream.

    Raises:
        MediaError: ``undecodable`` if the audio cannot be decoded (``truncated`` if a cut-off
            MP4/MOV cannot even be opened).
        OSError: if ``out_path`` cannot be written (not the upload's fault).
        ValueError: if ``sample_rate`` is not positive.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    out = Path(out_path)
    with open_input(path, fmt) as container, translate_errors(fmt):
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        try:
            samples = _write_wav(out, _mono_s16_chunks(container, stream, fmt, sample_rate), sample_rate)
        except BaseException:
            with contextlib.suppress(OSError):
                out.unlink()
            raise
    return samples / sample_rate


def decode_audio(
    path: str | os.PathLike[str], fmt: MediaFormat, *, sample_rate: int = 16000
) -> np.ndarray | None:
    """Decode the first audio stream to mono float32 samples in ``[-1, 1)`` at ``sample_rate``.

    The same decoding as :func:`extract_audio` (s16 mono through ``av.AudioResampler``, then
    divided by 32768, as ``faster_whisper.decode_audio`` does), without a file in between: the
    transcriber decodes the uploaded video once, in memory. About 64 KB per second of audio at
    16 kHz (11.5 MB for the longest accepted video, 3 min).

    Returns:
        The samples (empty for an audio stream without packets), or None when the video has no
        audio stream.

    Raises:
        MediaError: ``undecodable`` if the audio cannot be decoded (``truncated`` if a cut-off
            MP4/MOV cannot even be opened).
        ValueError: if ``sample_rate`` is not positive.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    with open_input(path, fmt) as container, translate_errors(fmt):
        if not container.streams.audio:
            return None
        pcm = b"".join(_mono_s16_chunks(container, container.streams.audio[0], fmt, sample_rate))
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def _write_wav(out: Path, chunks: Iterator[bytes], sample_rate: int) -> int:
    """Write PCM chunks to ``out``; return the number of samples written."""
    written = 0
    with out.open("wb") as fh, wave.open(fh, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        for chunk in chunks:
            wav.writeframesraw(chunk)
            written += len(chunk) // 2
    return written


def _mono_s16_chunks(
    container: InputContainer, stream: AudioStream, fmt: MediaFormat, sample_rate: int
) -> Iterator[bytes]:
    """Yield the stream's audio as little-endian s16 mono bytes at ``sample_rate``."""
    resampler = AudioResampler(format="s16", layout="mono", rate=sample_rate)
    bad = 0
    decoded_any = False
    packets_with_data = 0
    for packet in container.demux(stream):
        packets_with_data += packet.size > 0
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            bad += 1
            if bad > _MAX_BAD_PACKETS:
                raise undecodable(fmt, exc) from exc
            continue
        for frame in frames:
            decoded_any = True
            yield from _pcm(resampler.resample(frame))
    if packets_with_data and not decoded_any:
        raise undecodable(fmt, "the audio stream contains no decodable audio")
    yield from _pcm(resampler.resample(None))


def _pcm(frames: list[AudioFrame]) -> Iterator[bytes]:
    for frame in frames:
        if frame.samples:
            # packed s16 mono: one plane, possibly padded beyond the last sample
            pcm = bytes(frame.planes[0])[: frame.samples * 2]
            yield pcm if sys.byteorder == "little" else _byteswap16(pcm)


def _byteswap16(pcm: bytes) -> bytes:
    """Native-endian s16 to little-endian, as WAV requires (only needed on big-endian hosts)."""
    samples = array.array("h", pcm)
    samples.byteswap()
    return samples.tobytes()
