"""Passages: consecutive transcript segments grouped into the units that are embedded and searched.

A Whisper segment is usually one sentence or less: too little context for a good embedding, and
too many hits for one answer. A passage joins consecutive segments into a few sentences, at most
``max_words`` words (``IndexerSettings.passage_max_words``).

Rules (see :func:`build_passages`):

* Segments are never split, so a passage starts exactly at its first segment's start and ends
  exactly at its last segment's end, and a search hit can always cite whole segments. A single
  segment longer than ``max_words`` becomes a passage of its own.
* Passages do **not** overlap: every segment belongs to exactly one passage. This keeps the
  mapping from a hit back to segments and times (the citation) one-to-one, at the price of an
  answer that straddles a boundary being split over two neighbouring passages.
* Segments whose text is empty (or only whitespace) are skipped.
* The result depends only on the input: the same segments always give the same passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vidsage.contracts.transcript import Segment


@dataclass(frozen=True)
class PassageDraft:
    """A passage before it is embedded: its position, time span, text and source segments."""

    index: int
    """Position of the passage in the transcript (0-based, consecutive)."""
    start: float
    """Start of its first segment, in seconds from the video start."""
    end: float
    """End of its last segment, in seconds from the video start."""
    text: str
    """The segment texts, stripped and joined by single spaces (inner whitespace runs collapsed)."""
    segment_ids: tuple[int, ...]
    """``Segment.id`` of every segment in the passage, in order."""


def _words(text: str) -> list[str]:
    return text.split()


def build_passages(segments: Sequence[Segment], *, max_words: int = 60) -> list[PassageDraft]:
    """Group consecutive ``segments`` into passages of at most ``max_words`` words.

    Segments are taken in the order given (a stored transcript is already in time order, see
    :func:`vidsage.contracts.transcript.normalize_segments`). A segment is added to the current
    passage while the passage stays within ``max_words`` (words are whitespace-separated tokens);
    otherwise the passage is closed and the segment starts the next one. A segment that alone
    exceeds ``max_words`` becomes a passage of its own and is never split. Empty-text segments
    are skipped; there is no overlap between passages.

    Raises:
        ValueError: ``max_words`` is below 1.
    """
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")

    passages: list[PassageDraft] = []
    current: list[tuple[Segment, list[str]]] = []
    count = 0

    def close() -> None:
        first, last = current[0][0], current[-1][0]
        passages.append(
            PassageDraft(
                index=len(passages),
                start=first.start,
                end=last.end,
                text=" ".join(word for _, words in current for word in words),
                segment_ids=tuple(segment.id for segment, _ in current),
            )
        )

    for segment in segments:
        words = _words(segment.text)
        if not words:
            continue
        if current and count + len(words) > max_words:
            close()
            current, count = [], 0
        current.append((segment, words))
        count += len(words)
    if current:
        close()
    return passages
