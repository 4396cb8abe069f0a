"""The indexer's two vector-store adapters, opened on a folder the same way by the store contract
tests (tests/integration/test_vectorstore.py) and the store benchmark (``python -m benchmarks
vectorstore``).

``edge``: Qdrant Edge (the embedded default). ``qdrant-local``: ``QdrantStore`` on ``qdrant-client``'s
local mode, the stand-in for the Qdrant server code path.
"""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient

from vidsage_indexer.store import EdgeStore, QdrantStore, VectorStore

ADAPTERS = ("edge", "qdrant-local")
PREFETCH = 50
RRF_K = 60


def open_adapter(kind: str, folder: Path) -> VectorStore:
    """A store of ``kind`` (one of :data:`ADAPTERS`) kept under ``folder``."""
    if kind == "edge":
        return EdgeStore(folder / "edge", rrf_k=RRF_K, prefetch=PREFETCH)
    return QdrantStore(QdrantClient(path=str(folder / "qdrant")), "passages", rrf_k=RRF_K, prefetch=PREFETCH)
