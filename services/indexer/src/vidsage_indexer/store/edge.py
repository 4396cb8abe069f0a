"""Qdrant Edge adapter: Qdrant's engine in-process (``qdrant-edge-py``), one shard on a folder.

The embedded default of the indexer. Facts this adapter relies on (measured on qdrant-edge-py
0.9.0, 2 cores):

* **One process per folder.** A shard holds its write-ahead log locked: a second
  ``EdgeShard.load`` of the same folder fails (``Can't init WAL: WouldBlock``). Run one indexer
  replica on an Edge folder; use the Qdrant server to scale out.
* **Durability.** Updates go to the WAL first; a process killed without ``flush()`` still finds
  its points on the next load (the WAL is replayed). ``flush()`` persists the segments and
  shortens that replay. This adapter flushes after every write call (``flush_on_write``) and on
  ``close()``.
* **Threads.** ``EdgeShard`` may be shared by threads: concurrent ``update``/``query``/``count``
  calls work (the engine locks internally) and ``query`` releases the GIL (two threads search in
  parallel). But ``update`` and ``flush`` keep the GIL for their whole run, so they pause every
  other Python thread, the event loop included: ≈25 ms per 1,000 points upserted and 60–400 ms
  per flush. Upserts are therefore sent in batches of :data:`UPSERT_BATCH` points. A call made
  after ``close()`` fails (``Shard is not initialized``), even one already running, so this
  adapter holds a shared lock around every call and ``close()`` takes it exclusively.
* **Hybrid search:** two filtered queries (dense, then keywords), fused by
  :func:`~vidsage_indexer.store.fusion.fuse` (the engine's own ``Fusion.Rrf`` gives no channel
  scores). The sparse vector's ``Modifier.Idf`` makes the engine weight query terms by their IDF
  over the shard at query time.
* Segments are never optimised here (no HNSW build): at 10,000 points the plain segment answers a
  hybrid query in ≈1.4 ms (≈0.3 ms filtered by video), while ``EdgeShard.optimize()`` takes ≈9 s
  and does not make it faster.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    MatchValue,
    Modifier,
    PayloadSchemaType,
    Point,
    Query,
    QueryRequest,
    SparseVector,
    UpdateOperation,
)

if TYPE_CHECKING:
    from qdrant_edge import ConditionType  # a name of the type stub only

from vidsage_indexer.store.base import (
    DENSE,
    INDEXED_FIELDS,
    SPARSE,
    Hit,
    Passage,
    SharedExclusiveLock,
    Sparse,
    StoreError,
    as_floats,
    check_batch,
)
from vidsage_indexer.store.fusion import Candidate, FusionConfig, fuse

UPSERT_BATCH = 256
"""Points per ``EdgeShard.update`` call: bounds how long one call holds the GIL (≈7 ms)."""

_CONFIG_FILE = "edge_config.json"


def _config(dim: int) -> EdgeConfig:
    return EdgeConfig(
        vectors={DENSE: EdgeVectorParams(size=dim, distance=Distance.Cosine)},
        sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
    )


def _filter(video_id: str | None, owner: str | None) -> Filter | None:
    must: list[ConditionType] = [
        FieldCondition(key=key, match=MatchValue(value))
        for key, value in (("video_id", video_id), ("owner", owner))
        if value is not None
    ]
    return Filter(must=must) if must else None


class EdgeStore:
    """:class:`~vidsage_indexer.store.base.VectorStore` on a Qdrant Edge shard in ``path``.

    Nothing is opened until needed: :meth:`ensure` creates or loads the shard; before it, reads
    load an existing shard as it is, or answer as an empty store when there is none.
    Thread-safe (see the module docstring).
    """

    def __init__(
        self,
        path: Path,
        *,
        fusion: FusionConfig | None = None,
        prefetch: int = 50,
        flush_on_write: bool = True,
    ) -> None:
        """Open lazily the shard in folder ``path``.

        ``fusion``: how the two rankings are fused; ``prefetch``: candidates taken from each of
        the dense and keyword searches; ``flush_on_write``: flush after every upsert and delete.
        """
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        self.path = Path(path)
        self.fusion = fusion or FusionConfig()
        self.prefetch = prefetch
        self.flush_on_write = flush_on_write
        self._lock = SharedExclusiveLock()
        self._shard: EdgeShard | None = None
        self._dim: int | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------
    def _exists(self) -> bool:
        return (self.path / _CONFIG_FILE).is_file()

    def ensure(self, dim: int) -> None:
        """Create the shard, or load it and check that its dense size is ``dim``; add the indexes."""
        if dim < 1:
            raise ValueError(f"dimension must be positive, got {dim}")
        with self._lock.exclusive():
            self._check_open()
            if self._shard is not None and self._dim != dim:
                # Opened lazily (size unknown) or asked for another size: reload with the config,
                # which makes the engine check the existing segments against it.
                self._release()
            if self._shard is None:
                try:
                    if self._exists():
                        self._shard = EdgeShard.load(str(self.path), _config(dim))
                    else:
                        self.path.mkdir(parents=True, exist_ok=True)
                        self._shard = EdgeShard.create(str(self.path), _config(dim))
                except Exception as exc:
                    raise StoreError(
                        f"cannot open the Qdrant Edge shard in {self.path} (size {dim}): {exc}"
                    ) from exc
                self._dim = dim
            schema = self._shard.info().payload_schema
            for name in INDEXED_FIELDS:
                if name not in schema:
                    self._shard.update(UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword))
            self._shard.flush()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the Qdrant Edge store in {self.path} is closed")

    def _release(self) -> None:
        shard, self._shard, self._dim = self._shard, None, None
        if shard is not None:
            try:
                shard.flush()
            finally:
                shard.close()

    def _load_existing(self) -> None:
        with self._lock.exclusive():
            if self._shard is None and not self._closed and self._exists():
                try:
                    self._shard = EdgeShard.load(str(self.path))
                except Exception as exc:
                    raise StoreError(f"cannot open the Qdrant Edge shard in {self.path}: {exc}") from exc

    @contextmanager
    def _use(self, *, required: bool) -> Iterator[EdgeShard | None]:
        """The open shard under the shared lock; ``None`` when there is none and ``required`` is false."""
        if self._shard is None and not self._closed:
            self._load_existing()
        with self._lock.shared():
            self._check_open()
            if self._shard is None and required:
                raise StoreError(f"the Qdrant Edge store in {self.path} is not created yet: call ensure(dim)")
            yield self._shard

    def close(self) -> None:
        """Flush and close the shard (waits for calls in progress); idempotent."""
        with self._lock.exclusive():
            if self._closed:
                return
            self._closed = True
            self._release()

    # -- writes ---------------------------------------------------------------------------------
    def upsert(
        self, passages: Sequence[Passage], dense: Sequence[Sequence[float]], sparse: Sequence[Sparse]
    ) -> None:
        """Insert or replace ``passages`` with their vectors, in batches; flush at the end."""
        with self._use(required=True) as shard:
            assert shard is not None
            check_batch(passages, dense, sparse, self._dim)
            if not passages:
                return
            points = [
                Point(
                    p.id,
                    {DENSE: as_floats(d), SPARSE: SparseVector(list(s.indices), list(s.values))},
                    p.payload(),
                )
                for p, d, s in zip(passages, dense, sparse, strict=True)
            ]
            for start in range(0, len(points), UPSERT_BATCH):
                shard.update(UpdateOperation.upsert_points(points[start : start + UPSERT_BATCH]))
            if self.flush_on_write:
                shard.flush()

    def delete_video(self, video_id: str) -> None:
        """Remove every point of ``video_id``; flush."""
        with self._use(required=False) as shard:
            if shard is None:
                return
            flt = _filter(video_id, None)
            assert flt is not None
            shard.update(UpdateOperation.delete_points_by_filter(flt))
            if self.flush_on_write:
                shard.flush()

    # -- reads ----------------------------------------------------------------------------------
    def search(
        self,
        dense: Sequence[float],
        sparse: Sparse,
        *,
        limit: int,
        video_id: str | None = None,
        owner: str | None = None,
    ) -> list[Hit]:
        """Hybrid search: ``prefetch`` dense and keyword candidates (filtered in the engine), fused."""
        if limit < 1:
            return []
        with self._use(required=False) as shard:
            if shard is None:
                return []
            flt = _filter(video_id, owner)
            depth = max(self.prefetch, limit)

            def channel(query: Query) -> list[Candidate]:
                assert shard is not None
                request = QueryRequest(
                    limit=depth, query=query, filter=flt, with_payload=True, with_vector=False
                )
                return [(str(p.id), p.payload, p.score) for p in shard.query(request)]

            dense_hits = channel(Query.Nearest(as_floats(dense), using=DENSE))
            keyword_hits: list[Candidate] = []
            if len(sparse):
                vector = SparseVector(list(sparse.indices), list(sparse.values))
                keyword_hits = channel(Query.Nearest(vector, using=SPARSE))
        return [
            Hit.from_point(f.id, f.payload, f.score, dense_score=f.dense_score, keyword_score=f.keyword_score)
            for f in fuse(dense_hits, keyword_hits, self.fusion, limit)
        ]

    def count(self, video_id: str | None = None) -> int:
        """Exact number of points, of ``video_id`` or of all."""
        with self._use(required=False) as shard:
            if shard is None:
                return 0
            return shard.count(CountRequest(exact=True, filter=_filter(video_id, None)))
