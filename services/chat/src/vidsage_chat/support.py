"""Citations checked for support: does the cited text back the sentence of the answer that cites it?

A citation that points at real text (all :mod:`vidsage_chat.citations` guarantees) may still not
support what the answer says there: a model cites the segment before the one it paraphrases, or a
moment it never read. For each citation of a language-model answer:

* the **claim** is the answer's sentence that holds the citation's marker, without the markers (a
  citation cited from several sentences keeps its best);
* its **support score** is ``MEANING_WEIGHT · max(0, cosine) + (1 − MEANING_WEIGHT) · overlap``:
  the cosine similarity of claim and cited text by the indexer's embedding model (asked over NATS,
  ``indexer.similarity_subject``: one process holds the model, the chat needs no torch), and the
  share of the claim's content words (stop words dropped, crude stems, number words as digits)
  found in the cited text;
* it is ``supported`` when the score reaches ``chat.support_threshold``. With the indexer
  unreachable the meaning part is left out and the overlap alone is scored, against the same
  threshold (stricter: a paraphrase may share few words), and a warning is logged.

Measured on the labelled cases of ``tests.support.citation_cases`` (36 claims, each cited
correctly, shifted by one segment and invented): see the README's Benchmarks section.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from vidsage.contracts.chat import Citation
from vidsage_chat.citations import Cited, content_words

MEANING_WEIGHT = 0.5
"""Share of the support score given to the meaning (cosine similarity); the rest is word overlap."""

Similarity = Callable[[list[tuple[str, str]]], Awaitable[list[float]]]
"""Cosine similarity of each pair of texts, in order."""


def overlap(claim: str, cited: str) -> float:
    """Share of the claim's content words that are in the cited text (0 when it has none)."""
    wanted = content_words(claim)
    if not wanted:
        return 0.0
    return len(wanted & content_words(cited)) / len(wanted)


def score(cosine: float | None, claim: str, cited: str) -> float:
    """The support score (see the module docstring); ``cosine`` None: overlap alone."""
    lexical = overlap(claim, cited)
    if cosine is None:
        return lexical
    return MEANING_WEIGHT * max(0.0, cosine) + (1 - MEANING_WEIGHT) * lexical


async def check(
    cited: Sequence[Cited], similarity: Similarity | None, threshold: float
) -> tuple[list[Citation], bool]:
    """Each citation with ``supported`` and ``support_score`` set, in order, and whether the
    meaning was used (False: ``similarity`` is None or failed)."""
    pairs = [(claim, c.citation.text) for c in cited for claim in c.claims if claim]
    cosines: dict[tuple[str, str], float] = {}
    used = False
    if pairs and similarity is not None:
        try:
            cosines = dict(zip(pairs, await similarity(pairs), strict=True))
            used = True
        except Exception:
            cosines = {}
    out: list[Citation] = []
    for c in cited:
        text = c.citation.text
        best = max(
            (score(cosines.get((claim, text)) if used else None, claim, text) for claim in c.claims if claim),
            default=0.0,
        )
        best = round(min(1.0, max(0.0, best)), 4)
        out.append(c.citation.model_copy(update={"supported": best >= threshold, "support_score": best}))
    return out, used
