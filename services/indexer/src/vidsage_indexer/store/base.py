"""The vector-store contract of the indexer: passages in, hybrid hits out.

Only the indexer talks to Qdrant, through :class:`VectorStore`. Two adapters implement it:
:class:`~vidsage_indexer.store.edge.EdgeStore` (Qdrant Edge, in-process, on a folder) and
:class:`~vidsage_indexer.store.qdrant.QdrantStore` (a Qdrant server through ``qdrant-client``).
One contract test suite (``tests/integration/test_vectorstore.py``) runs against both.

Every point carries two vectors and the passage as payload:

* ``dense`` (:data:`DENSE`): the sentence embedding, cosine distance;
* ``keywords`` (:data:`SPARSE`): a BM25 term-frequency vector from
  :mod:`vidsage_indexer.store.sparse`, stored with the engine's IDF modifier, so the engine
  multiplies each query term by its inverse document frequency over the collection at query time;
* payload: ``video_id``, ``owner`` (both with a keyword payload index), ``filename``, ``start``,
  ``end``, ``text``, ``segment_ids``, ``sentences`` (``[start, end, char_start, char_end]`` of each
  sentence of the text) and ``focus`` (the index of the sentence the passage is about, or null).

A search is hybrid: the engine gives the ``prefetch`` best candidates of the dense search and of
the keyword search (both filtered by video and owner in the engine), and
:func:`vidsage_indexer.store.fusion.fuse` fuses the two rankings (reciprocal rank fusion or a
weighted sum of scores), keeping each channel's score on the hit.

Point ids are deterministic (:func:`passage_id`), so indexing a video twice replaces its points
instead of duplicating them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

from vidsage.transient import DependencyUnavailable
from vidsage_indexer.passages import SentenceSpan

DENSE = "dense"
"""Name of the dense vector of every point."""
SPARSE = "keywords"
"""Name of the sparse (BM25 keyword) vector of every point."""
INDEXED_FIELDS = ("video_id", "owner")
"""Payload fields with a keyword index (the search filters)."""

PASSAGE_NAMESPACE = uuid.UUID("6f1d4b0e-2c57-5a8e-9d3b-7c4e1a9f0b21")
"""Fixed namespace of :func:`passage_id`. Never change it: stored point ids depend on it."""


def passage_id(video_id: str, index: int) -> str:
    """Deterministic point id of passage ``index`` (0-based) of ``video_id``: a UUIDv5 string.

    The same video and position always give the same id, so a redelivered or repeated index job
    overwrites its points instead of adding new ones.
    """
    return str(uuid.uuid5(PASSAGE_NAMESPACE, f"{video_id}:{index}"))


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: parallel lists of term indices and weights (indices unique)."""

    indices: tuple[int, ...]
    """Term indices (31-bit non-negative integers)."""
    values: tuple[float, ...]
    """Weight of each index."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "indices", tuple(int(i) for i in self.indices))
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if len(self.indices) != len(self.values):
            raise ValueError(f"sparse vector has {len(self.indices)} indices but {len(self.values)} values")

    def __len__(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Passage:
    """One searchable unit: consecutive transcript segments of one video."""

    id: str
    """Point id: a UUID string, deterministic (see :func:`passage_id`)."""
    video_id: str
    """The video it comes from."""
    owner: str
    """Owner of the video (a search filter)."""
    filename: str
    """Original file name of the video (display only)."""
    start: float
    """Start in seconds from the video start."""
    end: float
    """End in seconds from the video start."""
    text: str
    """The passage text."""
    segment_ids: tuple[int, ...]
    """Transcript segment ids in the passage, in order (a list is accepted and stored as a tuple)."""
    sentences: tuple[SentenceSpan, ...] = ()
    """Time and character span of each sentence of ``text``; empty: the text is one sentence."""
    focus: int | None = None
    """Index into ``sentences`` of the sentence the passage is about; None: none in particular."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "segment_ids", tuple(int(i) for i in self.segment_ids))
        object.__setattr__(self, "start", float(self.start))
        object.__setattr__(self, "end", float(self.end))
        object.__setattr__(self, "sentences", tuple(self.sentences))
        if self.focus is not None and not 0 <= self.focus < len(self.sentences):
            object.__setattr__(self, "focus", None)

    def spans(self) -> tuple[SentenceSpan, ...]:
        """:attr:`sentences`, or the whole passage as one sentence when there are none."""
        return self.sentences or (SentenceSpan(self.start, self.end, 0, len(self.text)),)

    def payload(self) -> dict[str, Any]:
        """The point payload stored for this passage (everything but the id)."""
        return {
            "video_id": self.video_id,
            "owner": self.owner,
            "filename": self.filename,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "segment_ids": list(self.segment_ids),
            "sentences": [[s.start, s.end, s.char_start, s.char_end] for s in self.sentences],
            "focus": self.focus,
        }


def _sentences(raw: object, text: str) -> tuple[SentenceSpan, ...]:
    """Sentence spans read back from a payload; anything malformed (or a point stored before
    sentences were recorded) gives ``()``, i.e. the passage is one sentence."""
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw:
        try:
            start, end, lo, hi = item
            span = SentenceSpan(float(start), float(end), int(lo), int(hi))
        except (TypeError, ValueError):
            return ()
        if not 0 <= span.char_start <= span.char_end <= len(text):
            return ()
        out.append(span)
    return tuple(out)


