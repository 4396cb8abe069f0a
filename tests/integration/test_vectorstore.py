"""Contract tests of the indexer's vector store, run against both adapters.

``edge``: Qdrant Edge on a tmp folder (the embedded default). ``qdrant-local``: ``QdrantStore`` on
``qdrant-client``'s local mode on a tmp folder, the stand-in for the Qdrant server code path
(both opened by ``tests.support.vector_stores.open_adapter``).
Dense vectors are small seeded random vectors; sparse vectors are the real BM25 encoder's.

The measurement at 10,000 points × 384 dimensions is a benchmark: ``python -m benchmarks vectorstore``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from tests.support.vector_stores import ADAPTERS, open_adapter
from vidsage.settings import IndexerSettings
from vidsage_indexer.store import (
    EdgeStore,
    FusionConfig,
    Hit,
    Passage,
    QdrantStore,
    StoreError,
    VectorStore,
    open_store,
    passage_id,
)
from vidsage_indexer.store.sparse import encode_document, encode_query

DIM = 16

VIDEOS = {"vid-a": "alice", "vid-b": "alice", "vid-c": "bob"}
PER_VIDEO = 10
VOCAB = [
    *("river", "mountain", "coffee", "engine", "garden", "window", "planet", "orange", "guitar"),
    *("market", "winter", "camera", "pencil", "ocean", "forest", "bridge", "castle", "rocket"),
    *("violin", "desert", "island", "harbor"),
]
SPECIAL = ("vid-b", 3)
SPECIAL_TEXT = "Our delegation landed in Reykjavik in 1987 for the summit"

Opener = Callable[[], VectorStore]


@pytest.fixture(params=ADAPTERS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (and reopens) a store of the parametrized kind on one tmp folder; closes them all."""
    opened: list[VectorStore] = []

    def make() -> VectorStore:
        store = open_adapter(request.param, tmp_path)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> VectorStore:
    s = opener()
    s.ensure(DIM)
    return s


class Corpus:
    """30 passages over 3 videos / 2 owners, seeded dense vectors, real sparse vectors."""

    def __init__(self, seed: int = 7, text_suffix: str = "") -> None:
        rng = np.random.default_rng(seed)
        self.passages: list[Passage] = []
        for video_id, owner in VIDEOS.items():
            for i in range(PER_VIDEO):
                text = SPECIAL_TEXT if (video_id, i) == SPECIAL else " ".join(rng.choice(VOCAB, size=8))
                self.passages.append(
                    Passage(
                        id=passage_id(video_id, i),
                        video_id=video_id,
                        owner=owner,
                        filename=f"{video_id}.mp4",
                        start=round(i * 7.3 + 0.123, 3),
                        end=round(i * 7.3 + 6.789, 3),
                        text=text + text_suffix,
                        segment_ids=[3 * i, 3 * i + 1, 3 * i + 2],
                    )
                )
        self.dense = rng.standard_normal((len(self.passages), DIM)).astype(np.float32)
        self.sparse = [encode_document(p.text) for p in self.passages]
        self.by_id = {p.id: p for p in self.passages}

    def load(self, store: VectorStore) -> None:
        store.upsert(self.passages, [list(map(float, v)) for v in self.dense], self.sparse)


@pytest.fixture
def corpus(store: VectorStore) -> Corpus:
    c = Corpus()
    c.load(store)
    return c


