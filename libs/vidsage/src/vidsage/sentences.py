"""Sentences of a transcript, with the times of their first and last words.

Shared by the indexer (search passages are built from sentences, and a hit names its best
sentence) and the chat service (an offline answer quotes whole sentences). Whisper's segments are
subtitle cues: half a sentence, a sentence, sometimes two; its word timestamps give each sentence
exact times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vidsage.contracts.transcript import Segment

_TERMINATORS = (".", "?", "!", "…")
_CLOSERS = "\"'”’)]"
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "a.m", "p.m", "no", "mt"}
)
_TEXT_SENTENCE = re.compile(r"[^.?!…]+(?:[.?!…]+[\"'”’)\]]*|$)")


@dataclass(frozen=True)
class Sentence:
    """One sentence of a transcript, with the times of its first and last word."""

    start: float
    end: float
    text: str
    """Its words joined by single spaces."""
    segment_ids: tuple[int, ...]
    """The segments its words come from, in order."""

    @property
    def words(self) -> int:
        return len(self.text.split())


# ---- sentences ----------------------------------------------------------------------------------


def _ends_sentence(token: str, next_token: str | None) -> bool:
    bare = token.rstrip(_CLOSERS)
    if not bare.endswith(_TERMINATORS):
        return False
    if bare.endswith(".") and bare[:-1].lower().lstrip("(\"'") in _ABBREVIATIONS:
        return next_token is None or next_token[:1].isupper()
    return True


def _from_words(segments: Sequence[Segment]) -> list[Sentence]:
    """Sentences of consecutive segments that all have word times."""
    tokens = [(word, seg.id) for seg in segments for word in seg.words or () if word.word.strip()]
    out: list[Sentence] = []
    current: list[tuple[str, float, float, int]] = []
    for i, (word, seg_id) in enumerate(tokens):
        token = word.word.strip()
        current.append((token, word.start, word.end, seg_id))
        following = tokens[i + 1][0].word.strip() if i + 1 < len(tokens) else None
        if _ends_sentence(token, following) or following is None:
            out.append(
                Sentence(
                    start=current[0][1],
                    end=max(current[-1][2], current[0][1]),
                    text=" ".join(t for t, *_ in current),
                    segment_ids=tuple(dict.fromkeys(s for *_, s in current)),
                )
            )
            current = []
    return out


def _from_text(segment: Segment) -> list[Sentence]:
    """Sentences of a segment without word times; times shared out by characters."""
    text = " ".join(segment.text.split())
    parts = [m.group(0).strip() for m in _TEXT_SENTENCE.finditer(text) if m.group(0).strip()]
    total = sum(len(p) for p in parts) or 1
    out, done = [], 0
    length = segment.end - segment.start
    for part in parts:
        start = segment.start + length * done / total
        done += len(part)
        out.append(Sentence(start, segment.start + length * done / total, part, (segment.id,)))
    return out


def _has_words(segment: Segment) -> bool:
    words = segment.words or []
    return bool(words) and " ".join("".join(w.word for w in words).split()) == " ".join(segment.text.split())


MIN_SENTENCE_WORDS = 4
"""A "sentence" shorter than this is a fragment: it joins the next sentence."""


def _join(a: Sentence, b: Sentence) -> Sentence:
    return Sentence(
        a.start,
        max(a.end, b.end),
        f"{a.text} {b.text}",
        tuple(dict.fromkeys((*a.segment_ids, *b.segment_ids))),
    )


def _mend(sentences: list[Sentence]) -> list[Sentence]:
    """Whisper sometimes ends a sentence too early ("Around noon." "Rest days matter. Because..."):
    a piece that starts in lower case joins the sentence before it, and a piece of fewer than
    :data:`MIN_SENTENCE_WORDS` words joins the one after it (the one before, at the end)."""
    out: list[Sentence] = []
    for s in sentences:
        if out and (s.text[:1].islower() or out[-1].words < MIN_SENTENCE_WORDS):
            out[-1] = _join(out[-1], s)
        else:
            out.append(s)
    if len(out) > 1 and out[-1].words < MIN_SENTENCE_WORDS:
        last = out.pop()
        out[-1] = _join(out[-1], last)
    return out


def split_sentences(segments: Iterable[Segment]) -> list[Sentence]:
    """The transcript's sentences, in order.

    Word times are used where a segment has them (and its words spell its text): words are cut after
    a token ending in ``.``, ``?``, ``!`` or ``…`` (a short abbreviation such as ``Dr.`` only when the
    next word is capitalised), across segment boundaries, so a sentence that Whisper split over two
    cues is one sentence. A segment without word times is split by its punctuation and its time is
    shared out by characters. Empty segments are skipped. Fragments are mended (see :func:`_mend`).
    """
    out: list[Sentence] = []
    run: list[Segment] = []
    for segment in segments:
        if not segment.text.strip():
            continue
        if _has_words(segment):
            run.append(segment)
            continue
        if run:
            out.extend(_from_words(run))
            run = []
        out.extend(_from_text(segment))
    if run:
        out.extend(_from_words(run))
    return _mend(out)
