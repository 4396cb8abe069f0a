"""The indexer's vector store: one interface, two adapters (Qdrant Edge in-process, Qdrant server).

See :mod:`vidsage_indexer.store.base` for the contract, :mod:`~vidsage_indexer.store.sparse` for
the keyword vectors, and the adapters :mod:`~vidsage_indexer.store.edge` and
:mod:`~vidsage_indexer.store.qdrant`.
"""

from __future__ import annotations

from pathlib import Path

from vidsage.settings import IndexerSettings
from vidsage_indexer.store.base import (
    DENSE,
    PASSAGE_NAMESPACE,
    SPARSE,
    Hit,
    Passage,
    Sparse,
    StoreError,
    StoreUnavailable,
    VectorStore,
    passage_id,
)
from vidsage_indexer.store.edge import EdgeStore
from vidsage_indexer.store.fusion import FusionConfig
from vidsage_indexer.store.qdrant import QdrantStore

__all__ = [
    "DENSE",
    "PASSAGE_NAMESPACE",
    "SPARSE",
    "EdgeStore",
    "FusionConfig",
    "Hit",
    "Passage",
    "QdrantStore",
    "Sparse",
    "StoreError",
    "StoreUnavailable",
    "VectorStore",
    "edge_path",
    "fusion_config",
    "open_store",
    "passage_id",
]


def edge_path(settings: IndexerSettings, state_dir: Path) -> Path:
    """Folder of the Qdrant Edge shard: ``settings.edge_path``, else ``<state_dir>/qdrant-edge``."""
    return settings.edge_path if settings.edge_path is not None else Path(state_dir) / "qdrant-edge"


def fusion_config(settings: IndexerSettings) -> FusionConfig:
    """The fusion the settings ask for."""
    return FusionConfig(
        method=settings.fusion,
        rrf_k=settings.rrf_k,
        dense_weight=settings.dense_weight,
        keyword_half=settings.keyword_half,
    )


def open_store(settings: IndexerSettings, state_dir: Path) -> VectorStore:
    """The vector store chosen by ``settings.store`` (not yet ensured: call ``ensure(dim)``).

    ``edge``: a Qdrant Edge shard on :func:`edge_path` (one process per folder);
    ``qdrant``: the collection ``settings.collection`` on the server at ``settings.qdrant_url``.
    """
    if settings.store == "edge":
        return EdgeStore(
            edge_path(settings, state_dir), fusion=fusion_config(settings), prefetch=settings.prefetch
        )
    if settings.store == "qdrant":
        return QdrantStore.connect(
            settings.qdrant_url,
            settings.qdrant_api_key,
            settings.collection,
            fusion=fusion_config(settings),
            prefetch=settings.prefetch,
        )
    raise ValueError(f"unknown vector store {settings.store!r}")
