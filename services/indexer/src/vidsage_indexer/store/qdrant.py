"""Qdrant server adapter, through ``qdrant-client`` (REST).

The cluster setup: one collection on a Qdrant server shared by every indexer replica. The
tests run the same code on ``qdrant-client``'s local mode (``QdrantClient(path=...)`` or
``":memory:"``), a pure-Python stand-in for the server that implements the same query API
(prefetch, RRF, IDF modifier) by brute force.

* Hybrid search: one ``query_batch_points`` round trip with two filtered queries (dense, then
  keywords), fused by :func:`~vidsage_indexer.store.fusion.fuse` exactly as the Edge adapter
  does (the server's own fusion gives no per-channel scores).
* The ``keywords`` sparse vector has ``Modifier.IDF``: the server weights query terms by their
  IDF over the collection at query time (local mode does the same from live counts).
* Threads: the server client is thread-safe, so calls run in parallel (a shared lock only keeps
  them off :meth:`QdrantStore.close`). Local mode mutates plain Python structures, so there every
  call is serialised.
* Payload indexes are created on the server; local mode has none (it warns and ignores them), so
  they are skipped there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pydantic import SecretStr
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from vidsage_indexer.store.base import (
    DENSE,
    INDEXED_FIELDS,
    SPARSE,
    Hit,
    Passage,
    SharedExclusiveLock,
    Sparse,
    StoreError,
    StoreUnavailable,
    as_floats,
    check_batch,
)
from vidsage_indexer.store.fusion import Candidate, FusionConfig, fuse

UPSERT_BATCH = 256
"""Points per upsert request (bounds the request size: ≈1.5 MB of JSON at 384 dimensions)."""


def _filter(video_id: str | None, owner: str | None) -> models.Filter | None:
    must: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchValue(value=value))
        for key, value in (("video_id", video_id), ("owner", owner))
        if value is not None
    ]
    return models.Filter(must=must) if must else None


def _is_local(client: QdrantClient) -> bool:
    options = client.init_options
    return options.get("location") == ":memory:" or options.get("path") is not None


class QdrantStore:
    """:class:`~vidsage_indexer.store.base.VectorStore` on the collection ``collection`` of ``client``.

    The store owns the client: :meth:`close` closes it. Thread-safe.
    """

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        *,
        fusion: FusionConfig | None = None,
        prefetch: int = 50,
        timeout_s: int | None = None,
    ) -> None:
        """Use ``collection`` through ``client`` (created by :meth:`ensure` when missing).

        ``fusion``: how the two rankings are fused; ``prefetch``: candidates taken from each of
        the dense and keyword searches; ``timeout_s``: server-side timeout of searches.
        """
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        self.client = client
        self.collection = collection
        self.fusion = fusion or FusionConfig()
        self.prefetch = prefetch
        self.timeout_s = timeout_s
        self.local = _is_local(client)
        self._lock = SharedExclusiveLock()
        self._ready = False
        self._dim: int | None = None
        self._closed = False

    @classmethod
    def connect(
        cls,
        url: str,
        api_key: str | SecretStr | None,
        collection: str,
        *,
        fusion: FusionConfig | None = None,
        prefetch: int = 50,
        timeout_s: int = 10,
    ) -> QdrantStore:
        """A store on a Qdrant server at ``url`` (REST), with an optional API key."""
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        client = QdrantClient(url=url, api_key=key or None, timeout=timeout_s)
        return cls(client, collection, fusion=fusion, prefetch=prefetch, timeout_s=timeout_s)

    # -- lifecycle ------------------------------------------------------------------------------
    @contextmanager
    def _use(self) -> Iterator[None]:
        lock = self._lock.exclusive() if self.local else self._lock.shared()
        with lock:
            if self._closed:
                raise StoreError(f"the Qdrant store of collection {self.collection!r} is closed")
            try:
                yield
            except ResponseHandlingException as exc:  # no answer: refused, reset, timed out
                raise StoreUnavailable(f"Qdrant server unavailable: {exc}") from exc
            except UnexpectedResponse as exc:
                if exc.status_code is not None and exc.status_code >= 500:
                    raise StoreUnavailable(f"Qdrant server error (HTTP {exc.status_code})") from exc
                raise

    def _exists(self) -> bool:
        if not self._ready:
            self._ready = self.client.collection_exists(self.collection)
        return self._ready

    def ensure(self, dim: int) -> None:
        """Create the collection if missing (or check the existing one), and its payload indexes."""
        if dim < 1:
            raise ValueError(f"dimension must be positive, got {dim}")
        with self._use():
            if not self.client.collection_exists(self.collection):
                try:
                    self.client.create_collection(
                        self.collection,
                        vectors_config={
                            DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                        },
                        sparse_vectors_config={
                            SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)
                        },
                    )
                except Exception:
                    # Another replica may have created it in between; anything else is re-raised.
                    if not self.client.collection_exists(self.collection):
                        raise
            info = self.client.get_collection(self.collection)
            self._check_schema(info, dim)
            if not self.local:
                schema = info.payload_schema or {}
                for name in INDEXED_FIELDS:
                    if name not in schema:
                        self.client.create_payload_index(
                            self.collection, name, models.PayloadSchemaType.KEYWORD, wait=True
                        )
            self._ready = True
            self._dim = dim

    def _check_schema(self, info: models.CollectionInfo, dim: int) -> None:
        vectors = info.config.params.vectors
        dense = vectors.get(DENSE) if isinstance(vectors, dict) else None
        sparse = info.config.params.sparse_vectors or {}
        where = f"collection {self.collection!r}"
        if dense is None or SPARSE not in sparse:
            raise StoreError(
                f"{where} exists without the vectors {DENSE!r} and {SPARSE!r}; use another collection"
            )
        if dense.size != dim:
            raise StoreError(
                f"{where} holds {dense.size}-dimensional vectors, the embedding model gives {dim}"
            )
        if sparse[SPARSE].modifier != models.Modifier.IDF:
            raise StoreError(f"{where}: sparse vector {SPARSE!r} lacks the IDF modifier")

    def close(self) -> None:
        """Close the client (waits for calls in progress); idempotent."""
        with self._lock.exclusive():
            if self._closed:
                return
            self._closed = True
            self.client.close()

    # -- writes ---------------------------------------------------------------------------------
    def upsert(
        self, passages: Sequence[Passage], dense: Sequence[Sequence[float]], sparse: Sequence[Sparse]
    ) -> None:
        """Insert or replace ``passages`` with their vectors, in batches, waiting for each."""
        with self._use():
            check_batch(passages, dense, sparse, self._dim)
            if not passages:
                return
            if not self._exists():
                raise StoreError(f"collection {self.collection!r} does not exist yet: call ensure(dim)")
            points = [
                models.PointStruct(
                    id=p.id,
                    vector={
                        DENSE: as_floats(d),
                        SPARSE: models.SparseVector(indices=list(s.indices), values=list(s.values)),
                    },
                    payload=p.payload(),
                )
                for p, d, s in zip(passages, dense, sparse, strict=True)
            ]
            for start in range(0, len(points), UPSERT_BATCH):
                self.client.upsert(self.collection, points[start : start + UPSERT_BATCH], wait=True)

    def delete_video(self, video_id: str) -> None:
        """Remove every point of ``video_id`` (by filter), waiting for it."""
        with self._use():
            if not self._exists():
                return
            flt = _filter(video_id, None)
            assert flt is not None
            self.client.delete(self.collection, models.FilterSelector(filter=flt), wait=True)

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
        """Hybrid search: ``prefetch`` dense and keyword candidates (filtered on the server), fused."""
        if limit < 1:
            return []
        with self._use():
            if not self._exists():
                return []
            flt = _filter(video_id, owner)
            depth = max(self.prefetch, limit)
            queries: list[models.QueryRequest] = [
                models.QueryRequest(
                    query=as_floats(dense), using=DENSE, filter=flt, limit=depth, with_payload=True
                )
            ]
            if len(sparse):
                vector = models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
                queries.append(
                    models.QueryRequest(
                        query=vector, using=SPARSE, filter=flt, limit=depth, with_payload=True
                    )
                )
            responses = self.client.query_batch_points(self.collection, queries, timeout=self.timeout_s)
        channels: list[list[Candidate]] = [
            [(str(p.id), p.payload, p.score) for p in response.points] for response in responses
        ]
        dense_hits, keyword_hits = channels[0], channels[1] if len(channels) > 1 else []
        return [
            Hit.from_point(f.id, f.payload, f.score, dense_score=f.dense_score, keyword_score=f.keyword_score)
            for f in fuse(dense_hits, keyword_hits, self.fusion, limit)
        ]

    def count(self, video_id: str | None = None) -> int:
        """Exact number of points, of ``video_id`` or of all."""
        with self._use():
            if not self._exists():
                return 0
            return self.client.count(self.collection, count_filter=_filter(video_id, None), exact=True).count
