"""The transcript contract: what the transcriber stores and the gateway serves.

A :class:`Transcript` is stored as JSON (``schema_version`` 1; readers ignore fields they do not
know, a breaking change bumps the version). The gateway renders it on request as JSON, SubRip
(SRT), WebVTT or plain text through :data:`RENDERERS` with the matching :data:`CONTENT_TYPES`.

The SRT, VTT and text renderers pass the segments through :func:`normalize_segments` first, so
whatever a transcript holds (out-of-order or overlapping segments, empty texts, times past the
end of the video, markup characters, line breaks) they always produce a file that standard
parsers and a browser ``<track>`` accept.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from vidsage.contracts.events import utcnow

SCHEMA_VERSION: Final = 1
MIN_SEGMENT_MS = 100
"""Length given to a segment whose end is not after its start (see :func:`normalize_segments`)."""

_MS_PER_HOUR = 3_600_000
_MS_PER_MINUTE = 60_000


class TranscriptError(ValueError):
    """Bytes that are not a valid stored transcript (malformed JSON, wrong or missing fields)."""


def _finite_or_none(value: Any) -> Any:
    """Turn a non-finite score (NaN, ±inf) into ``None``: unknown rather than unserialisable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


Score = Annotated[float | None, BeforeValidator(_finite_or_none)]
"""An optional model score; NaN and ±inf are read as ``None``."""


class Word(BaseModel):
    """One word with its timing, as produced by Whisper word timestamps."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    start: float = Field(allow_inf_nan=False, description="Start time in seconds from the video start.")
    end: float = Field(allow_inf_nan=False, description="End time in seconds from the video start.")
    word: str = Field(description="The word as emitted by the model, usually with its leading space.")
    probability: Score = Field(description="Model confidence in the word (0..1), null if unknown.")


class Segment(BaseModel):
    """A stretch of speech: one subtitle cue."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int = Field(ge=0, description="Position of the segment in the transcript (0-based once normalized).")
    start: float = Field(allow_inf_nan=False, description="Start time in seconds from the video start.")
    end: float = Field(allow_inf_nan=False, description="End time in seconds from the video start.")
    text: str = Field(description="The spoken text.")
    words: list[Word] | None = Field(default=None, description="Word timings, null when not computed.")
    avg_logprob: Score = Field(
        default=None, description="Average log probability of the segment's tokens, null if unknown."
    )
    no_speech_prob: Score = Field(
        default=None, description="Probability that the segment holds no speech (0..1), null if unknown."
    )


