"""Passages: the units of a transcript that are embedded and searched, and the sentences inside them.

A Whisper segment is a subtitle cue: sometimes a whole sentence, sometimes half of one, sometimes
two. Search answers "where is this said?", so a passage is built from **sentences**
(:func:`vidsage.sentences.split_sentences`: the transcript's words cut at sentence ends, each
with the exact times of its first and last word), and every passage records the time and
character span of each of its sentences. A search hit can then point at the one sentence that
answers (its ``match``), not at a 20-second stretch.

Three ways to build passages (:class:`PassageConfig`, ``mode``), measured by
``python -m benchmarks relevance`` (the figures are in the README):

* ``sentences`` (the default): one passage per sentence, with ``context`` sentences on either side
  as context (``The onion goes in first. [Cook it for 8 minutes.] Then add the stock.``). The
  passage is *about* its middle sentence (``focus``): that sentence's span is the hit's match, and
  the keyword vector is built from it alone, while the embedding sees the context too. Passages
  overlap (each sentence is the focus of one and the context of its neighbours), so the search
  drops a hit whose focus is already inside a better hit's passage (see ``search.py``).
* ``windows``: runs of ``window`` consecutive sentences every ``stride`` sentences (overlapping when
  ``stride < window``); no focus: the match is found at query time.
* ``segments``: the first design: consecutive segments joined up to ``max_words`` words, no overlap,
  segments never split; the match is found at query time.

In every mode a passage stays within ``max_words`` words where it can (context is dropped first; a
single longer sentence is kept whole), starts at its first sentence's start and ends at its last
sentence's end, and lists the transcript segments its sentences come from. The result depends only
on the input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from vidsage.contracts.transcript import Segment
from vidsage.sentences import Sentence, split_sentences
from vidsage.settings import IndexerSettings

PassageMode = Literal["sentences", "windows", "segments"]


@dataclass(frozen=True)
class SentenceSpan:
    """Where a sentence is inside a passage: its time span and its character span in the text."""

    start: float
    end: float
    char_start: int
    char_end: int
    """``text[char_start:char_end]`` is the sentence."""


@dataclass(frozen=True)
class PassageConfig:
    """How :func:`build_passages` cuts a transcript (see the module docstring)."""

    mode: PassageMode = "sentences"
    max_words: int = 60
    context: int = 1
    """``sentences``: sentences of context on either side of the focus."""
    window: int = 3
    """``windows``: sentences per passage."""
    stride: int = 2
    """``windows``: sentences between two passage starts."""
    embed: Literal["passage", "focus"] = "focus"
    """What the embedding is computed from: the whole passage, or its focus sentence alone."""
    keywords: Literal["passage", "focus"] = "focus"
    """What the keyword (BM25) vector is computed from."""

    def __post_init__(self) -> None:
        if self.max_words < 1:
            raise ValueError(f"max_words must be at least 1, got {self.max_words}")
        if self.context < 0 or self.window < 1 or self.stride < 1:
            raise ValueError("context must be >= 0, window and stride >= 1")


@dataclass(frozen=True)
class PassageDraft:
    """A passage before it is embedded: its position, time span, text, sentences and source segments."""

    index: int
    """Position of the passage in the transcript (0-based, consecutive)."""
    start: float
    """Start of its first sentence, in seconds from the video start."""
    end: float
    """End of its last sentence, in seconds from the video start."""
    text: str
    """Its sentences joined by single spaces."""
    segment_ids: tuple[int, ...]
    """``Segment.id`` of every segment it draws on, in order."""
    sentences: tuple[SentenceSpan, ...] = field(default=())
    """Each sentence's time and character span (in order, covering ``text``)."""
    focus: int | None = None
    """Index into :attr:`sentences` of the sentence the passage is about (``sentences`` mode);
    ``None``: the best-matching sentence is chosen per query."""

    embed_text: str = ""
    """What is embedded (the text, or its focus sentence: :attr:`PassageConfig.embed`)."""
    keyword_text: str = ""
    """What the keyword vector is computed from (:attr:`PassageConfig.keywords`)."""

    @property
    def focus_text(self) -> str:
        """The focus sentence, else the whole text."""
        if self.focus is None:
            return self.text
        span = self.sentences[self.focus]
        return self.text[span.char_start : span.char_end]


