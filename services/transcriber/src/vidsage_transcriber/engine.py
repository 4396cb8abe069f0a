"""faster-whisper behind one class: resolve and load the model once, then transcribe in three steps
that the worker runs on different threads.

1. :meth:`Engine.prepare` (one video, one thread): Silero VAD over the whole audio with the peer's
   settings (threshold 0.5, min silence 160 ms, pad 400 ms), speech merged into windows of at most
   30 s (:func:`vidsage_transcriber.chunks.merge_speech`), a log-mel spectrogram per window.
2. :meth:`Engine.run_batch` (an inference worker: one model replica, its own thread): encode a
   batch of windows (of one video, or of several when batching across videos), detect a video's
   language from its first window's encoder output (no extra encoder pass, unlike
   ``BatchedInferencePipeline``, which encodes the first 30 s once more for it), beam search
   without timestamp tokens, and word alignment from the cross-attention of the same encoder
   output.
3. :meth:`Engine.assemble` (one video): faster-whisper's word-timing rules applied in window order,
   then the segments.

Every step uses faster-whisper 1.2.1's own pieces (``get_speech_timestamps``, ``FeatureExtractor``,
``WhisperModel.encode``, ``ctranslate2.models.Whisper.generate``, ``find_alignment``,
``add_word_timestamps``) with ``BatchedInferencePipeline``'s options, so a video's transcript is the
one that ``BatchedInferencePipeline.transcribe`` gives with the same windows as ``clip_timestamps``
and word timestamps: the same text, words and segment bounds (tests/unit/test_transcriber_engine.py
checks it on the fixtures). What differs is the layout: on CPU one model replica per core, each
with one thread, decoding its own share of the windows (:func:`vidsage_transcriber.chunks.share`):
CTranslate2's beam search gains little from a second thread, so two one-thread replicas finish a
video sooner than one two-thread replica (measured in ``python -m benchmarks transcription``).

Everything here blocks; :class:`vidsage_transcriber.batching.Scheduler` runs it on the process's
compute pool.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsage.compute import ComputePool, ModelUnavailable, available_cores
from vidsage.contracts.transcript import Segment, Word
from vidsage.logging import get_logger
from vidsage.settings import TranscriberSettings
from vidsage_transcriber.chunks import Span, merge_speech, share

if TYPE_CHECKING:  # imported where used: the process opens NATS and S3 while the model loads
    import numpy as np

log = get_logger("vidsage.transcriber.engine")

DEFAULT_MODEL_DIR = "whisper-base"
SAMPLE_RATE = 16000
WINDOW_S = 30
"""Whisper's input: 30 s windows (3000 log-mel frames)."""
# faster-whisper's own size names (downloaded on first use when named explicitly).
_SIZE_NAME = re.compile(r"^(tiny|base|small|medium|large|distil|turbo)[\w.-]*$")
# BatchedInferencePipeline.transcribe's defaults
_PREPEND_PUNCTUATIONS = "\"'“¿([{-"
_APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
_LANGUAGE_WAIT_S = 600.0
_SHARE_FIXED_COST_S = 10.0
"""Cost of a window beyond its duration when sharing windows among workers (the encoder pass)."""


@dataclass(frozen=True)
class Resolved:
    """What :class:`Engine` will load: a folder or a size name, and the thread layout."""

    source: str
    is_path: bool
    device: str
    compute_type: str
    workers: int
    """Model replicas decoding at the same time (CTranslate2 ``inter_threads``)."""
    cpu_threads: int
    """Threads of each replica (CTranslate2 ``intra_threads``)."""
    across_videos: bool
    """Whether a batch may hold windows of several videos."""