class Transcript(BaseModel):
    """The transcript of one video: language, model and timed segments."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    video_id: str = Field(min_length=1, max_length=64, description="The video this transcript is of.")
    language: str | None = Field(description="Detected or forced language code (e.g. 'en'), null if unknown.")
    language_probability: Score = Field(
        description="Confidence of the language detection (0..1), null if the language was forced."
    )
    duration_s: float = Field(ge=0, allow_inf_nan=False, description="Duration of the transcribed audio.")
    model: str = Field(description="Name of the speech model that produced the transcript.")
    segments: list[Segment] = Field(description="Timed segments, in order once normalized.")
    created_at: datetime = Field(default_factory=utcnow, description="When it was produced (UTC).")

    @property
    def text(self) -> str:
        """The whole text: segment texts joined, stripped, every whitespace run a single space."""
        return " ".join(" ".join(segment.text for segment in self.segments).split())

    def normalized(self) -> Transcript:
        """A copy whose segments went through :func:`normalize_segments`."""
        return self.model_copy(update={"segments": normalize_segments(self.segments, self.duration_s)})

    def to_bytes(self) -> bytes:
        """The stored form: compact JSON, UTF-8."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Transcript:
        """Decode a stored transcript; raises :class:`TranscriptError` when it is not valid."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise TranscriptError(f"invalid transcript: {exc.error_count()} error(s): {exc}") from exc


# --- times -----------------------------------------------------------------------------------------


def _decimal(seconds: float) -> Decimal:
    if isinstance(seconds, bool) or not math.isfinite(seconds):
        raise ValueError(f"not a finite time: {seconds!r}")
    # repr() is the shortest decimal that reads back as the same float, so 59.9995 is treated as
    # exactly 59.9995 (its binary value is a hair below) and rounds up like a person would expect.
    return Decimal(repr(float(seconds)))


def _to_ms(seconds: float) -> int:
    """Whole milliseconds, halves rounded up."""
    return int((_decimal(seconds) * 1000).to_integral_value(rounding=ROUND_HALF_UP))


def _floor_ms(seconds: float) -> int:
    """Whole milliseconds, rounded down (never later than ``seconds``)."""
    return int((_decimal(seconds) * 1000).to_integral_value(rounding=ROUND_FLOOR))


def _split_ms(ms: int) -> tuple[int, int, int, int]:
    hours, rest = divmod(ms, _MS_PER_HOUR)
    minutes, rest = divmod(rest, _MS_PER_MINUTE)
    secs, millis = divmod(rest, 1000)
    return hours, minutes, secs, millis


def format_timestamp(seconds: float, sep: str = ",") -> str:
    """``HH:MM:SS<sep>mmm`` for a time in seconds, rounded to the nearest millisecond.

    Halves round up and carry into the larger fields, so 59.9995 gives ``00:01:00,000`` and the
    seconds field is never 60. Hours take as many digits as needed (at least two). ``sep`` is
    ``","`` for SRT and ``"."`` for WebVTT. Raises :class:`ValueError` for a non-finite time or one
    that rounds below zero.
    """
    ms = _to_ms(seconds)
    if ms < 0:
        raise ValueError(f"negative time: {seconds!r}")
    hours, minutes, secs, millis = _split_ms(ms)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


# --- normalization ---------------------------------------------------------------------------------


def _clamp(ms: int, limit_ms: int | None) -> int:
    ms = max(ms, 0)
    return ms if limit_ms is None else min(ms, limit_ms)


def _normalize_word(word: Word, limit_ms: int | None) -> Word:
    start = _clamp(_to_ms(word.start), limit_ms)
    end = max(_clamp(_to_ms(word.end), limit_ms), start)
    return word.model_copy(update={"start": start / 1000, "end": end / 1000})


_SENTENCE_END = (".", "?", "!", "…")
_CLAUSE_END = (",", ";", ":")


def split_long_segments(segments: Iterable[Segment], *, max_duration_s: float = 8.0) -> list[Segment]:
    """Cut segments longer than ``max_duration_s`` at sentence ends, using their word times.

    Whisper's batched mode decodes without timestamp tokens (it is more accurate so), which
    yields segments as long as its 30 s windows: poor subtitle cues and poor citations. The
    word timestamps are exact, so a long segment becomes one segment per sentence (a sentence
    still longer than the limit is cut again after a comma, else between words), each with the
    times of its own first and last word. Segments without words are kept as they are. Ids are
    renumbered by :func:`normalize_segments` afterwards.
    """
    out: list[Segment] = []
    for seg in segments:
        words = seg.words or []
        if seg.end - seg.start <= max_duration_s or len(words) < 2:
            out.append(seg)
            continue
        pieces: list[list[Word]] = []
        current: list[Word] = []
        for word in words:
            current.append(word)
            token = word.word.strip()
            too_long = current[-1].end - current[0].start >= max_duration_s
            if token.endswith(_SENTENCE_END) or (
                too_long and (token.endswith(_CLAUSE_END) or len(current) > 1)
            ):
                pieces.append(current)
                current = []
        if current:
            pieces.append(current)
        for piece in pieces:
            text = "".join(w.word for w in piece).strip()
            out.append(
                seg.model_copy(
                    update={"start": piece[0].start, "end": piece[-1].end, "text": text, "words": piece}
                )
            )
    return out


def normalize_segments(segments: Iterable[Segment], duration_s: float | None) -> list[Segment]:
    """Make segments safe to render as subtitles; returns new segments, the input is untouched.

    Rules, applied in this order:

    1. Text is stripped of surrounding whitespace; a segment left with no text is dropped.
    2. Times are rounded to the nearest millisecond (the precision of SRT and WebVTT) and
       clamped to ``[0, duration_s]``; ``duration_s`` itself is rounded *down* to the
       millisecond, so no time is ever past it. ``None`` (or ``inf``) means unknown: no upper
       bound.
    3. A segment whose end is not after its start (zero or negative length, or pushed there by
       the clamping) ends :data:`MIN_SEGMENT_MS` after its start, but never past the duration;
       if it starts at the very end, its start moves back instead so it still lasts
       ``MIN_SEGMENT_MS`` (or the whole duration when the video is shorter than that). Only a
       duration under one millisecond leaves zero-length segments.
    4. Word times are rounded and clamped the same way, with ``end >= start`` (no minimal length
       for words); word texts are kept as they are.
    5. Segments are sorted by start, then end, then original position (overlaps are kept: both
       formats allow overlapping cues), and ``id`` is renumbered ``0..n-1``.

    Scores and other fields are kept. The function is idempotent. Raises :class:`ValueError`
    when ``duration_s`` is negative or NaN.
    """
    if duration_s is not None and (math.isnan(duration_s) or duration_s < 0):
        raise ValueError(f"invalid duration: {duration_s!r}")
    limit_ms = None if duration_s is None or math.isinf(duration_s) else _floor_ms(duration_s)

    fixed: list[tuple[int, int, int, Segment]] = []
    for position, segment in enumerate(segments):
        text = segment.text.strip()
        if not text:
            continue
        start = _clamp(_to_ms(segment.start), limit_ms)
        end = _clamp(_to_ms(segment.end), limit_ms)
        if end <= start:
            end = start + MIN_SEGMENT_MS if limit_ms is None else min(start + MIN_SEGMENT_MS, limit_ms)
            if end <= start:
                start = max(end - MIN_SEGMENT_MS, 0)
        words = None if segment.words is None else [_normalize_word(w, limit_ms) for w in segment.words]
        fixed.append((start, end, position, segment.model_copy(update={"text": text, "words": words})))

    fixed.sort(key=lambda item: item[:3])
    return [
        segment.model_copy(update={"id": index, "start": start / 1000, "end": end / 1000})
        for index, (start, end, _, segment) in enumerate(fixed)
    ]


# --- renderers -------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Collapse every whitespace run (line breaks included: CR, LF, U+2028...) into one space."""
    return " ".join(text.split())


