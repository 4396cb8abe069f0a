"""Generators of small, real media files for tests (PyAV; no ffmpeg binary needed).

Import as ``from tests.support.media import make_video`` (tests and benchmarks alike).
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

VIDEO_CODEC = {"mp4": "libx264", "mov": "libx264", "avi": "mpeg4"}
AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "avi": "pcm_s16le"}
_AUDIO_RATE = {"mp4": 22050, "mov": 22050, "avi": 44100}
_TONE_HZ = 440.0


def make_video(
    path: str | Path,
    fmt: str,
    *,
    duration_s: float = 3.0,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    audio: bool = True,
    black_first_s: float = 0.5,
    faststart: bool = False,
    rotation: int = 0,
) -> Path:
    """Write a playable video: black for ``black_first_s`` seconds, then moving colour content.

    MP4/MOV: H.264 (libx264 ultrafast, yuv420p) + AAC mono 22.05 kHz.
    AVI: MPEG-4 Part 2 + PCM s16le mono 44.1 kHz. Audio is a 440 Hz sine tone.
    ``faststart`` moves the ``moov`` box in front of the media data (MP4/MOV only).
    ``width`` and ``height`` must be even (yuv420p). A non-zero ``rotation`` (degrees,
    counter-clockwise, as read back by ``VideoFrame.rotation``) stores a display matrix, like a
    phone filming in portrait (-90).
    """
    if fmt not in VIDEO_CODEC:
        raise ValueError(f"unknown format {fmt!r}")
    out = Path(path)
    options = {"movflags": "+faststart"} if faststart and fmt != "avi" else {}
    with av.open(str(out), mode="w", format=fmt, options=options) as container:
        video = add_video_stream(container, fmt, width, height, fps, rotation=rotation)
        sound = None
        if audio:
            sound = container.add_stream(AUDIO_CODEC[fmt], rate=_AUDIO_RATE[fmt], layout="mono")
        _write_video(container, video, round(duration_s * fps), fps, width, height, black_first_s)
        if sound is not None:
            _write_audio(container, sound, round(duration_s * _AUDIO_RATE[fmt]), fmt)
    return out


def add_video_stream(
    container: OutputContainer, fmt: str, width: int, height: int, fps: int, *, rotation: int = 0
) -> VideoStream:
    """The video stream of a ``fmt`` file: H.264 (libx264 ultrafast, yuv420p) in MP4/MOV, MPEG-4
    Part 2 at 2 Mb/s in AVI; ``rotation`` as in :func:`make_video`."""
    video = container.add_stream(VIDEO_CODEC[fmt], rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    if rotation:
        video.set_display_rotation(rotation)
    if fmt == "avi":
        video.bit_rate = 2_000_000
    else:
        video.options = {"preset": "ultrafast"}
    return video


def _write_video(
    container: OutputContainer,
    stream: VideoStream,
    frames: int,
    fps: int,
    width: int,
    height: int,
    black_first_s: float,
) -> None:
    pattern = MovingPattern(width, height)
    black = np.zeros((height, width, 3), np.uint8)
    for i in range(frames):
        t = i / fps
        rgb = black if t < black_first_s else pattern.at(t)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


class MovingPattern:
    """Moving colour gradients plus a white square, built from 1-D ramps (cheap even at 1080p)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.x = np.arange(width, dtype=np.float32) / max(1, width - 1)
        self.y = np.arange(height, dtype=np.float32) / max(1, height - 1)
        self.diagonal = np.arange(width + height - 1, dtype=np.float32) / max(1, width + height - 2)
        self.diagonal_index = np.add.outer(np.arange(height), np.arange(width))
        self.rgb = np.empty((height, width, 3), np.uint8)

    def at(self, t: float) -> np.ndarray:
        phase = t * 0.7
        rgb = self.rgb
        rgb[..., 0] = (((self.x + phase) % 1.0) * 255).astype(np.uint8)[None, :]
        rgb[..., 1] = (((self.y + phase * 0.5) % 1.0) * 255).astype(np.uint8)[:, None]
        blue = ((0.5 + 0.5 * np.sin(12.0 * self.diagonal + 3.0 * t)) * 255).astype(np.uint8)
        rgb[..., 2] = blue[self.diagonal_index]
        size = max(2, min(self.width, self.height) // 4)
        cx = int((0.5 + 0.4 * math.sin(t * 1.3)) * (self.width - size))
        cy = int((0.5 + 0.4 * math.cos(t * 1.1)) * (self.height - size))
        rgb[cy : cy + size, cx : cx + size] = 255
        return rgb


def _write_audio(container: OutputContainer, stream: AudioStream, samples: int, fmt: str) -> None:
    rate = _AUDIO_RATE[fmt]
    chunk = stream.codec_context.frame_size or 4096
    sample_format = "s16" if fmt == "avi" else "fltp"
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        tone = 0.3 * np.sin(2 * np.pi * _TONE_HZ * np.arange(start, start + n) / rate)
        data = (tone * 32767).astype(np.int16) if sample_format == "s16" else tone.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=sample_format, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def make_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """Write an MP4 container holding only an AAC track (no video stream)."""
    out = Path(path)
    with av.open(str(out), mode="w", format="mp4") as container:
        sound = container.add_stream("aac", rate=_AUDIO_RATE["mp4"], layout="mono")
        _write_audio(container, sound, round(seconds * _AUDIO_RATE["mp4"]), "mp4")
    return out


def make_wav(path: str | Path, seconds: float = 1.0, *, sample_rate: int = 16000) -> Path:
    """Write a mono 16-bit WAV with a 440 Hz tone."""
    out = Path(path)
    n = round(seconds * sample_rate)
    tone = (0.3 * 32767 * np.sin(2 * np.pi * _TONE_HZ * np.arange(n) / sample_rate)).astype("<i2")
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(tone.tobytes())
    return out


def truncate(path: str | Path, out: str | Path, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of the bytes of ``path`` to ``out``."""
    data = Path(path).read_bytes()
    target = Path(out)
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def make_frame_bomb(path: str | Path, side: int) -> Path:
    """A MOV holding one ``side`` x ``side`` MJPEG frame of a flat grey: a decompression bomb (the
    file is small, the decoded frame is ``side``² pixels; 16000 makes 1.5 MB and 256 megapixels)."""
    path = Path(path)
    with av.open(str(path), "w", format="mov") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width = stream.height = side
        stream.pix_fmt = "yuvj420p"
        frame = av.VideoFrame(side, side, "yuvj420p")
        for plane in frame.planes:
            plane.update(bytes([128]) * plane.buffer_size)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def pad_mp4(path: str | Path, out: str | Path, size: int) -> Path:
    """A copy of the MP4/MOV at ``path`` grown to ``size`` bytes by a trailing ``free`` box (which
    every MP4 reader skips): a large, still valid video without encoding large frames."""
    data = Path(path).read_bytes()
    extra = size - len(data)
    if extra < 8:
        raise ValueError(f"{path} is already {len(data)} bytes")
    target = Path(out)
    with target.open("wb") as f:
        f.write(data)
        f.write(extra.to_bytes(4, "big") + b"free")
        block = bytes(1 << 20)
        left = extra - 8
        while left:
            f.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return target


AUDIO_CONTAINERS: dict[str, tuple[str, str, int]] = {
    "wav": ("wav", "pcm_s16le", 16000),
    "flac": ("flac", "flac", 16000),
    "mp3": ("mp3", "libmp3lame", 16000),
    "ogg": ("ogg", "libopus", 48000),
    "webm": ("webm", "libopus", 48000),
    "m4a": ("ipod", "aac", 16000),
}
"""The audio containers of OpenAI's transcription API, as PyAV writes them: FFmpeg muxer, encoder, rate."""


def make_tone(path: str | Path, kind: str, seconds: float = 1.0) -> Path:
    """A mono 440 Hz tone in the audio container ``kind`` (a key of :data:`AUDIO_CONTAINERS`)."""
    muxer, codec, rate = AUDIO_CONTAINERS[kind]
    signal = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
    with av.open(str(path), "w", format=muxer) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        size = stream.codec_context.frame_size or 1024
        for start in range(0, len(signal), size):
            chunk = signal[start : start + size]
            if stream.codec_context.frame_size and len(chunk) < size:
                chunk = np.pad(chunk, (0, size - len(chunk)))
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return Path(path)
