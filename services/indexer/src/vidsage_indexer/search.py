"""The indexer's two blocking steps, used by the service and by the benchmarks alike:
:func:`prepare` (transcript segments → passages → dense and keyword vectors) and :func:`search`
(query → embedding + keyword vector → the vector store's hybrid search → hits with their matching
sentence).

* **Match.** Every hit names the sentence inside it that answers best: its time span
  (``match_start``, ``match_end``, where a player should seek) and its character span in the hit's
  text (``match_chars``). A passage built around one sentence (``sentences`` mode) matches on that
  sentence; otherwise the sentence sharing the most query keywords (same tokens and stems as the
  BM25 vectors) wins, the first on a tie.
* **No near-duplicates.** Passages of ``sentences`` mode overlap, so a hit whose matching sentence
  lies inside a better hit of the same video adds nothing: it is dropped, and the store is asked
  for a few more candidates to fill the page.
* **Relevance.** ``relevance`` is the cosine similarity of the query and the hit's embedding (0
  when the hit came from the keywords alone): the number a "does this answer at all?" threshold
  can be set on, unlike the fused rank score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vidsage.contracts.search import SearchHit, SearchRequest, moment_link
from vidsage.contracts.transcript import Segment
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.passages import PassageConfig, SentenceSpan, build_passages
from vidsage_indexer.store import Hit, Passage, Sparse, VectorStore, passage_id
from vidsage_indexer.store.sparse import encode_document, encode_query


def prepare(
    embedder: Embedder,
    segments: Sequence[Segment],
    config: PassageConfig,
    *,
    video_id: str,
    owner: str,
    filename: str,
) -> tuple[list[Passage], list[list[float]], list[Sparse]]:
    """A video's passages with their dense and keyword vectors, ready for ``VectorStore.upsert``
    (blocking: the embedding runs here). No segments, no passages."""
    drafts = build_passages(segments, config)
    passages = [
        Passage(
            id=passage_id(video_id, d.index),
            video_id=video_id,
            owner=owner,
            filename=filename,
            start=d.start,
            end=d.end,
            text=d.text,
            segment_ids=d.segment_ids,
            sentences=d.sentences,
            focus=d.focus,
        )
        for d in drafts
    ]
    dense = embedder.encode([d.embed_text for d in drafts])
    sparse = [encode_document(d.keyword_text) for d in drafts]
    return passages, dense, sparse


OVERFETCH = 3
"""Candidates asked of the store per hit returned, to fill the page after near-duplicates go."""


@dataclass(frozen=True)
class Matched:
    """A store hit with its matching sentence."""

    hit: Hit
    match: SentenceSpan


def best_sentence(hit: Hit, query_tokens: frozenset[int]) -> SentenceSpan:
    """The sentence of ``hit`` that answers: its focus, else the one sharing most query tokens."""
    spans = hit.spans()
    if hit.focus is not None:
        return spans[hit.focus]
    if len(spans) == 1 or not query_tokens:
        return spans[0]

    def shared(span: SentenceSpan) -> int:
        tokens = encode_query(hit.text[span.char_start : span.char_end]).indices
        return len(query_tokens.intersection(tokens))

    return max(spans, key=shared)  # max keeps the first of equals


def _inside(span: SentenceSpan, hit: Hit) -> bool:
    return hit.start - 1e-6 <= span.start and span.end <= hit.end + 1e-6


def distinct(matched: Sequence[Matched]) -> list[Matched]:
    """``matched`` without the hits whose matching sentence is inside a better hit of the same video."""
    kept: list[Matched] = []
    for m in matched:
        if any(k.hit.video_id == m.hit.video_id and _inside(m.match, k.hit) for k in kept):
            continue
        kept.append(m)
    return kept


def to_search_hit(m: Matched) -> SearchHit:
    h, span = m.hit, m.match
    return SearchHit(
        video_id=h.video_id,
        filename=h.filename,
        start=h.start,
        end=h.end,
        text=h.text,
        score=h.score,
        relevance=round(h.dense_score or 0.0, 6),
        match_start=span.start,
        match_end=span.end,
        match_chars=(span.char_start, span.char_end),
        segment_ids=list(h.segment_ids),
        link=moment_link(h.video_id, span.start),
    )


def search(
    embedder: Embedder, store: VectorStore, request: SearchRequest, *, dedupe: bool = True
) -> list[SearchHit]:
    """Answer ``request`` (blocking: run it on the compute pool); best first, at most ``request.limit``.

    ``owner`` and ``video_id`` filter in the store, before ranking.
    """
    dense = embedder.encode_query(request.q)
    sparse = encode_query(request.q)
    fetch = request.limit * OVERFETCH if dedupe else request.limit
    hits = store.search(dense, sparse, limit=fetch, video_id=request.video_id, owner=request.owner)
    tokens = frozenset(sparse.indices)
    matched = [Matched(h, best_sentence(h, tokens)) for h in hits]
    if dedupe:
        matched = distinct(matched)
    return [to_search_hit(m) for m in matched[: request.limit]]