def to_json(t: Transcript) -> str:
    """The transcript as stored (compact JSON)."""
    return t.model_dump_json()


def to_srt(t: Transcript) -> str:
    """SubRip: numbered cues (from 1), ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each.

    The text of a cue is one non-empty line: line breaks are collapsed into spaces and ``-->`` is
    replaced by ``→`` (SRT has no escaping; ``<b>``-like text is left as it is). Segments are
    normalized first. An empty transcript gives ``""``.
    """
    cues = []
    for number, segment in enumerate(normalize_segments(t.segments, t.duration_s), start=1):
        text = _one_line(segment.text).replace("-->", "→")
        timing = f"{format_timestamp(segment.start)} --> {format_timestamp(segment.end)}"
        cues.append(f"{number}\n{timing}\n{text}\n\n")
    return "".join(cues)


def to_vtt(t: Transcript) -> str:
    """WebVTT: ``WEBVTT``, a blank line, then cues ``id``, ``HH:MM:SS.mmm --> HH:MM:SS.mmm``, text.

    The cue identifier is the segment id (0-based, after normalization). The text is one line,
    with ``&``, ``<`` and ``>`` escaped as ``&amp;``, ``&lt;`` and ``&gt;`` (so it can never hold
    ``-->`` or markup; a browser shows the original characters). An empty transcript gives
    ``"WEBVTT\\n\\n"``.
    """
    cues = ["WEBVTT\n\n"]
    for segment in normalize_segments(t.segments, t.duration_s):
        text = html.escape(_one_line(segment.text), quote=False)
        timing = f"{format_timestamp(segment.start, '.')} --> {format_timestamp(segment.end, '.')}"
        cues.append(f"{segment.id}\n{timing}\n{text}\n\n")
    return "".join(cues)


def clock(seconds: float, *, pad_hours: bool = False) -> str:
    """``mm:ss``, or ``h:mm:ss`` from one hour on (``hh:mm:ss`` with ``pad_hours``): the time of a
    moment as answers, citations, search hits and the ``txt`` transcript show it.

    The time is rounded to the millisecond (as everywhere in transcripts), then truncated to the
    second; a negative time shows as ``00:00``. Raises :class:`ValueError` for a non-finite time.
    """
    hours, minutes, secs, _ = _split_ms(max(0, _to_ms(seconds)))
    if not hours:
        return f"{minutes:02d}:{secs:02d}"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if pad_hours else f"{hours}:{minutes:02d}:{secs:02d}"


def to_txt(t: Transcript) -> str:
    """Plain text: one line ``[mm:ss] text`` per segment (``[hh:mm:ss]`` from one hour on).

    The time is the segment start, truncated to the second. Segments are normalized first and
    their line breaks collapsed. An empty transcript gives ``""``.
    """
    segments = normalize_segments(t.segments, t.duration_s)
    return "".join(
        f"[{clock(segment.start, pad_hours=True)}] {_one_line(segment.text)}\n" for segment in segments
    )


RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
    "txt": to_txt,
}
"""Renderers by format name, as served by the gateway."""

CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}
"""HTTP ``Content-Type`` of each format in :data:`RENDERERS`."""
