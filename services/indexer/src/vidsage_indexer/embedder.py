"""sentence-transformers behind one small class: resolve and load the model once, embed texts.

Everything here blocks (the worker runs it in an executor). Embeddings are L2-normalised, so the
cosine similarity of two of them is their dot product.

Throughput: :meth:`Embedder.encode` is one ``SentenceTransformer.encode`` call plus a conversion
to plain lists, so it runs at the speed of the raw call: on 2 CPU cores about 300 sentences per
second with the default all-MiniLM-L6-v2 (about 55 with all-mpnet-base-v2). Calls are serialised by a
lock: one call already uses every core torch is given, so two concurrent calls would only fight
over them.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from vidsage.compute import ModelUnavailable, available_cores
from vidsage.logging import get_logger
from vidsage.settings import IndexerSettings

log = get_logger("vidsage.indexer.embedder")

DEFAULT_MODEL_DIR = "all-MiniLM-L6-v2"
"""The offline default, kept by ``python -m benchmarks relevance``: all-mpnet-base-v2 ranks as well
at the top and finds the right sentence more often, but its query embedding alone costs about 4x as
much and breaks the search latency target (see the README's Benchmarks section)."""

_threads_lock = threading.Lock()
_threads_set = False


def resolve_model_path(settings: IndexerSettings, models_dir: Path) -> Path:
    """The model folder to load: ``settings.model``, or ``models_dir/all-MiniLM-L6-v2`` when empty.

    Raises:
        ModelUnavailable: the folder does not exist.
    """
    name = settings.model.strip()
    if not name:
        path = models_dir / DEFAULT_MODEL_DIR
        if not path.is_dir():
            raise ModelUnavailable(
                f"the offline embedding model is missing at {path}: run `make setup`, or set "
                "VIDSAGE_INDEXER__MODEL to a sentence-transformers model folder"
            )
        return path
    path = Path(name)
    if not path.is_dir():
        raise ModelUnavailable(
            f"VIDSAGE_INDEXER__MODEL={name!r} is not a sentence-transformers model folder; set it to "
            f"one, or leave it empty for the offline model that `make setup` puts in {models_dir}"
        )
    return path


def _use_all_cores() -> None:
    """``torch.set_num_threads(available_cores())``, once per process."""
    global _threads_set
    with _threads_lock:
        if _threads_set:
            return
        import torch

        torch.set_num_threads(available_cores())
        _threads_set = True


class Embedder:
    """One loaded sentence-transformers model, shared by the jobs and searches of a process."""

    def __init__(self, settings: IndexerSettings, models_dir: Path) -> None:
        self.settings = settings
        self.path = resolve_model_path(settings, models_dir)
        self.model_name = self.path.name
        self._model: Any = None
        self._dim = 0
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def _device(self) -> str:
        device = self.settings.device
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        return device

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has run."""
        return self._model is not None

    def load(self) -> float:
        """Load the model (once; later calls return at once); returns the seconds this call took.

        Sets ``HF_HUB_OFFLINE=1`` unless the environment already sets it, so nothing is fetched.

        Raises:
            ModelUnavailable: the folder is not a loadable model, or the device is not usable.
        """
        started = time.perf_counter()
        with self._load_lock:
            if self._model is not None:
                return 0.0
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            _use_all_cores()
            from sentence_transformers import SentenceTransformer

            device = self._device()
            try:
                model = SentenceTransformer(str(self.path), device=device)
                dim = model.get_embedding_dimension()
            except Exception as exc:
                raise ModelUnavailable(
                    f"cannot load embedding model {str(self.path)!r} on {device}: {exc} "
                    "(set VIDSAGE_INDEXER__MODEL or VIDSAGE_INDEXER__DEVICE, or run `make setup`)"
                ) from exc
            if not dim:
                raise ModelUnavailable(f"embedding model {str(self.path)!r} reports no embedding dimension")
            model.encode(["warm up"], show_progress_bar=False)  # the first call pays torch's set-up
            self._model, self._dim = model, int(dim)
        took = time.perf_counter() - started
        log.info(
            "model_loaded",
            model=str(self.path),
            device=device,
            dim=self._dim,
            threads=available_cores(),
            seconds=round(took, 2),
        )
        return took

    @property
    def dim(self) -> int:
        """Length of every embedding (384 for all-MiniLM-L6-v2); loads the model if needed."""
        if self._model is None:
            self.load()
        return self._dim

    def encode(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` (blocking), in order; each vector has :attr:`dim` floats and unit length.

        Loads the model on first use. An empty list gives an empty list.
        """
        if not texts:
            return []
        if self._model is None:
            self.load()
        with self._encode_lock:
            vectors = self._model.encode(
                texts,
                batch_size=self.settings.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.tolist()  # type: ignore[no-any-return]

    def encode_query(self, text: str) -> list[float]:
        """Embed one search query (the same model and normalisation as passages)."""
        return self.encode([text])[0]
