"""Offline (extractive) answers: the sentence that answers, with its time, and nothing else unless it helps.

Without a language model the chat still answers, by quoting the transcript. :func:`compose` turns
the search hits for a question into an answer that reads like one:

1. **Nothing relevant, nothing quoted.** When there is no hit, or the best hit's ``relevance``
   (cosine similarity of question and passage) is below ``chat.min_relevance``, the answer says
   plainly that the video (or the library) does not seem to cover the question, and cites nothing.
2. **The best sentence first.** The answer is the best hit's matching sentence, with its time as
   ``[mm:ss]`` (``[file.mp4 mm:ss]`` in library chat). The sentence next to it joins when it
   continues it: the following sentence when that one opens by referring back ("It ...",
   "Then ...", "Because ..."), or the previous one when the best sentence itself opens so (then it
   names what "it" is). Two adjacent sentences at most.
3. **Other moments only when they add something:** a further hit is quoted as "Also ..." when it
   is nearly as relevant as the best (within :data:`ALSO_MARGIN`), is not already quoted, and
   brings content words the answer does not have yet; at most :data:`MAX_ALSO` of them.

The answer quotes whole sentences; each citation is the transcript segments those sentences come
from (their own start, end and text: a sentence is usually one segment), so none can point
outside the transcript. The last line says that the answer is quoted, not generated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vidsage.contracts.chat import Citation
from vidsage.contracts.search import SearchHit
from vidsage.contracts.transcript import Segment, clock
from vidsage.sentences import Sentence, split_sentences
from vidsage_chat.citations import content_words, matched_sentence

ALSO_MARGIN = 0.08
"""A further moment is quoted only when its relevance is within this of the best hit's."""
MAX_ALSO = 2
"""Further moments quoted at most."""
NEW_WORDS = 2
"""Content words a further moment must add to the answer to be quoted."""
TRAILER = "(Quoted from the transcript: no language model is configured.)"

_REFERS_BACK = re.compile(
    r"^(it|its|it's|this|that|these|those|they|them|their|he|his|she|her|then|so|but|because|"
    r"otherwise|which|there|also|after that|afterwards)\b",
    re.IGNORECASE,
)


def not_covered(scope: str) -> str:
    """The answer when nothing relevant was found: ``scope`` is ``video`` or ``library``."""
    return f"The {scope} does not seem to cover this."


@dataclass(frozen=True)
class Quote:
    video_id: str
    filename: str
    sentences: tuple[Sentence, ...]
    segments: tuple[Segment, ...] = ()
    """The transcript segments the sentences come from (none: the hit's own text is quoted)."""

    @property
    def start(self) -> float:
        return self.sentences[0].start

    @property
    def end(self) -> float:
        return self.sentences[-1].end

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    def citation(self) -> Citation:
        """The segments quoted, at their own times and with their own text."""
        if not self.segments:
            start, end, text = self.start, self.end, self.text
        elif len(self.segments) == 1:
            start, end, text = self.segments[0].start, self.segments[0].end, self.segments[0].text
        else:
            start, end = self.segments[0].start, self.segments[-1].end
            text = " ".join(seg.text.strip() for seg in self.segments)
        return Citation(
            video_id=self.video_id,
            filename=self.filename,
            start=start,
            end=end,
            text=text,
            supported=True,
            support_score=1.0,
        )


@dataclass(frozen=True)
class Transcript:
    """A video's transcript as the offline answer reads it: its segments and its sentences."""

    segments: dict[int, Segment]
    sentences: list[Sentence]

    @classmethod
    def of(cls, segments: Sequence[Segment]) -> Transcript:
        return cls({s.id: s for s in segments}, split_sentences(segments))


def _locate(hit: SearchHit, sentences: Sequence[Sentence]) -> int | None:
    """Index of the transcript sentence that is ``hit``'s match (same start, else containing it)."""
    for i, s in enumerate(sentences):
        if abs(s.start - hit.match_start) < 1e-3:
            return i
    for i, s in enumerate(sentences):
        if s.start <= hit.match_start < s.end:
            return i
    return None


def _quote(hit: SearchHit, transcript: Transcript | None, *, extend: bool) -> Quote:
    """``hit``'s matching sentence, joined by the neighbour it needs when ``extend`` (see the
    module docstring)."""
    sentences = transcript.sentences if transcript is not None else []
    i = _locate(hit, sentences) if sentences else None
    if transcript is None or i is None:
        text = matched_sentence(hit)
        return Quote(hit.video_id, hit.filename, (Sentence(hit.match_start, hit.match_end, text, ()),))
    chosen = [sentences[i]]
    if extend and _REFERS_BACK.match(sentences[i].text) and i > 0:
        chosen.insert(0, sentences[i - 1])
    elif extend and i + 1 < len(sentences) and _REFERS_BACK.match(sentences[i + 1].text):
        chosen.append(sentences[i + 1])
    ids = dict.fromkeys(seg_id for s in chosen for seg_id in s.segment_ids)
    segments = tuple(transcript.segments[seg_id] for seg_id in ids if seg_id in transcript.segments)
    return Quote(hit.video_id, hit.filename, tuple(chosen), segments)


@dataclass(frozen=True)
class Extract:
    """An extractive answer: its text (sent as one token frame per part) and its citations."""

    parts: list[str]
    citations: list[Citation]

    @property
    def text(self) -> str:
        return "".join(self.parts)


def compose(
    hits: Sequence[SearchHit],
    transcripts: Mapping[str, Transcript | None],
    *,
    scope: str,
    with_title: bool,
    min_relevance: float,
) -> Extract:
    """The offline answer to a question from its search ``hits`` (best first).

    ``transcripts`` holds each hit video's transcript (None when it cannot be read: the hit's own
    match is quoted then). ``scope`` is ``video`` or ``library``.
    """
    if not hits or hits[0].relevance < min_relevance:
        return Extract([not_covered(scope)], [])
    best = hits[0]
    quotes = [_quote(best, transcripts.get(best.video_id), extend=True)]
    known = content_words(quotes[0].text)
    for hit in hits[1:]:
        if len(quotes) > MAX_ALSO or hit.relevance < max(min_relevance, best.relevance - ALSO_MARGIN):
            break
        quote = _quote(hit, transcripts.get(hit.video_id), extend=False)
        if any(q.video_id == quote.video_id and q.start <= quote.start < q.end + 1e-6 for q in quotes):
            continue
        new = content_words(quote.text) - known
        if len(new) < NEW_WORDS:
            continue
        quotes.append(quote)
        known |= new

    def mark(q: Quote) -> str:
        return f"[{q.filename} {clock(q.start)}]" if with_title else f"[{clock(q.start)}]"

    parts = [f"{quotes[0].text} {mark(quotes[0])}"]
    parts += [f"\n\nAlso: {q.text} {mark(q)}" for q in quotes[1:]]
    parts.append(f"\n\n{TRAILER}")
    return Extract(parts, [q.citation() for q in quotes])