def _noise(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(DIM).tolist()


def _as_passage(hit: Hit) -> Passage:
    return Passage(**{f.name: getattr(hit, f.name) for f in fields(Passage)})


# -- lifecycle ----------------------------------------------------------------------------------
def test_never_ensured_store_is_empty(opener: Opener) -> None:
    s = opener()
    assert s.search(_noise(1), encode_query("anything"), limit=5) == []
    assert s.count() == 0
    s.delete_video("vid-a")


def test_ensure_is_idempotent_and_empty_store_answers_empty(store: VectorStore) -> None:
    assert isinstance(store, VectorStore)
    store.ensure(DIM)
    store.ensure(DIM)
    assert store.search(_noise(1), encode_query("river coffee"), limit=5) == []
    assert store.search(_noise(1), encode_query("river"), limit=5, video_id="vid-a", owner="alice") == []
    assert store.count() == 0
    assert store.count("vid-a") == 0
    store.delete_video("vid-a")


def test_upsert_before_ensure_is_an_error(opener: Opener) -> None:
    c = Corpus()
    with pytest.raises(StoreError):
        c.load(opener())


def test_mismatched_batch_is_rejected(store: VectorStore) -> None:
    c = Corpus()
    with pytest.raises(ValueError, match="one dense and one sparse"):
        store.upsert(c.passages, c.dense[:-1].tolist(), c.sparse)
    with pytest.raises(ValueError, match="expected 16"):
        store.upsert(c.passages[:1], [[0.0] * (DIM + 1)], c.sparse[:1])
    assert store.count() == 0


def test_closed_store_raises(opener: Opener) -> None:
    s = opener()
    s.ensure(DIM)
    s.close()
    s.close()
    with pytest.raises(StoreError):
        s.count()
    with pytest.raises(StoreError):
        s.search(_noise(1), encode_query("river"), limit=3)


# -- writes, counts, filters, payload ----------------------------------------------------------
def test_counts_per_video(store: VectorStore, corpus: Corpus) -> None:
    assert store.count() == len(VIDEOS) * PER_VIDEO
    for video_id in VIDEOS:
        assert store.count(video_id) == PER_VIDEO
    assert store.count("no-such-video") == 0


def test_filters_and_limit(store: VectorStore, corpus: Corpus) -> None:
    query = encode_query("river mountain coffee")
    for video_id in VIDEOS:
        hits = store.search(_noise(2), query, limit=100, video_id=video_id)
        assert len(hits) == PER_VIDEO
        assert {h.video_id for h in hits} == {video_id}
    alice = store.search(_noise(3), query, limit=100, owner="alice")
    assert len(alice) == 2 * PER_VIDEO
    assert {h.owner for h in alice} == {"alice"}
    both = store.search(_noise(3), query, limit=100, owner="alice", video_id="vid-c")
    assert both == []
    bob = store.search(_noise(3), query, limit=100, owner="bob", video_id="vid-c")
    assert {h.video_id for h in bob} == {"vid-c"}

    for limit in (1, 5, 17):
        hits = store.search(_noise(4), query, limit=limit)
        assert len(hits) == limit
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
    assert len(store.search(_noise(4), query, limit=1000)) == len(corpus.passages)
    assert store.search(_noise(4), query, limit=0) == []


def test_hits_carry_the_payload_exactly(store: VectorStore, corpus: Corpus) -> None:
    hits = store.search(_noise(5), encode_query("garden window"), limit=100)
    assert len(hits) == len(corpus.passages)
    for hit in hits:
        assert _as_passage(hit) == corpus.by_id[hit.id]
        assert hit.passage() == corpus.by_id[hit.id]
        assert isinstance(hit.start, float)
        assert isinstance(hit.segment_ids, tuple)
        assert hit.score > 0


def test_reupsert_replaces_instead_of_duplicating(store: VectorStore, corpus: Corpus) -> None:
    again = Corpus(text_suffix=" kaleidoscope")
    again.load(store)
    assert store.count() == len(corpus.passages)
    for video_id in VIDEOS:
        assert store.count(video_id) == PER_VIDEO
    hits = store.search(_noise(6), encode_query("kaleidoscope"), limit=100)
    assert {h.id for h in hits} == set(corpus.by_id)
    assert all(h.text.endswith(" kaleidoscope") for h in hits)
    assert {h.text for h in hits} == {p.text for p in again.passages}


def test_delete_video_removes_only_that_video(store: VectorStore, corpus: Corpus) -> None:
    store.delete_video("vid-b")
    assert store.count("vid-b") == 0
    assert store.count("vid-a") == PER_VIDEO
    assert store.count("vid-c") == PER_VIDEO
    assert store.count() == 2 * PER_VIDEO
    hits = store.search(_noise(7), encode_query("Reykjavik 1987"), limit=100)
    assert "vid-b" not in {h.video_id for h in hits}
    assert store.search(_noise(7), encode_query("river"), limit=10, video_id="vid-b") == []
    store.delete_video("vid-b")
    store.delete_video("never-indexed")
    assert store.count() == 2 * PER_VIDEO


# -- hybrid ---------------------------------------------------------------------------------------
def test_keyword_signal_wins_with_noise_dense(store: VectorStore, corpus: Corpus) -> None:
    special = passage_id(*SPECIAL)
    for seed in range(5):
        hits = store.search(_noise(100 + seed), encode_query("Reykjavik 1987"), limit=5)
        assert hits[0].id == special
    # Numbers alone and names alone match too, also filtered, also with accents and case.
    assert store.search(_noise(200), encode_query("1987"), limit=3)[0].id == special
    assert store.search(_noise(201), encode_query("REYKJAVÍK"), limit=3, owner="alice")[0].id == special


def test_dense_signal_finds_the_nearest_passage(store: VectorStore, corpus: Corpus) -> None:
    unrelated = encode_query("xylophone quasar zeppelin")
    for index in (0, 11, 25):
        target = corpus.passages[index]
        hits = store.search(corpus.dense[index].tolist(), unrelated, limit=3)
        assert target.id in {h.id for h in hits}
    # A query of stopwords only has an empty sparse vector: dense only.
    assert len(encode_query("the of and")) == 0
    hits = store.search(corpus.dense[4].tolist(), encode_query("the of and"), limit=3)
    assert hits[0].id == corpus.passages[4].id


def test_hits_carry_each_channels_score(store: VectorStore, corpus: Corpus) -> None:
    """The dense score is the cosine similarity (what a relevance threshold is set on); the keyword
    score is the BM25 score, None for a point that only the other channel found."""
    hits = store.search(corpus.dense[4].tolist(), encode_query("the of and"), limit=5)
    assert hits[0].dense_score == pytest.approx(1.0, abs=1e-4)  # its own vector
    assert all(h.keyword_score is None for h in hits)  # no keyword in the query
    expected = corpus.dense[[corpus.passages.index(corpus.by_id[h.id]) for h in hits]] @ corpus.dense[4]
    norms = np.linalg.norm(corpus.dense[[corpus.passages.index(corpus.by_id[h.id]) for h in hits]], axis=1)
    cosines = expected / (norms * np.linalg.norm(corpus.dense[4]))
    assert [h.dense_score for h in hits] == pytest.approx(cosines.tolist(), abs=1e-4)
    special = passage_id(*SPECIAL)
    keyword = store.search(_noise(300), encode_query("Reykjavik"), limit=3)
    assert keyword[0].id == special
    assert keyword[0].keyword_score is not None
    assert keyword[0].keyword_score > 0


# -- persistence, threads -----------------------------------------------------------------------
def test_reopen_finds_the_data(opener: Opener) -> None:
    first = opener()
    first.ensure(DIM)
    c = Corpus()
    c.load(first)
    first.close()

    second = opener()
    # Reads work before ensure (the existing data is opened as it is), then ensure keeps it.
    assert second.count() == len(c.passages)
    second.ensure(DIM)
    assert second.count("vid-a") == PER_VIDEO
    hits = second.search(_noise(9), encode_query("Reykjavik 1987"), limit=3)
    assert hits[0].id == passage_id(*SPECIAL)
    assert _as_passage(hits[0]) == c.by_id[hits[0].id]
    second.close()

    third = opener()
    with pytest.raises(StoreError, match=r"(?i)size|dimension|dimensional"):
        third.ensure(DIM * 2)


def test_concurrent_upserts_and_searches(store: VectorStore) -> None:
    c = Corpus()
    errors: list[BaseException] = []
    deadline = time.monotonic() + 1.0
    rounds = [0] * 4

    def writer(slot: int, video_id: str) -> None:
        rows = [i for i, p in enumerate(c.passages) if p.video_id == video_id]
        while time.monotonic() < deadline:
            store.upsert(
                [c.passages[i] for i in rows],
                [c.dense[i].tolist() for i in rows],
                [c.sparse[i] for i in rows],
            )
            rounds[slot] += 1

    def reader(slot: int) -> None:
        seed = 0
        while time.monotonic() < deadline:
            seed += 1
            hits = store.search(_noise(seed), encode_query("river Reykjavik"), limit=5)
            assert len(hits) <= 5
            assert store.count() <= len(c.passages)
            rounds[slot] += 1

    def guard(fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=guard, args=(writer, 0, "vid-a")),
        threading.Thread(target=guard, args=(writer, 1, "vid-c")),
        threading.Thread(target=guard, args=(reader, 2)),
        threading.Thread(target=guard, args=(reader, 3)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert all(r > 0 for r in rounds), rounds
    assert store.count("vid-a") == PER_VIDEO
    assert store.count("vid-c") == PER_VIDEO
    assert store.count("vid-b") == 0
    assert store.count() == 2 * PER_VIDEO


# -- ids, sparse encoding, factory --------------------------------------------------------------
def test_passage_ids_are_deterministic_uuids() -> None:
    assert passage_id("vid-a", 0) == passage_id("vid-a", 0)
    assert passage_id("vid-a", 0) != passage_id("vid-a", 1)
    assert passage_id("vid-a", 1) != passage_id("vid-b", 1)
    assert uuid.UUID(passage_id("vid-a", 0)).version == 5
    # Pinned: a changed namespace would orphan every stored point on the next re-index.
    assert passage_id("vid-a", 0) == "7d1c42e7-c2a9-5e3d-9b4b-df72fefed965"


def test_sparse_tokens_match_between_documents_and_queries() -> None:
    doc = encode_document("In 1987 the runners kept running to Reykjavík; 42 of them finished.")
    # Numbers, names (accents folded, any case) and stemmed forms ("runs" = "running") match.
    for query in ("1987", "42", "reykjavik", "REYKJAVIK", "Reykjavík", "runs", "run", "runner"):
        q = encode_query(query)
        assert len(q) == 1, query
        assert set(q.indices) <= set(doc.indices), query
        assert q.values == (1.0,)
    assert len(encode_query("the of and in")) == 0
    # Pinned indices: abs(murmur3_32(token)). If these change, stored vectors no longer match
    # new queries: re-index after upgrading qdrant-edge-py or changing the encoder settings.
    assert encode_query("Reykjavik 1987").indices == (15380440, 943822452)
    assert encode_query("42").indices == (1135041482,)
    # BM25 term-frequency saturation with k=1.2, b=0.75, avg_len=40; len counts non-stopwords.
    one = encode_document("reykjavik")
    assert one.values[0] == pytest.approx(2.2 / (1 + 1.2 * (0.25 + 0.75 * 1 / 40)), rel=1e-5)
    twice = encode_document("reykjavik reykjavik")
    assert twice.values[0] == pytest.approx(2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 2 / 40)), rel=1e-5)


