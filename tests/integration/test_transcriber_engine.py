"""The transcriber's faster paths give the plain path's transcript, on the spoken fixtures.

The plain path is faster-whisper's own ``BatchedInferencePipeline.transcribe`` (batch 8, beam 5,
temperature 0, no timestamp tokens, word timestamps, language detected) over the same speech windows
passed as ``clip_timestamps``. The engine differs in how it runs, not in what it computes: the
windows shared among one-thread model replicas, the language taken from the first window's encoder
output, the alignment run per batch, windows of several videos in one batch. The text, the words
(times and probabilities) and the segment bounds must come out the same. Real model, real speech;
no timing is asserted (speed lives in ``python -m benchmarks transcription``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from faster_whisper import BatchedInferencePipeline, decode_audio

from tests.support.paths import MODELS
from tests.support.speech import speech_wav
from vidsage.settings import Settings, TranscriberSettings
from vidsage_transcriber.batching import Scheduler
from vidsage_transcriber.engine import Engine, Result

pytestmark = [pytest.mark.needs_espeak, pytest.mark.needs_whisper]

Shape = list[tuple[float, float, str, list[tuple[float, float, str, float]]]]


def shape(result: Result) -> Shape:
    """Segment bounds and text, each word's bounds, text and probability."""
    return [
        (s.start, s.end, s.text, [(w.start, w.end, w.word, w.probability or 0.0) for w in s.words or []])
        for s in result.segments
    ]


def settings(**changes: Any) -> TranscriberSettings:
    return Settings(_env_file=None, models_dir=MODELS).transcriber.model_copy(update=changes)


def engine(**changes: Any) -> Engine:
    e = Engine(settings(**changes), MODELS)
    e.load()
    return e


@pytest.fixture(scope="module")
def default() -> Engine:
    """The default layout on this machine: on CPU one single-thread replica per core."""
    return engine()


@pytest.fixture(scope="module")
def audio() -> dict[str, np.ndarray]:
    return {name: decode_audio(str(speech_wav(name)), 16000) for name in ("short", "names", "long")}


@pytest.fixture(scope="module")
def alone(default: Engine, audio: dict[str, np.ndarray]) -> dict[str, Result]:
    """Each fixture transcribed on its own with the default layout."""
    return {name: default.transcribe(samples) for name, samples in audio.items()}


def plain(e: Engine, samples: np.ndarray) -> tuple[Shape, str]:
    """faster-whisper's batched pipeline over the engine's own windows."""
    plan = e.prepare(samples)
    clips = [{"start": w.offset_s, "end": w.offset_s + w.duration_s} for w in plan.windows]
    segments, info = BatchedInferencePipeline(e._model).transcribe(
        samples,
        vad_filter=False,
        clip_timestamps=clips,
        batch_size=8,
        beam_size=5,
        temperature=0.0,
        without_timestamps=True,
        word_timestamps=True,
    )
    return [
        (s.start, s.end, s.text, [(w.start, w.end, w.word, w.probability) for w in s.words or []])
        for s in segments
    ], info.language


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["names", "long"])
def test_the_engine_gives_the_transcript_of_the_batched_pipeline(
    default: Engine, audio: dict[str, np.ndarray], alone: dict[str, Result], name: str
) -> None:
    expected, language = plain(default, audio[name])
    got = alone[name]
    assert got.language == language == "en"
    assert shape(got) == expected
    assert got.segments, "no speech found"
    assert all(s.words for s in got.segments)


@pytest.mark.timeout(300)
def test_batches_across_videos_give_the_one_by_one_transcripts(
    audio: dict[str, np.ndarray], alone: dict[str, Result]
) -> None:
    """Three videos at once through one two-thread worker that fills batches of 4 windows with any
    video's windows (the GPU layout, here on CPU): each video's transcript is the one it gets
    alone with the default layout, though its windows share batches with the others' and the long
    one's five are split over two batches."""
    batched = engine(workers=1, batch_across_videos=True, batch_size=4)
    assert batched.resolved.across_videos

    async def together() -> tuple[dict[str, Shape], int]:
        async def run_blocking(fn: Any, *args: Any) -> Any:
            return fn(*args)

        async with Scheduler(batched, run_blocking) as scheduler:
            plans = {name: batched.prepare(samples) for name, samples in audio.items()}
            results = await asyncio.gather(*(scheduler.transcribe(plan) for plan in plans.values()))
            return {name: shape(r) for name, r in zip(plans, results, strict=True)}, scheduler.batches

    got, batches = asyncio.run(together())
    assert got == {name: shape(result) for name, result in alone.items()}
    windows = sum(len(batched.prepare(samples).windows) for samples in audio.values())
    assert batches == -(-windows // 4)  # every batch full but the last


def test_the_layout_follows_the_device_and_the_cores() -> None:
    e = Engine(settings(device="cpu"), MODELS)
    cores = e.resolved.workers * e.resolved.cpu_threads
    assert e.resolved.cpu_threads == 1
    assert not e.resolved.across_videos
    wide = Engine(settings(device="cpu", cpu_threads=cores), MODELS).resolved
    assert (wide.workers, wide.cpu_threads) == (1, cores)
    over = Engine(settings(device="cpu", workers=cores, cpu_threads=4), MODELS).resolved
    assert over.workers * over.cpu_threads <= max(cores, over.workers)  # never oversubscribed
    assert Engine(settings(device="cpu", batch_across_videos=True), MODELS).resolved.across_videos


@pytest.mark.timeout(300)
def test_a_failed_batch_fails_only_its_videos_and_their_retry_gives_the_same_transcript(
    audio: dict[str, np.ndarray], alone: dict[str, Result]
) -> None:
    """A batch that dies mid-way (a replica lost, out of memory) fails the videos it held, and only
    them: their remaining windows are dropped, their jobs raise (so the bus redelivers them), the
    other video in flight is transcribed as if nothing happened, and a retry of a failed one gives
    the transcript it gets alone."""
    batched = engine(workers=1, batch_across_videos=True, batch_size=4)
    real_run_batch = batched.run_batch
    calls: list[int] = []

    def run_batch_failing_first(unit: Any) -> Any:
        calls.append(len(unit))
        if len(calls) == 1:
            raise RuntimeError("replica lost")
        return real_run_batch(unit)

    batched.run_batch = run_batch_failing_first  # type: ignore[method-assign]

    async def together() -> tuple[dict[str, BaseException | Shape], Shape]:
        async def run_blocking(fn: Any, *args: Any) -> Any:
            return fn(*args)

        async with Scheduler(batched, run_blocking) as scheduler:
            # "names" (1 window) and "long" (5) share the first batch of 4; "short" comes after
            plans = {name: batched.prepare(audio[name]) for name in ("names", "long", "short")}
            outcomes = await asyncio.gather(
                *(scheduler.transcribe(plan) for plan in plans.values()), return_exceptions=True
            )
            retried = await scheduler.transcribe(batched.prepare(audio["long"]))
        got = {
            n: o if isinstance(o, BaseException) else shape(o) for n, o in zip(plans, outcomes, strict=True)
        }
        return got, shape(retried)

    got, retried = asyncio.run(together())
    assert isinstance(got["names"], RuntimeError)
    assert isinstance(got["long"], RuntimeError)
    assert got["short"] == shape(alone["short"])
    assert retried == shape(alone["long"])
    windows = len(batched.prepare(audio["short"]).windows) + len(batched.prepare(audio["long"]).windows)
    assert sum(calls[1:]) == windows  # nothing of the failed videos ran after their batch failed
