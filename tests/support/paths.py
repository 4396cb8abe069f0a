"""Where things are in a checkout: the repository root and the offline models ``make setup`` fetches."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""

MODELS = ROOT / ".vidsage" / "models"
"""Where ``make setup`` (or ``make models``) puts the offline models."""

WHISPER_MODEL = MODELS / "whisper-base" / "model.bin"
"""The offline Whisper base model (CTranslate2), assembled by ``make setup``."""

EMBEDDING_MODEL = MODELS / "all-MiniLM-L6-v2"
"""The offline sentence-transformers embedding model folder (the indexer's default)."""