def test_open_store_chooses_the_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edge = open_store(IndexerSettings(), tmp_path)
    assert isinstance(edge, EdgeStore)
    assert edge.path == tmp_path / "qdrant-edge"
    edge.close()
    custom = open_store(
        IndexerSettings(
            edge_path=tmp_path / "elsewhere", fusion="rrf", rrf_k=10, dense_weight=0.7, prefetch=7
        ),
        tmp_path,
    )
    assert isinstance(custom, EdgeStore)
    assert (custom.path, custom.fusion, custom.prefetch) == (
        tmp_path / "elsewhere",
        FusionConfig("rrf", rrf_k=10, dense_weight=0.7, keyword_half=4.0),
        7,
    )
    custom.close()
    # store=qdrant: the server adapter with the settings' URL, key, collection and search knobs
    # (captured, not connected: qdrant-client checks the server version in a background thread).
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def fake_connect(*args: object, **kwargs: object) -> str:
        calls.append((args, kwargs))
        return "server-store"

    monkeypatch.setattr(QdrantStore, "connect", fake_connect)
    server_settings = IndexerSettings(
        store="qdrant", collection="c1", qdrant_url="http://qdrant:6333", qdrant_api_key="k", rrf_k=5
    )
    assert open_store(server_settings, tmp_path) == "server-store"
    (args, kwargs) = calls[0]
    assert args == ("http://qdrant:6333", server_settings.qdrant_api_key, "c1")
    assert kwargs == {
        "fusion": FusionConfig("score", rrf_k=5, dense_weight=0.95, keyword_half=4.0),
        "prefetch": 50,
    }
    local = QdrantStore(QdrantClient(":memory:"), "c2")
    assert local.local
    local.close()