# ---- passages -----------------------------------------------------------------------------------


def _draft(index: int, sentences: Sequence[Sentence], focus: int | None, cfg: PassageConfig) -> PassageDraft:
    spans, pos = [], 0
    for s in sentences:
        if pos:
            pos += 1
        spans.append(SentenceSpan(s.start, s.end, pos, pos + len(s.text)))
        pos += len(s.text)
    text = " ".join(s.text for s in sentences)
    focus_text = text if focus is None else sentences[focus].text
    return PassageDraft(
        index=index,
        start=min(s.start for s in sentences),
        end=max(s.end for s in sentences),
        text=text,
        segment_ids=tuple(dict.fromkeys(i for s in sentences for i in s.segment_ids)),
        sentences=tuple(spans),
        focus=focus,
        embed_text=focus_text if cfg.embed == "focus" else text,
        keyword_text=focus_text if cfg.keywords == "focus" else text,
    )


def _with_context(sentences: Sequence[Sentence], i: int, cfg: PassageConfig) -> tuple[int, int]:
    """``[lo, hi)`` around sentence ``i``: up to ``context`` each side, nearest first, within max_words."""
    lo, hi, words = i, i + 1, sentences[i].words
    for _ in range(cfg.context):
        for j in (lo - 1, hi):
            if 0 <= j < len(sentences) and words + sentences[j].words <= cfg.max_words:
                words += sentences[j].words
                lo, hi = min(lo, j), max(hi, j + 1)
    return lo, hi


def _segment_groups(segments: Sequence[Segment], cfg: PassageConfig) -> list[PassageDraft]:
    passages: list[PassageDraft] = []
    current: list[Segment] = []
    count = 0

    def close() -> None:
        sentences = split_sentences(current)
        passages.append(_draft(len(passages), sentences, None, cfg))

    for segment in segments:
        n = len(segment.text.split())
        if not n:
            continue
        if current and count + n > cfg.max_words:
            close()
            current, count = [], 0
        current.append(segment)
        count += n
    if current:
        close()
    return passages


def passage_config(settings: IndexerSettings) -> PassageConfig:
    """The passage construction the settings ask for."""
    return PassageConfig(
        mode=settings.passages, max_words=settings.passage_max_words, context=settings.passage_context
    )


def build_passages(
    segments: Sequence[Segment], config: PassageConfig | None = None, *, max_words: int | None = None
) -> list[PassageDraft]:
    """Cut ``segments`` (in time order, as stored) into passages as ``config`` says.

    ``max_words`` overrides ``config.max_words``. Empty-text segments are skipped; an empty
    transcript gives no passages.

    Raises:
        ValueError: ``max_words`` is below 1.
    """
    cfg = config or PassageConfig()
    if max_words is not None:
        cfg = dataclasses.replace(cfg, max_words=max_words)
    if cfg.mode == "segments":
        return _segment_groups(segments, cfg)
    sentences = split_sentences(segments)
    if cfg.mode == "sentences":
        out = []
        for i in range(len(sentences)):
            lo, hi = _with_context(sentences, i, cfg)
            out.append(_draft(i, sentences[lo:hi], i - lo, cfg))
        return out
    out, start = [], 0
    while start < len(sentences):
        hi = start + 1
        words = sentences[start].words
        while hi < min(len(sentences), start + cfg.window) and words + sentences[hi].words <= cfg.max_words:
            words += sentences[hi].words
            hi += 1
        out.append(_draft(len(out), sentences[start:hi], None, cfg))
        if hi >= len(sentences):
            break
        start = min(start + cfg.stride, hi)
    return out
