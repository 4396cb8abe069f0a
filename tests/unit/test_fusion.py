"""Fusion of the dense and keyword rankings (pure): reciprocal ranks, weights, score-based."""

from __future__ import annotations

import pytest

from vidsage_indexer.store.fusion import FusionConfig, fuse

DENSE = [("a", {"n": 1}, 0.9), ("b", {"n": 2}, 0.8), ("c", {"n": 3}, 0.1)]
KEYWORDS = [("c", {"n": 3}, 12.0), ("b", {"n": 2}, 3.0)]


def test_rrf_counts_ranks_from_one_and_weighs_both_alike_by_default() -> None:
    fused = fuse(DENSE, KEYWORDS, FusionConfig("rrf", rrf_k=1), limit=10)
    scores = {f.id: f.score for f in fused}
    assert scores == pytest.approx({"a": 1 / 2, "b": 1 / 3 + 1 / 3, "c": 1 / 4 + 1 / 2})
    assert [f.id for f in fused] == ["c", "b", "a"]
    assert {f.id: (f.dense_score, f.keyword_score) for f in fused} == {
        "a": (0.9, None),
        "b": (0.8, 3.0),
        "c": (0.1, 12.0),
    }


def test_weights_move_the_ranking_towards_one_channel() -> None:
    dense_only = fuse(DENSE, KEYWORDS, FusionConfig("rrf", rrf_k=1, dense_weight=1.0), limit=10)
    assert [f.id for f in dense_only] == ["a", "b", "c"]
    keywords_only = fuse(DENSE, KEYWORDS, FusionConfig("rrf", rrf_k=1, dense_weight=0.0), limit=10)
    assert [f.id for f in keywords_only][:2] == ["c", "b"]
    assert keywords_only[-1].score == 0.0  # only the dense channel found it


def test_score_fusion_adds_the_cosine_and_a_saturated_bm25() -> None:
    config = FusionConfig("score", dense_weight=0.5, keyword_half=4.0)
    fused = fuse(DENSE, KEYWORDS, config, limit=3)
    assert {f.id: f.score for f in fused} == pytest.approx(
        {"a": 0.5 * 0.9, "b": 0.5 * 0.8 + 0.5 * 3 / 7, "c": 0.5 * 0.1 + 0.5 * 12 / 16}
    )
    assert [f.id for f in fused] == ["b", "a", "c"]
    assert [f.id for f in fuse(DENSE, KEYWORDS, config, limit=2)] == ["b", "a"]  # the limit applies last


def test_ties_keep_the_dense_order_and_an_empty_channel_is_fine() -> None:
    same = [("x", None, 0.5), ("y", None, 0.5)]
    assert [f.id for f in fuse(same, [], FusionConfig("score"), limit=5)] == ["x", "y"]
    assert fuse([], [], FusionConfig(), limit=5) == []


@pytest.mark.parametrize("bad", [{"rrf_k": 0}, {"dense_weight": 1.5}, {"keyword_half": 0}])
def test_bad_configs_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must be"):
        FusionConfig(**bad)  # type: ignore[arg-type]
