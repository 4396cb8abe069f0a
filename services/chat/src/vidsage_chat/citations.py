"""Citations: find the ``[mm:ss]`` (or ``[V2 mm:ss]``) markers in an answer and keep only those
that point at real text.

A marker names a start time truncated to the second (that is how the model was shown the
transcript). It matches the segment (or, in library chat, the passage's matching sentence, which
is the time the model was shown) whose start, truncated, is that second, or else the one that
contains the second. A marker that matches nothing is dropped, so every citation a client receives
points at text that exists at that time. Each citation keeps the answer sentences that cite it
(:class:`Cited`), for the support check of :mod:`vidsage_chat.support`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from vidsage.contracts.chat import Citation
from vidsage.contracts.search import SearchHit
from vidsage.contracts.transcript import Segment
from vidsage_chat.prompt import Labelled

BRACKET = re.compile(r"\[([^\[\]\n]{1,80})\]")
TIME = re.compile(r"(?:(?P<label>V\d{1,3})\s*[,:]?\s*)?(?P<time>(?:\d{1,2}:)?\d{1,3}:\d{2})(?![\d:])")
T = TypeVar("T")

RANGE_END = re.compile(r"^\s*[-–—]\s*(?:\d{1,2}:)?\d{1,3}:\d{2}")
_MARK = re.compile(r"\[[^\[\]\n]{1,80}\]")  # a bracket, without capturing (for re.split)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")


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
    return [(label, second) for label, second, _ in placed_markers(answer)]


def placed_markers(answer: str) -> list[tuple[str | None, int, int]]:
    """``(label, second, position of its bracket in answer)`` for each cited time, in order."""
    found: list[tuple[str | None, int, int]] = []
    for bracket in BRACKET.finditer(answer):
        inside = bracket.group(1)
        label: str | None = None
        pos = 0
        while m := TIME.search(inside, pos):
            pos = m.end()
            label = m.group("label") or label
            second = parse_time(m.group("time"))
            if second is not None:
                found.append((label, second, bracket.start()))
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


def matched_sentence(hit: SearchHit) -> str:
    """The hit's matching sentence (its ``match_chars`` span), else its whole text."""
    return hit.text[hit.match_chars[0] : hit.match_chars[1]].strip() or hit.text


@dataclass(frozen=True)
class Cited:
    """A citation and the answer sentences (claims) that cite it."""

    citation: Citation
    claims: tuple[str, ...]


def claim_at(answer: str, position: int) -> str:
    """What the marker at character ``position`` of ``answer`` cites, without markers: the part of
    its sentence since the previous marker in that sentence (the whole sentence for a sentence with
    one marker).

    A marker that opens a sentence (only markers or spaces before it: "... 25 minutes. [00:45] Then
    ...") belongs to the sentence before.
    """
    chunks = [m for m in _SENTENCE.finditer(answer) if m.end() > m.start()]
    previous = ""
    for m in chunks:
        if m.start() <= position < max(m.end(), m.start() + 1):
            head = answer[m.start() : position]
            if not BRACKET.sub("", head).strip() and previous:
                return previous
            if len(BRACKET.findall(m.group(0))) <= 1:
                return _plain(m.group(0))  # the sentence's only marker: the whole sentence
            parts = [_plain(part) for part in _MARK.split(head)]
            return next((part for part in reversed(parts) if part), _plain(m.group(0)))
        if text := _plain(m.group(0)):
            previous = text
    return previous


def _plain(text: str) -> str:
    """``text`` without citation markers, whitespace runs collapsed, no space before punctuation."""
    flat = " ".join(BRACKET.sub(" ", text).split())
    return re.sub(r"\s+([.,;:!?])", r"\1", flat).strip(" ,;:-–—")


def video_cited(
    answer: str, video_id: str, segments: Sequence[Segment], filename: str | None = None
) -> list[Cited]:
    """Citations of a single-video answer, mapped to transcript segments (duplicates merged), each
    with the answer sentences that cite it."""
    out: dict[int, Cited] = {}
    for _label, second, pos in placed_markers(answer):
        seg = _pick(segments, second, lambda s: (s.start, s.end))
        if seg is None or not seg.text:
            continue
        claim = claim_at(answer, pos)
        if seg.id in out:
            out[seg.id] = Cited(out[seg.id].citation, (*out[seg.id].claims, claim))
            continue
        citation = Citation(video_id=video_id, filename=filename, start=seg.start, end=seg.end, text=seg.text)
        out[seg.id] = Cited(citation, (claim,))
    return list(out.values())


def video_citations(answer: str, video_id: str, segments: Sequence[Segment]) -> list[Citation]:
    """Citations of a single-video answer, mapped to transcript segments (duplicates removed)."""
    return [c.citation for c in video_cited(answer, video_id, segments)]


def library_citations(answer: str, passages: Sequence[Labelled]) -> list[Citation]:
    """Citations of a library answer, mapped to the passages the model was given."""
    return [c.citation for c in library_cited(answer, passages)]


def library_cited(answer: str, passages: Sequence[Labelled]) -> list[Cited]:
    """Citations of a library answer, mapped to the passages the model was given, each with the
    answer sentences that cite it."""
    out: dict[tuple[str, float], Cited] = {}
    for label, second, pos in placed_markers(answer):
        pool = [p for p in passages if label is None or p.label == label]
        if label is None and len({p.hit.video_id for p in pool}) > 1:
            pool = [p for p in pool if _covers(p.hit.start, p.hit.end, second)]
            if len({p.hit.video_id for p in pool}) != 1:
                continue  # no label and ambiguous: cannot tell which video is meant
        chosen = _pick(pool, second, lambda p: (p.hit.match_start, p.hit.match_end)) or _pick(
            pool, second, lambda p: (p.hit.start, p.hit.end)
        )
        if chosen is None:
            continue
        hit = chosen.hit
        key, claim = (hit.video_id, hit.match_start), claim_at(answer, pos)
        if key in out:
            out[key] = Cited(out[key].citation, (*out[key].claims, claim))
            continue
        sentence = matched_sentence(hit)
        citation = Citation(
            video_id=hit.video_id,
            filename=hit.filename,
            start=hit.match_start,
            end=hit.match_end,
            text=sentence,
        )
        out[key] = Cited(citation, (claim,))
    return list(out.values())


WORD = re.compile(r"[^\W_]+")
STOPWORDS = frozenset(
    """
    a an and are as at be but by can could did do does for from had has have how i if in into is it
    its me my of on or our should so that the their them then there these they this to was we were
    what when where which while who why will with would you your about after before
    """.split()  # noqa: SIM905 (one word list, readable)
)


_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
)
NUMBERS = {word: str(value) for value, word in enumerate(_NUMBER_WORDS.split())} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "hundred": "100",
    "half": "0.5",
}


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """The words that carry meaning: lower case, stop words dropped, crude stems, number words as
    digits ("six" = "6")."""
    return {NUMBERS.get(w) or _stem(w) for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def best_segment(question: str, segments: Sequence[Segment]) -> Segment:
    """The segment sharing the most content words with the question (the first on a tie)."""
    wanted = content_words(question)
    return max(segments, key=lambda s: len(wanted & content_words(s.text)))