@dataclass
class Result:
    language: str | None
    language_probability: float | None
    duration_s: float
    segments: list[Segment]
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per step: ``vad``, ``features``, and over the batches that held the video's
    windows ``encode``, ``language``, ``generate``, ``align`` (thread time, summed over workers)
    and ``words``."""
    details: list[dict[str, Any]] = field(default_factory=list)
    """Per segment, what OpenAI's ``verbose_json`` shows besides the segment: ``seek``,
    ``tokens``, ``compression_ratio``."""


@dataclass
class Window:
    """One window of a video: where it is and its padded log-mel spectrogram."""

    index: int
    offset_s: float
    duration_s: float
    features: np.ndarray


@dataclass
class WindowOutput:
    """What the model made of one window (faster-whisper's own per-window structures)."""

    subsegments: list[dict[str, Any]]
    alignment: list[dict[str, Any]]
    frames: int


@dataclass
class Plan:
    """One video on its way through the model: its windows, their outputs as they come, its
    language once known. Shared by the worker threads that decode its windows."""

    duration_s: float
    windows: list[Window]
    language: str | None = None
    language_probability: float | None = None
    prompt: str | None = None
    """Text that primes the decoder of every window (a transcription job's ``prompt``)."""
    temperature: float = 0.0
    """0: beam search; above: sampling at this temperature (a transcription job's option)."""
    word_timestamps: bool = True
    """Align words (``transcriber.word_timestamps`` for a video; a job says it itself)."""
    outputs: list[WindowOutput | None] = field(default_factory=list)
    error: BaseException | None = None
    timings: dict[str, float] = field(default_factory=dict)
    language_known: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.outputs = [None] * len(self.windows)
        if self.language is not None:
            self.language_known.set()

    @property
    def done(self) -> bool:
        return all(o is not None for o in self.outputs)

    @property
    def done_s(self) -> float:
        """Seconds of audio in the windows decoded so far."""
        return sum(w.duration_s for w, o in zip(self.windows, self.outputs, strict=True) if o is not None)

    def fail(self, exc: BaseException) -> None:
        """Give up on this video (and release the workers waiting for its language)."""
        self.error = exc
        self.language_known.set()

    def add_time(self, step: str, seconds: float) -> None:
        with self._lock:
            self.timings[step] = self.timings.get(step, 0.0) + seconds


Unit = list[tuple[Plan, int]]
"""Windows to decode together: (video, window index) pairs."""


def resolve(cfg: TranscriberSettings, models_dir: Path) -> Resolved:
    """Decide model source, device, compute type and thread layout without loading anything."""
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
    if device == "cpu":
        workers = cfg.workers or max(1, cores // (cfg.cpu_threads or 1))
        threads = max(1, min(cfg.cpu_threads or cores // workers, cores // workers))
    else:
        workers, threads = cfg.workers or 1, cfg.cpu_threads
    across = device == "cuda" if cfg.batch_across_videos is None else cfg.batch_across_videos
    return Resolved(source, is_path, device, compute, workers, threads, across)


class Engine:
    """One loaded Whisper model (``workers`` replicas of it), shared by the jobs of a process."""

    def __init__(self, cfg: TranscriberSettings, models_dir: Path) -> None:
        self.cfg = cfg
        self.resolved = resolve(cfg, models_dir)
        self.model_name = Path(self.resolved.source).name if self.resolved.is_path else self.resolved.source
        self._model: Any = None
        self._vad_options: Any = None
        self._tokenizers: dict[str, Any] = {}
        self._suppress: tuple[int, ...] = ()
        self._load_lock = threading.Lock()
        self._load_error: ModelUnavailable | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> float:
        """Load the model and the VAD, once: thread-safe, a second caller waits for the first one
        and a failed load is not retried (its error is raised again). Returns the seconds it took
        (0 when it was loaded already)."""
        with self._load_lock:
            if self._model is not None:
                return 0.0
            if self._load_error is not None:
                raise self._load_error
            started = time.perf_counter()
            try:
                self._load()
            except ModelUnavailable as exc:
                self._load_error = exc
                raise
            took = time.perf_counter() - started
        r = self.resolved
        log.info(
            "model_loaded",
            model=r.source,
            device=r.device,
            compute_type=r.compute_type,
            workers=r.workers,
            cpu_threads=r.cpu_threads,
            batch_size=self.cfg.batch_size,
            across_videos=r.across_videos,
            seconds=round(took, 2),
        )
        return took

    def _load(self) -> None:
        from faster_whisper.transcribe import get_suppressed_tokens
        from faster_whisper.vad import VadOptions, get_vad_model

        r = self.resolved
        try:
            model = _whisper_class()(
                r.source,
                device=r.device,
                compute_type=r.compute_type,
                cpu_threads=r.cpu_threads,
                num_workers=r.workers,
                local_files_only=r.is_path or os.environ.get("HF_HUB_OFFLINE") == "1",
            )
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot load Whisper model {r.source!r} on {r.device}/{r.compute_type}: {exc} "
                "(set VIDSAGE_TRANSCRIBER__MODEL, __DEVICE or __COMPUTE_TYPE)"
            ) from exc
        get_vad_model()  # the Silero session, made once per process (faster-whisper caches it)
        cfg = self.cfg
        self._vad_options = VadOptions(
            threshold=cfg.vad_threshold,
            min_silence_duration_ms=cfg.vad_min_silence_ms,
            speech_pad_ms=cfg.vad_speech_pad_ms,
            max_speech_duration_s=WINDOW_S,
        )
        self._suppress = tuple(get_suppressed_tokens(self._tokenizer("en", model), (-1,)) or ())
        self._model = model  # last: from here on the engine counts as loaded

    def _tokenizer(self, language: str, model: Any = None) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        tokenizer = self._tokenizers.get(language)
        if tokenizer is None:
            model = model or self._model
            tokenizer = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
            )
            self._tokenizers[language] = tokenizer
        return tokenizer

    # -- 1. one video: VAD, windows, features ------------------------------------------------------
    def prepare(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool | None = None,
    ) -> Plan:
        """The video's windows, ready for the model (16 kHz mono float32 in, blocking).

        The keyword options are a transcription job's (:mod:`vidsage_transcriber.jobs`): a language
        that overrides ``transcriber.language``, a prompt, a temperature, word timestamps or not
        (default ``transcriber.word_timestamps``)."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.vad import get_speech_timestamps

        self.load()  # waits for a load in progress
        model = self._model
        duration = len(audio) / SAMPLE_RATE
        timings: dict[str, float] = {}
        with _timed(timings, "vad"):
            speech = [Span(s["start"], s["end"]) for s in get_speech_timestamps(audio, self._vad_options)]
            spans = merge_speech(
                speech,
                max_samples=WINDOW_S * SAMPLE_RATE,
                pad_samples=self.cfg.vad_speech_pad_ms * SAMPLE_RATE // 1000,
                sample_rate=SAMPLE_RATE,
            )
        with _timed(timings, "features"):
            windows = [
                Window(
                    i,
                    span.start / SAMPLE_RATE,
                    (span.end - span.start) / SAMPLE_RATE,
                    pad_or_trim(model.feature_extractor(audio[span.start : span.end])[..., :-1]),
                )
                for i, span in enumerate(spans)
            ]
        words = self.cfg.word_timestamps if word_timestamps is None else word_timestamps
        plan = Plan(
            duration, windows, timings=timings, prompt=prompt, temperature=temperature, word_timestamps=words
        )
        forced = language or self.cfg.language
        if forced is not None or not model.model.is_multilingual:
            plan.language = forced if model.model.is_multilingual else "en"
            plan.language_probability = 1.0
            plan.language_known.set()
        return plan

    def units(self, plan: Plan) -> list[Unit]:
        """The video's windows as units of work: shared out among the workers (unless batches hold
        several videos, then in order), at most ``batch_size`` windows each; the unit with window 0
        comes first."""
        if not plan.windows:
            return []
        parts = 1 if self.resolved.across_videos else self.resolved.workers
        groups = share([w.duration_s for w in plan.windows], parts, fixed_cost=_SHARE_FIXED_COST_S)
        size = self.cfg.batch_size
        return [
            [(plan, i) for i in group[start : start + size]]
            for group in groups
            for start in range(0, len(group), size)
        ]

    # -- 2. a batch of windows: encoder, language, decoder, alignment ------------------------------
    def run_batch(self, unit: Unit) -> list[WindowOutput | None]:
        """Decode the windows of ``unit`` as one batch (blocking; call from one thread per worker).

        Returns an output per window, None for a window of a video that failed meanwhile. A video
        whose language is not known yet gets it from its window 0 if that is in the batch;
        otherwise this waits until the worker holding window 0 has detected it. On CPU window 0 is
        encoded on its own first, so the other workers wait for one window's encoding, not for a
        whole batch's.
        """
        model = self._model
        plans = _distinct(p for p, _ in unit)
        first = [k for k, (plan, i) in enumerate(unit) if i == 0 and not plan.language_known.is_set()]
        order = first + [k for k in range(len(unit)) if k not in first]
        batch = [unit[k] for k in order]
        started = time.perf_counter()
        if first and len(first) < len(batch) and self.resolved.device == "cpu":
            head = model.encode(self._features(batch[: len(first)]))
            self._detect_languages(batch[: len(first)], head)
            tail = model.encode(self._features(batch[len(first) :]))
            encoder_output = _concat(head, tail)
        else:
            encoder_output = model.encode(self._features(batch))
            self._detect_languages(batch[: len(first)], encoder_output)
        encoded = time.perf_counter()
        for plan in plans:
            if not plan.language_known.wait(_LANGUAGE_WAIT_S):
                raise RuntimeError("timed out waiting for the language of a video")
        languages = [plan.language or "en" for plan, _ in batch]
        detected = time.perf_counter()
        outputs = self._generate(batch, encoder_output, languages)
        generated = time.perf_counter()
        wanted = [plan.word_timestamps for plan, _ in batch]
        if any(wanted):
            self._align(
                outputs,
                encoder_output,
                [lang if w else None for lang, w in zip(languages, wanted, strict=True)],
            )
        aligned = time.perf_counter()
        for plan in plans:
            plan.add_time("encode", encoded - started)
            plan.add_time("language", detected - encoded)
            plan.add_time("generate", generated - detected)
            plan.add_time("align", aligned - generated)
        by_position: list[WindowOutput | None] = [None] * len(unit)
        for k, out in zip(order, outputs, strict=True):
            by_position[k] = None if unit[k][0].error is not None else out
        return by_position

    @staticmethod
    def _features(unit: Unit) -> np.ndarray:
        import numpy as np

        return np.stack([plan.windows[i].features for plan, i in unit])

    def _detect_languages(self, unit: Unit, encoder_output: Any) -> None:
        """The language of each video of ``unit`` (its window 0, encoded in ``encoder_output``)."""
        if not unit:
            return
        results = self._model.model.detect_language(encoder_output)
        for (plan, _), result in zip(unit, results, strict=False):
            token, probability = result[0]
            plan.language, plan.language_probability = token[2:-2], float(probability)
            plan.language_known.set()

    def _generate(self, unit: Unit, encoder_output: Any, languages: list[str]) -> list[WindowOutput]:
        from faster_whisper.transcribe import get_compression_ratio

        model, cfg = self._model, self.cfg
        prompts = [
            model.get_prompt(
                self._tokenizer(language), self._prompt_tokens(plan.prompt, language), without_timestamps=True
            )
            for (plan, _), language in zip(unit, languages, strict=True)
        ]
        # a batch holds one temperature (the scheduler never mixes them): 0 is beam search
        temperature = unit[0][0].temperature
        decoding: dict[str, Any] = {"beam_size": cfg.beam_size, "patience": 1, "sampling_temperature": 0.0}
        if temperature > 0:
            decoding = {"beam_size": 1, "sampling_topk": 0, "sampling_temperature": temperature}
        results = model.model.generate(
            encoder_output,
            prompts,
            length_penalty=1,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            return_scores=True,
            return_no_speech_prob=True,
            repetition_penalty=1,
            no_repeat_ngram_size=0,
            **decoding,
        )
        outputs: list[WindowOutput] = []
        for (plan, i), language, result in zip(unit, languages, results, strict=True):
            tokenizer = self._tokenizer(language)
            window = plan.windows[i]
            tokens = result.sequences_ids[0]
            seq_len = len(tokens)
            avg_logprob = result.scores[0] * seq_len / (seq_len + 1)
            frames = int(math.ceil(window.duration_s) * model.frames_per_second)
            subsegments, _, _ = model._split_segments_by_timestamps(
                tokenizer=tokenizer,
                tokens=tokens,
                time_offset=window.offset_s,
                segment_size=frames,
                segment_duration=window.duration_s,
                seek=0,
            )
            seek = int(window.offset_s * model.frames_per_second)
            outputs.append(
                WindowOutput(
                    [
                        {
                            "text": (text := tokenizer.decode(sub["tokens"])),
                            "avg_logprob": avg_logprob,
                            "no_speech_prob": result.no_speech_prob,
                            "tokens": sub["tokens"],
                            "start": sub["start"],
                            "end": sub["end"],
                            "compression_ratio": get_compression_ratio(text),
                            "seek": seek,
                        }
                        for sub in subsegments
                    ],
                    [],
                    frames,
                )
            )
        return outputs

    def _prompt_tokens(self, prompt: str | None, language: str) -> list[int]:
        """A prompt as faster-whisper's ``initial_prompt`` makes it: a space, the stripped text."""
        if not prompt or not prompt.strip():
            return []
        tokens: list[int] = self._tokenizer(language).encode(" " + prompt.strip())
        return tokens

    def _align(self, outputs: list[WindowOutput], encoder_output: Any, languages: list[str | None]) -> None:
        """Word alignment of every window of the batch: one call per language in it (the start of
        the decoder's input names the language), the other rows (and those of language None: no
        words wanted) given no tokens."""
        model = self._model
        frames = [o.frames for o in outputs]
        for language in dict.fromkeys(lang for lang in languages if lang is not None):
            tokenizer = self._tokenizer(language)
            text_tokens = [
                list(itertools.chain.from_iterable(_text_tokens(s, tokenizer.eot) for s in o.subsegments))
                if lang == language
                else []
                for o, lang in zip(outputs, languages, strict=True)
            ]
            alignments = model.find_alignment(tokenizer, text_tokens, encoder_output, frames)
            for out, lang, alignment in zip(outputs, languages, alignments, strict=True):
                if lang == language:
                    out.alignment = alignment

    # -- 3. one video: word timings, segments ---------------------------------------------------
    def assemble(self, plan: Plan) -> Result:
        """The video's segments once every window is decoded (blocking, cheap)."""
        if plan.error is not None:
            raise plan.error
        outputs = [o for o in plan.outputs if o is not None]
        if len(outputs) != len(plan.windows):
            raise RuntimeError("assemble() before every window was decoded")
        if not outputs:
            language = self.cfg.language or None
            return Result(language, None, plan.duration_s, [], dict(plan.timings))
        started = time.perf_counter()
        windows = [o.subsegments for o in outputs]
        if plan.word_timestamps:
            self._model.add_word_timestamps(
                windows,
                self._tokenizer(plan.language or "en"),
                _Aligned([o.alignment for o in outputs]),
                [o.frames for o in outputs],
                _PREPEND_PUNCTUATIONS,
                _APPEND_PUNCTUATIONS,
                0.0,
            )
        segments = [
            Segment(
                id=n,
                start=round(s["start"], 3),
                end=round(s["end"], 3),
                text=s["text"],
                words=[Word(**w) for w in s["words"]] if plan.word_timestamps else None,
                avg_logprob=s["avg_logprob"],
                no_speech_prob=s["no_speech_prob"],
            )
            for n, s in enumerate(itertools.chain.from_iterable(windows))
        ]
        details = [
            {"seek": s["seek"], "tokens": list(s["tokens"]), "compression_ratio": s["compression_ratio"]}
            for s in itertools.chain.from_iterable(windows)
        ]
        plan.add_time("words", time.perf_counter() - started)
        return Result(
            plan.language, plan.language_probability, plan.duration_s, segments, dict(plan.timings), details
        )

    # -- all three, for one video ------------------------------------------------------------------
    def transcribe(
        self, source: Path | np.ndarray, on_progress: Callable[[float], None] | None = None
    ) -> Result:
        """Transcribe an audio or video file (decoded by faster-whisper) or 16 kHz samples, with
        this engine's thread layout; ``on_progress`` gets the percent of audio done."""
        import numpy as np
        from faster_whisper import decode_audio

        self.load()
        audio = source if isinstance(source, np.ndarray) else decode_audio(str(source), SAMPLE_RATE)
        plan = self.prepare(audio)
        units = self.units(plan)

        def run(unit: Unit) -> list[WindowOutput | None]:
            try:
                return self.run_batch(unit)
            except BaseException as exc:
                plan.fail(exc)  # the other workers must not wait for its language
                raise

        pool = ComputePool(max(1, min(self.resolved.workers, len(units))))
        try:
            for unit, outputs in zip(units, pool.executor.map(run, units), strict=True):
                for (_, i), out in zip(unit, outputs, strict=True):
                    plan.outputs[i] = out
                if on_progress is not None:
                    on_progress(100.0 * plan.done_s / max(plan.duration_s, 1e-9))
        finally:
            pool.close()
        return self.assemble(plan)


def _concat(head: Any, tail: Any) -> Any:
    """Two CPU encoder outputs as one batch."""
    import ctranslate2
    import numpy as np

    return ctranslate2.StorageView.from_array(np.concatenate([np.asarray(head), np.asarray(tail)]))


def _text_tokens(subsegment: dict[str, Any], eot: int) -> list[int]:
    return [t for t in subsegment["tokens"] if t < eot]


def _distinct(plans: Iterator[Plan]) -> list[Plan]:
    seen: dict[int, Plan] = {}
    for plan in plans:
        seen.setdefault(id(plan), plan)
    return list(seen.values())


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - started


class _Aligned:
    """Word alignments already computed, handed to ``add_word_timestamps`` in place of the
    encoder output it would align against (see :func:`_whisper_class`)."""

    def __init__(self, alignments: Sequence[list[dict[str, Any]]]) -> None:
        self.alignments = list(alignments)


@functools.cache
def _whisper_class() -> type[Any]:
    """The ``WhisperModel`` subclass, made on first use (faster-whisper is imported lazily: the
    transcriber starts connecting to NATS and S3 while it imports and loads)."""
    from faster_whisper import WhisperModel

    class Whisper(WhisperModel):
        """``WhisperModel`` whose ``add_word_timestamps`` can take alignments made earlier: the
        alignment runs per batch on the worker that holds the encoder output, the word rules run
        per video in window order (they carry the last speech time from window to window)."""

        # faster-whisper annotates one window's types; it is called with a batch (lists of them)
        def find_alignment(
            self,
            tokenizer: Any,
            text_tokens: Any,
            encoder_output: Any,
            num_frames: Any,
            median_filter_width: int = 7,
        ) -> Any:
            if isinstance(encoder_output, _Aligned):
                return encoder_output.alignments
            return super().find_alignment(
                tokenizer, text_tokens, encoder_output, num_frames, median_filter_width
            )

    return Whisper
