"""The indexer's two vector-store adapters, opened on a folder the same way by the store contract
tests (tests/integration/test_vectorstore.py) and the store benchmark (``python -m benchmarks
vectorstore``).

``edge``: Qdrant Edge (the embedded default). ``qdrant-local``: ``QdrantStore`` on ``qdrant-client``'s
local mode, the stand-in for the Qdrant server code path.
"""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient

from vidsage_indexer.store import EdgeStore, FusionConfig, QdrantStore, VectorStore

ADAPTERS = ("edge", "qdrant-local")
PREFETCH = 50
FUSION = FusionConfig("rrf", rrf_k=60)
"""Plain reciprocal rank fusion, both rankings alike: the contract tests check each signal's effect."""


def open_adapter(kind: str, folder: Path) -> VectorStore:
    """A store of ``kind`` (one of :data:`ADAPTERS`) kept under ``folder``."""
    if kind == "edge":
        return EdgeStore(folder / "edge", fusion=FUSION, prefetch=PREFETCH)
    return QdrantStore(
        QdrantClient(path=str(folder / "qdrant")), "passages", fusion=FUSION, prefetch=PREFETCH
    )