@dataclass(frozen=True)
class Hit(Passage):
    """A search result: the passage, its fused score and the score of each channel."""

    score: float = 0.0
    """Fused score; higher is better (see :mod:`vidsage_indexer.store.fusion`)."""
    dense_score: float | None = None
    """Cosine similarity of the query and the passage embedding; None: not among the dense candidates."""
    keyword_score: float | None = None
    """BM25 score of the query's words in the passage; None: not among the keyword candidates."""

    @classmethod
    def from_point(
        cls,
        point_id: object,
        payload: Mapping[str, Any] | None,
        score: float,
        *,
        dense_score: float | None = None,
        keyword_score: float | None = None,
    ) -> Hit:
        """Build a hit from a point id, its stored payload and its scores."""
        data = payload or {}
        text = str(data.get("text", ""))
        focus = data.get("focus")
        return cls(
            id=str(point_id),
            video_id=str(data.get("video_id", "")),
            owner=str(data.get("owner", "")),
            filename=str(data.get("filename", "")),
            start=float(data.get("start", 0.0)),
            end=float(data.get("end", 0.0)),
            text=text,
            segment_ids=tuple(data.get("segment_ids") or ()),
            sentences=_sentences(data.get("sentences"), text),
            focus=focus if isinstance(focus, int) and not isinstance(focus, bool) else None,
            score=float(score),
            dense_score=dense_score,
            keyword_score=keyword_score,
        )

    def passage(self) -> Passage:
        """The passage without the score."""
        return Passage(**{f.name: getattr(self, f.name) for f in fields(Passage)})


class StoreError(RuntimeError):
    """The vector store cannot do what was asked (closed, not ensured, incompatible existing data)."""


class StoreUnavailable(StoreError, DependencyUnavailable):
    """The vector store server cannot be reached or answers with a server error (transient: the
    worker retries the job in place, see :mod:`vidsage.transient`)."""

    dependency = "the vector store"


@runtime_checkable
class VectorStore(Protocol):
    """The indexer's vector store. Every method blocks: call it from an executor.

    Implementations are safe to call from several threads at once.
    """

    def ensure(self, dim: int) -> None:
        """Create the collection (or shard) if missing, else open it; idempotent.

        Dense vector :data:`DENSE` of size ``dim`` (cosine), sparse vector :data:`SPARSE` with the
        IDF modifier, keyword payload indexes on :data:`INDEXED_FIELDS`. Existing data is kept;
        an existing collection with another dense size raises :class:`StoreError`.
        """
        ...

    def upsert(
        self, passages: Sequence[Passage], dense: Sequence[Sequence[float]], sparse: Sequence[Sparse]
    ) -> None:
        """Insert or replace ``passages`` (same id → replaced) with their dense and sparse vectors.

        ``dense[i]`` and ``sparse[i]`` belong to ``passages[i]``. Visible to searches on return.
        """
        ...

    def delete_video(self, video_id: str) -> None:
        """Remove every point of ``video_id`` (nothing to remove is fine)."""
        ...

    def search(
        self,
        dense: Sequence[float],
        sparse: Sparse,
        *,
        limit: int,
        video_id: str | None = None,
        owner: str | None = None,
    ) -> list[Hit]:
        """Hybrid search: the dense and keyword candidates fused by the store's fusion config.

        Filtered by ``video_id`` and/or ``owner`` when given (in the engine, before ranking); best
        first; at most ``limit`` hits. An empty store (or one never ensured) gives ``[]``.
        """
        ...

    def count(self, video_id: str | None = None) -> int:
        """Number of points, of one video or of all."""
        ...

    def close(self) -> None:
        """Flush and release the store; idempotent. Later calls raise :class:`StoreError`."""
        ...


def check_batch(
    passages: Sequence[Passage], dense: Sequence[Sequence[float]], sparse: Sequence[Sparse], dim: int | None
) -> None:
    """Raise ``ValueError`` unless the three lists line up and every dense vector has ``dim`` values."""
    if not len(passages) == len(dense) == len(sparse):
        raise ValueError(
            f"upsert needs one dense and one sparse vector per passage: "
            f"{len(passages)} passages, {len(dense)} dense, {len(sparse)} sparse"
        )
    if dim is not None:
        for passage, vector in zip(passages, dense, strict=True):
            if len(vector) != dim:
                raise ValueError(
                    f"dense vector of passage {passage.id} has {len(vector)} values, expected {dim}"
                )


def as_floats(vector: Sequence[float]) -> list[float]:
    """A plain list of floats (numpy arrays included), as the engines' bindings want.

    A list is passed through unchanged (the bindings reject non-numbers themselves).
    """
    if isinstance(vector, list):
        return vector
    tolist = getattr(vector, "tolist", None)
    if callable(tolist):
        return list(tolist())
    return [float(v) for v in vector]


class SharedExclusiveLock:
    """A readers-writer lock: many holders of :meth:`shared`, or one of :meth:`exclusive`.

    Waiting exclusive holders are preferred, so a stream of shared holders cannot starve them.
    Not reentrant.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock together with other shared holders."""
        with self._cond:
            while self._exclusive or self._waiting_exclusive:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                if not self._shared:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock alone."""
        with self._cond:
            self._waiting_exclusive += 1
            try:
                while self._exclusive or self._shared:
                    self._cond.wait()
            finally:
                self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
