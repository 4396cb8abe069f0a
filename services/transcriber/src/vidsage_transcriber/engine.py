"""faster-whisper behind one small class: resolve and load the model once, transcribe a file.

Everything here blocks; the worker runs it in an executor. ``transcribe`` returns a lazy
generator in faster-whisper, so the whole iteration happens inside :meth:`Engine.transcribe`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidsage.compute import ModelUnavailable, available_cores
from vidsage.contracts.transcript import Segment, Word
from vidsage.logging import get_logger
from vidsage.settings import TranscriberSettings

log = get_logger("vidsage.transcriber.engine")

DEFAULT_MODEL_DIR = "whisper-base"
# faster-whisper's own size names (downloaded on first use when named explicitly).
_SIZE_NAME = re.compile(r"^(tiny|base|small|medium|large|distil|turbo)[\w.-]*$")


@dataclass(frozen=True)
class Resolved:
    """What :class:`Engine` will load: a folder, or a size name to download."""

    source: str
    is_path: bool
    device: str
    compute_type: str
    cpu_threads: int


@dataclass
class Result:
    language: str | None
    language_probability: float | None
    duration_s: float
    segments: list[Segment]


def resolve(cfg: TranscriberSettings, models_dir: Path) -> Resolved:
    """Decide model source, device and compute type without loading anything."""
    name = cfg.model.strip()
    if not name:
        path = models_dir / DEFAULT_MODEL_DIR
        if not (path / "model.bin").is_file():
            raise ModelUnavailable(
                f"the offline Whisper model is missing at {path}: run `make setup`, or set "
                "VIDSAGE_TRANSCRIBER__MODEL to a model folder or a faster-whisper size name"
            )
        source, is_path = str(path), True
    elif _SIZE_NAME.match(name) and not Path(name).exists():
        source, is_path = name, False
    else:
        path = Path(name)
        if not (path / "model.bin").is_file():
            raise ModelUnavailable(
                f"VIDSAGE_TRANSCRIBER__MODEL={name!r} is not a CTranslate2 model folder (no model.bin)"
            )
        source, is_path = str(path), True

    device = cfg.device
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute = cfg.compute_type
    if compute == "auto":
        compute = "float16" if device == "cuda" else "int8"
    cores = available_cores()
    threads = min(cfg.cpu_threads or cores, cores) if device == "cpu" else (cfg.cpu_threads or 0)
    return Resolved(source, is_path, device, compute, threads)


class Engine:
    """One loaded Whisper model (and its batched pipeline), shared by the jobs of a process."""

    def __init__(self, cfg: TranscriberSettings, models_dir: Path) -> None:
        self.cfg = cfg
        self.resolved = resolve(cfg, models_dir)
        self.model_name = Path(self.resolved.source).name if self.resolved.is_path else self.resolved.source
        self._model: Any = None
        self._pipeline: Any = None

    def load(self) -> float:
        """Load the model (once); returns the seconds it took."""
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        r = self.resolved
        started = time.perf_counter()
        try:
            self._model = WhisperModel(
                r.source,
                device=r.device,
                compute_type=r.compute_type,
                cpu_threads=r.cpu_threads,
                num_workers=self.cfg.concurrency,
                local_files_only=r.is_path or os.environ.get("HF_HUB_OFFLINE") == "1",
            )
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot load Whisper model {r.source!r} on {r.device}/{r.compute_type}: {exc} "
                "(set VIDSAGE_TRANSCRIBER__MODEL, __DEVICE or __COMPUTE_TYPE)"
            ) from exc
        if self.cfg.batched:
            # faster-whisper leaves BatchedInferencePipeline.__init__ unannotated
            self._pipeline = BatchedInferencePipeline(self._model)  # type: ignore[no-untyped-call]
        took = time.perf_counter() - started
        log.info(
            "model_loaded",
            model=r.source,
            device=r.device,
            compute_type=r.compute_type,
            cpu_threads=r.cpu_threads,
            batched=self.cfg.batched,
            seconds=round(took, 2),
        )
        return took

    def transcribe(self, audio_path: Path, on_progress: Callable[[float], None] | None = None) -> Result:
        """Transcribe a 16 kHz audio file; ``on_progress`` gets the percent of audio done."""
        from faster_whisper import decode_audio

        if self._model is None:
            self.load()
        audio = decode_audio(str(audio_path), sampling_rate=16000)
        duration = len(audio) / 16000
        if duration == 0:
            return Result(None, None, 0.0, [])
        cfg = self.cfg
        common: dict[str, Any] = {
            "language": cfg.language,
            "beam_size": cfg.beam_size,
            "word_timestamps": cfg.word_timestamps,
        }
        if self._pipeline is not None:
            segments, info = self._pipeline.transcribe(audio, batch_size=cfg.batch_size, **common)
        else:
            segments, info = self._model.transcribe(audio, vad_filter=cfg.vad_filter, **common)
        out: list[Segment] = []
        for i, s in enumerate(segments):  # the work happens while iterating
            words = None
            if cfg.word_timestamps and s.words:
                words = [
                    Word(start=w.start, end=w.end, word=w.word, probability=w.probability) for w in s.words
                ]
            out.append(
                Segment(
                    id=i,
                    start=s.start,
                    end=s.end,
                    text=s.text,
                    words=words,
                    avg_logprob=s.avg_logprob,
                    no_speech_prob=s.no_speech_prob,
                )
            )
            if on_progress is not None:
                on_progress(min(100.0, 100.0 * s.end / duration))
        language = info.language if out else (cfg.language or None)
        probability = info.language_probability if out else None
        return Result(language, probability, duration, out)
