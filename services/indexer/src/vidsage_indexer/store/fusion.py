"""Fusing the two rankings of a hybrid search (meaning and keywords) into one, the same way for
both store adapters.

Each adapter asks the engine for the ``prefetch`` best points of the dense search (cosine
similarity) and of the keyword search (BM25, with the engine's IDF), filtered alike, and hands
both lists to :func:`fuse`. Fusing here rather than in the engine keeps each channel's own score
on the hit (``dense_score``, ``keyword_score``): the cosine similarity is what a relevance
threshold can be set on, which a rank-fusion score is not.

Methods (:class:`FusionConfig`), measured by ``python -m benchmarks relevance``:

* ``rrf``: reciprocal rank fusion, ``Σ w / (k + rank)`` with rank counted from 1 and the weights
  ``2·dense_weight`` and ``2·(1 − dense_weight)`` (0.5 weighs both alike, as the engines' RRF does).
* ``score``: a weighted sum of the scores themselves: ``dense_weight · cosine + (1 − dense_weight) ·
  bm25 / (bm25 + keyword_half)``, where ``keyword_half`` is the BM25 score that counts half (a
  saturating scale, so a query's keyword score means the same whatever else is in the index).
  A point missing from a channel's candidates scores 0 there.

Ties keep the dense order, then the keyword order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

FusionMethod = Literal["rrf", "score"]

Candidate = tuple[str, Mapping[str, Any] | None, float]
"""``(point id, payload, score)`` from one channel, best first."""


@dataclass(frozen=True)
class FusionConfig:
    """How the dense and keyword rankings are fused (see the module docstring)."""

    method: FusionMethod = "rrf"
    rrf_k: int = 60
    dense_weight: float = 0.5
    keyword_half: float = 4.0

    def __post_init__(self) -> None:
        if self.rrf_k < 1:
            raise ValueError("rrf_k must be at least 1")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError("dense_weight must be within [0, 1]")
        if self.keyword_half <= 0:
            raise ValueError("keyword_half must be positive")


@dataclass(frozen=True)
class Fused:
    """One fused candidate: its point, fused score and each channel's score (None: not found there)."""

    id: str
    payload: Mapping[str, Any] | None
    score: float
    dense_score: float | None
    keyword_score: float | None


def fuse(
    dense: Sequence[Candidate], keywords: Sequence[Candidate], config: FusionConfig, limit: int
) -> list[Fused]:
    """The best ``limit`` points of both channels by ``config``, best first."""
    order: dict[str, int] = {}
    payloads: dict[str, Mapping[str, Any] | None] = {}
    dense_rank: dict[str, tuple[int, float]] = {}
    keyword_rank: dict[str, tuple[int, float]] = {}
    for ranks, channel in ((dense_rank, dense), (keyword_rank, keywords)):
        for rank, (point_id, payload, score) in enumerate(channel, start=1):
            key = str(point_id)
            if key in ranks:
                continue
            ranks[key] = (rank, float(score))
            order.setdefault(key, len(order))
            if payloads.get(key) is None:
                payloads[key] = payload
    w = config.dense_weight
    fused: list[Fused] = []
    for key in order:
        d, k = dense_rank.get(key), keyword_rank.get(key)
        if config.method == "rrf":
            score = (2 * w / (config.rrf_k + d[0]) if d else 0.0) + (
                2 * (1 - w) / (config.rrf_k + k[0]) if k else 0.0
            )
        else:
            bm25 = k[1] if k else 0.0
            score = w * (d[1] if d else 0.0) + (1 - w) * bm25 / (bm25 + config.keyword_half)
        fused.append(Fused(key, payloads[key], score, d[1] if d else None, k[1] if k else None))
    fused.sort(key=lambda f: (-f.score, order[f.id]))
    return fused[:limit]
