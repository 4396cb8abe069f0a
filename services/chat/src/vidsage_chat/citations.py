"""Citations: find the ``[mm:ss]`` (or ``[V2 mm:ss]``) markers in an answer and keep only those
that point at real text.

A marker names a start time truncated to the second (that is how the model was shown the
transcript). It matches the segment (or passage) whose start, truncated, is that second, or else
the one that contains the second. A marker that matches nothing is dropped, so every citation a
client receives points at text that exists at that time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from vidsage.contracts.chat import Citation
from vidsage.contracts.transcript import Segment
from vidsage_chat.prompt import Labelled

BRACKET = re.compile(r"\[([^\[\]\n]{1,80})\]")
TIME = re.compile(r"(?:(?P<label>V\d{1,3})\s*[,:]?\s*)?(?P<time>(?:\d{1,2}:)?\d{1,3}:\d{2})(?![\d:])")
T = TypeVar("T")

RANGE_END = re.compile(r"^\s*[-–—]\s*(?:\d{1,2}:)?\d{1,3}:\d{2}")


def parse_time(text: str) -> int | None:
    parts = [int(p) for p in text.split(":")]
    if any(p >= 60 for p in parts[1:]):
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def markers(answer: str) -> list[tuple[str | None, int]]:
    """``(label, second)`` for each cited time, in order; the end of a range is not a citation."""
    found: list[tuple[str | None, int]] = []
    for bracket in BRACKET.finditer(answer):
        inside = bracket.group(1)
        label: str | None = None
        pos = 0
        while m := TIME.search(inside, pos):
            pos = m.end()
            label = m.group("label") or label
            second = parse_time(m.group("time"))
            if second is not None:
                found.append((label, second))
            if end := RANGE_END.match(inside[pos:]):
                pos += end.end()
    return found


def _covers(start: float, end: float, second: int) -> bool:
    return math.floor(start) <= second <= end


def _pick(items: Sequence[T], second: int, span: Callable[[T], tuple[float, float]]) -> T | None:
    exact = [i for i in items if math.floor(span(i)[0]) == second]
    if exact:
        return exact[0]
    covering = [i for i in items if _covers(*span(i), second)]
    return covering[0] if covering else None


def video_citations(answer: str, video_id: str, segments: Sequence[Segment]) -> list[Citation]:
    """Citations of a single-video answer, mapped to transcript segments (duplicates removed)."""
    out: list[Citation] = []
    seen: set[int] = set()
    for _label, second in markers(answer):
        seg = _pick(segments, second, lambda s: (s.start, s.end))
        if seg is None or seg.id in seen or not seg.text:
            continue
        seen.add(seg.id)
        out.append(Citation(video_id=video_id, start=seg.start, end=seg.end, text=seg.text))
    return out


def library_citations(answer: str, passages: Sequence[Labelled]) -> list[Citation]:
    """Citations of a library answer, mapped to the passages the model was given."""
    out: list[Citation] = []
    seen: set[tuple[str, float]] = set()
    for label, second in markers(answer):
        pool = [p for p in passages if label is None or p.label == label]
        if label is None and len({p.hit.video_id for p in pool}) > 1:
            pool = [p for p in pool if _covers(p.hit.start, p.hit.end, second)]
            if len({p.hit.video_id for p in pool}) != 1:
                continue  # no label and ambiguous: cannot tell which video is meant
        chosen = _pick(pool, second, lambda p: (p.hit.start, p.hit.end))
        if chosen is None:
            continue
        hit = chosen.hit
        if (hit.video_id, hit.start) in seen:
            continue
        seen.add((hit.video_id, hit.start))
        out.append(Citation(video_id=hit.video_id, start=hit.start, end=hit.end, text=hit.text))
    return out


WORD = re.compile(r"[^\W_]+")
STOPWORDS = frozenset(
    """
    a an and are as at be but by can could did do does for from had has have how i if in into is it
    its me my of on or our should so that the their them then there these they this to was we were
    what when where which while who why will with would you your about after before
    """.split()  # noqa: SIM905 (one word list, readable)
)


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def best_segment(question: str, segments: Sequence[Segment]) -> Segment:
    """The segment sharing the most content words with the question (the first on a tie)."""
    wanted = content_words(question)
    return max(segments, key=lambda s: len(wanted & content_words(s.text)))
