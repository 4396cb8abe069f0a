"""The vector store alone: 10,000 passages × 384 dimensions in each adapter (Qdrant Edge and
``qdrant-client``'s local mode), upsert time and hybrid search p50 / p95, unfiltered and filtered by
one video. Random vectors and words (seeded), real BM25 sparse vectors; no model, no server.

It used to be an opt-in test (``VIDSAGE_STORE_BENCH=1``); it measures and reports, asserts nothing.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.support.vector_stores import ADAPTERS, open_adapter
from vidsage_indexer.store import Passage, passage_id
from vidsage_indexer.store.sparse import encode_document, encode_query

POINTS, DIM, VIDEOS, QUERIES = 10_000, 384, 200, 50


def measure(kind: str, folder: Path) -> str:
    """One adapter: the line it reports."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(3000)]
    passages = [
        Passage(
            id=passage_id(f"v{i % VIDEOS}", i // VIDEOS),
            video_id=f"v{i % VIDEOS}",
            owner=f"o{i % 5}",
            filename="x.mp4",
            start=float(i),
            end=float(i + 5),
            text=" ".join(rng.choice(words, size=40)),
            segment_ids=[i],
        )
        for i in range(POINTS)
    ]
    dense = rng.standard_normal((POINTS, DIM)).astype(np.float32).tolist()
    sparse = [encode_document(p.text) for p in passages]
    store = open_adapter(kind, folder)
    store.ensure(DIM)
    t0 = time.perf_counter()
    store.upsert(passages, dense, sparse)
    upsert_s = time.perf_counter() - t0

    def timed(**flt: str) -> tuple[float, float]:
        times = []
        for i in range(QUERIES):
            vector = rng.standard_normal(DIM).tolist()
            query = encode_query(" ".join(passages[i * 7].text.split()[:4]))
            t = time.perf_counter()
            store.search(vector, query, limit=10, **flt)
            times.append((time.perf_counter() - t) * 1000)
        cuts = statistics.quantiles(times, n=20)
        return statistics.median(times), cuts[18]

    unfiltered = timed()
    filtered = timed(video_id="v7")
    store.close()
    return (
        f"[{kind}] {POINTS} x {DIM}: upsert {upsert_s:.2f} s; hybrid search p50/p95 "
        f"{unfiltered[0]:.2f}/{unfiltered[1]:.2f} ms, "
        f"filtered by video {filtered[0]:.2f}/{filtered[1]:.2f} ms"
    )


def main() -> int:
    print(f"\nvector store benchmark ({POINTS} passages x {DIM} dimensions, {QUERIES} queries each)")
    for kind in ADAPTERS:
        with tempfile.TemporaryDirectory(prefix="vidsage-bench-store-") as tmp:
            print(f"  {measure(kind, Path(tmp))}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
