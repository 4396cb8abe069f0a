"""Transcription: where every second goes, vidsage against the raw library with the peer's settings.

``python -m benchmarks transcription [--rounds 3] [--many 3,10] [--skip-clips] [--skip-many]
[--skip-cold] [--compare-with PYTHON]``

Three spoken clips (espeak-ng, muxed into H.264 + AAC MP4 files as a user uploads them): the first 12
sentences of the relevance corpus talks ``soup`` (~58 s) and ``garden`` (~71 s), and the ``long``
script of ``tests.support.speech`` (~114 s). Per clip, the median of ``--rounds`` rounds, the
variants interleaved within each round (their order rotates), all in the same run:

a. the raw library with the peer's settings, as speaches runs faster-whisper (FACTS.md): Silero VAD
   over the whole file first (threshold 0.5, min silence 160 ms, max speech 30 s, pad 400 ms), the
   speech merged into ≤ 30 s windows by the peer's own rule, passed as ``clip_timestamps`` with
   ``vad_filter=False`` to ``BatchedInferencePipeline`` (batch 8, beam 5, temperature 0 only,
   ``without_timestamps=True``, no word timestamps, language detected); one model with as many
   CTranslate2 threads as cores; the clip decoded by faster-whisper (PyAV);
b. the same with word timestamps;
c. vidsage end to end, a whole system started as ``make run`` starts it (``DevSystem``, free ports):
   from the first byte of ``POST /api/videos/upload`` to the record being ``transcribed`` (transcript
   written and the ingest stage done, which runs side by side), broken down from the record's stage
   timestamps and ``stages.*.timings`` (written by the services, not guessed here): upload, queue
   hop, download, audio decode, VAD, features, waiting for a worker, encoder + decoder, word
   alignment, word rules, artifact writes, and the rest (record updates);
d. with ``--compare-with PYTHON``, another vidsage build (the python of its venv, e.g. a checkout of
   an older main after ``make setup``) measured as c, its system started beside c's.

Before the rounds, the cold first job of each: the raw library's first call after its model
loaded, and the first upload of the just started system (ratio to the former). WER of each against
the script. Then N videos submitted at once (``--many``, default 3 and 10,
clips cycled) against the same videos one after another through the same system, and the raw
peer run of them in a row. Then the cold start of the transcriber and the indexer: from process
start to the first job accepted (its stage running on the record), to the model loaded, and for
the transcriber to that first transcript; set against a fresh Python process that loads the raw
library and transcribes the same clip with the peer's settings (what a plain server started for one
request would take). ``--skip-clips --skip-many`` measures only the cold parts.

``python -m benchmarks transcription --device cuda --videos 32 [--model PATH ...]`` measures the
transcriber's engine on a CUDA GPU instead (see :func:`gpu_main`); without CUDA it says so and
exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks._servers import local_servers
from benchmarks.relevance_corpus import sentences
from tests.support.env import service_env
from tests.support.paths import MODELS
from tests.support.speech import SCRIPTS, make_speech_video, speech_wav, synthesize, word_error_rate
from vidsage_dev.ports import free_port
from vidsage_dev.system import DevConfig, DevSystem

SAMPLE_RATE = 16000
PEER_VAD: dict[str, Any] = {
    "threshold": 0.5,
    "min_silence_duration_ms": 160,
    "max_speech_duration_s": 30,
    "speech_pad_ms": 400,
}


# --------------------------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    text: str
    seconds: float


def clip_texts() -> dict[str, str]:
    return {
        "soup": " ".join(sentences("soup")[:12]),
        "garden": " ".join(sentences("garden")[:12]),
        "long": SCRIPTS["long"],
    }


def make_clips(folder: Path) -> list[Clip]:
    import av

    clips = []
    for name, text in clip_texts().items():
        wav = speech_wav("long") if name == "long" else synthesize(text, folder / f"{name}.wav")
        path = make_speech_video(folder / f"{name}.mp4", Path(wav))
        with av.open(str(path)) as container:
            seconds = container.duration / 1_000_000
        clips.append(Clip(name, path, text, seconds))
    return clips


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Run:
    """One transcription: wall seconds, its steps, and the text it produced."""

    seconds: float
    text: str
    steps: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------- a, b: the raw library


def peer_windows(speech: list[dict[str, int]], pad_ms: int = 400, max_s: int = 30) -> list[dict[str, int]]:
    """The peer's rule for merging VAD speech into windows (speaches' ``merge_segments``), written
    out here on its own so that vidsage's :func:`vidsage_transcriber.chunks.merge_speech` is checked
    against it, not against itself."""
    if not speech:
        return []
    segs = [dict(s) for s in speech]
    pad, limit = pad_ms * SAMPLE_RATE // 1000, max_s * SAMPLE_RATE
    merged, start, end = [], segs[0]["start"], 0
    for i, seg in enumerate(segs):
        if i > 0 and seg["start"] < segs[i - 1]["end"]:
            seg["start"] += pad
        if i < len(segs) - 1 and seg["end"] > segs[i + 1]["start"]:
            seg["end"] -= pad
        if seg["end"] - start > limit and end - start > 0:
            merged.append({"start": start, "end": end})
            start = seg["start"]
        end = seg["end"]
    merged.append({"start": start, "end": end})
    return merged


class Raw:
    """faster-whisper on its own, with the peer's settings (one model, every core)."""

    def __init__(self, threads: int) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model = WhisperModel(
            str(MODELS / "whisper-base"), device="cpu", compute_type="int8", cpu_threads=threads
        )
        self.pipeline = BatchedInferencePipeline(self.model)

    def windows(self, path: Path) -> list[dict[str, int]]:
        from faster_whisper import decode_audio
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        return peer_windows(get_speech_timestamps(decode_audio(str(path)), VadOptions(**PEER_VAD)))

    def run(self, path: Path, *, words: bool) -> Run:
        from faster_whisper import decode_audio
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        t0 = time.perf_counter()
        audio = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
        t1 = time.perf_counter()
        windows = peer_windows(get_speech_timestamps(audio, VadOptions(**PEER_VAD)))
        clips = [{"start": w["start"] / SAMPLE_RATE, "end": w["end"] / SAMPLE_RATE} for w in windows]
        t2 = time.perf_counter()
        segments, _info = self.pipeline.transcribe(
            audio,
            vad_filter=False,
            clip_timestamps=clips,
            batch_size=8,
            beam_size=5,
            temperature=0.0,
            without_timestamps=True,
            word_timestamps=words,
        )
        text = " ".join(s.text for s in segments)  # the work happens while iterating
        t3 = time.perf_counter()
        return Run(t3 - t0, text, {"decode": t1 - t0, "vad": t2 - t1, "whisper": t3 - t2})


# ------------------------------------------------------------------------------- c: vidsage end to end


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else float("nan")


class System:
    """A whole vidsage system as ``make run`` starts it, on free ports, state in a temp folder."""

    def __init__(self, state: Path, python: str | None = None, **env: str) -> None:
        self.python = python
        config = DevConfig(
            nats_port=free_port(),
            nats_monitor_port=free_port(),
            s3_port=free_port(),
            gateway_port=free_port(),
            state_dir=state,
            models_dir=MODELS,
            extra_env={"VIDSAGE_LOG_FORMAT": "json", "VIDSAGE_LOG_LEVEL": "warning", **env},
        )
        self.dev = DevSystem(config, sink=io.StringIO())
        self.base = self.dev.gateway_url

    def __enter__(self) -> System:
        # DevSystem starts each service with this interpreter: another build's venv runs that build
        saved = sys.executable
        sys.executable = self.python or saved
        try:
            self.dev.start()
        finally:
            sys.executable = saved
        return self

    def __exit__(self, *_: Any) -> None:
        self.dev.stop()

    def headers(self) -> dict[str, str]:
        """The admin key the runner generated (an older build without API keys ignores it)."""
        key = getattr(self.dev, "admin_key", None)
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def upload(self, session: aiohttp.ClientSession, path: Path) -> tuple[float, float, dict[str, Any]]:
        """POST the file; (wall time of the first byte, seconds until the 201, the record)."""
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("file", path.open("rb"), filename=path.name, content_type="video/mp4")
        t0 = time.time()
        async with session.post(f"{self.base}/api/videos/upload", data=form) as resp:
            body = await resp.json()
            assert resp.status == 201, body
        return t0, time.time() - t0, body

    async def status(self, session: aiohttp.ClientSession, video_id: str) -> dict[str, Any]:
        async with session.get(f"{self.base}/api/videos/{video_id}/status") as resp:
            record: dict[str, Any] = await resp.json()
            return record

    async def wait(
        self, session: aiohttp.ClientSession, video_id: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        for _ in range(12_000):
            record = await self.status(session, video_id)
            assert record["status"] != "failed", record.get("error")
            if done(record):
                return record
            await asyncio.sleep(0.1)  # the times come from the record, not from this polling
        raise AssertionError(f"{video_id} stuck at {record['status']}")

    async def transcript(self, session: aiohttp.ClientSession, video_id: str) -> str:
        """The text of the JSON transcript's segments."""
        async with session.get(f"{self.base}/api/videos/{video_id}/transcript?format=json") as resp:
            body = await resp.json()
        return " ".join(str(s["text"]) for s in body["segments"])

    async def one(self, path: Path) -> Run:
        """Upload, wait for ``transcribed`` (then for ``ready``, so the indexer is idle before the
        next measurement); the stage breakdown from the record."""
        async with aiohttp.ClientSession(headers=self.headers()) as session:
            t0, upload_s, created = await self.upload(session, path)
            record = await self.wait(session, created["id"], _transcribed)
            text = await self.transcript(session, created["id"])
            await self.wait(session, created["id"], lambda r: r["status"] == "ready")
        total, steps = breakdown(t0, upload_s, record)
        return Run(total, text, steps)

    async def many(self, paths: list[Path], *, at_once: bool) -> float:
        """Seconds from the first byte of the first upload until every video is transcribed."""
        async with aiohttp.ClientSession(headers=self.headers()) as session:
            started = time.time()
            if at_once:
                created = await asyncio.gather(*(self.upload(session, p) for p in paths))
                ids = [c[2]["id"] for c in created]
                records = await asyncio.gather(*(self.wait(session, i, _transcribed) for i in ids))
            else:
                ids, records = [], []
                for p in paths:
                    _, _, body = await self.upload(session, p)
                    ids.append(body["id"])
                    records.append(await self.wait(session, body["id"], _transcribed))
            took = max(_done_at(r) for r in records) - started
            for video_id in ids:  # let the indexer finish before the next measurement
                await self.wait(session, video_id, lambda r: r["status"] == "ready")
        return took


_ORDER = ["uploaded", "ingesting", "ingested", "transcribing", "transcribed", "indexing", "ready"]


def _rank(status: str) -> int:
    return _ORDER.index(status)


def _transcribed(record: dict[str, Any]) -> bool:
    return _rank(record["status"]) >= _rank("transcribed")


def _done_at(record: dict[str, Any]) -> float:
    """When the record became ``transcribed``: both the transcript and the ingest stage done."""
    stages = record["stages"]
    return max(_ts(stages["transcribe"]["finished_at"]), _ts(stages["ingest"]["finished_at"]))


STEPS = [
    ("upload", "upload: first byte → 201 (stream to S3, probe, record, event)"),
    ("hop", "queue hop: 201 → transcriber begins (< 0: before the 201 arrived)"),
    ("download", "download the source"),
    ("decode", "audio decode (in memory)"),
    ("vad", "VAD (Silero, whole file)"),
    ("features", "log-mel features"),
    ("queued", "waiting for a worker"),
    ("model", "encoder + decoder (+ language)"),
    ("align", "word alignment"),
    ("words", "word rules, segments"),
    ("write", "artifact writes (JSON, SRT, VTT)"),
    ("rest", "the rest: record updates, event, progress"),
    ("ingest_wait", "waiting for ingest (side by side)"),
    ("ingest", "(ingest stage, started → finished: thumbnail, beside the above)"),
]


def breakdown(t0: float, upload_s: float, record: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Total seconds (first byte → transcribed) and the steps from the record's own figures."""
    stages = record["stages"]
    tr = stages["transcribe"]
    timings = tr.get("timings") or {}
    begun, finished = _ts(tr["started_at"]), _ts(tr["finished_at"])
    total = _done_at(record) - t0
    # the inference wall time, shared by encoder+decoder and alignment in proportion of thread time
    model = timings.get("encode", 0) + timings.get("language", 0) + timings.get("generate", 0)
    align = timings.get("align", 0)
    inference = timings.get("inference", model + align)
    share = model / (model + align) if model + align else 1.0
    steps = {
        "upload": upload_s,
        "hop": begun - t0 - upload_s,
        "download": timings.get("download", 0.0),
        "decode": timings.get("decode", 0.0),
        "vad": timings.get("vad", 0.0),
        "features": timings.get("features", 0.0),
        "queued": timings.get("queued", 0.0),
        "model": inference * share,
        "align": inference * (1 - share),
        "words": timings.get("words", 0.0),
        "write": timings.get("write", 0.0),
    }
    known = sum(v for k, v in steps.items() if k not in ("upload", "hop"))
    steps["rest"] = finished - begun - known
    steps["ingest_wait"] = max(0.0, _done_at(record) - finished)
    ingest = stages["ingest"]
    steps["ingest"] = _ts(ingest["finished_at"]) - _ts(ingest["started_at"])
    return total, steps


# ------------------------------------------------------------------------------------- cold start


def cold_start(service: str, clip: Path, rounds: int) -> dict[str, float]:
    """Median seconds from ``python -m vidsage_<service>`` to its first job accepted, to its model
    loaded (the ``model_loaded`` log line: its own seconds) and, for the transcriber, to that first
    job's transcript; the job is queued before the process starts."""
    results: dict[str, list[float]] = {}
    for _ in range(rounds):
        for key, value in _cold_start_once(service, clip).items():
            results.setdefault(key, []).append(value)
    return {key: median(values) for key, values in results.items()}


def _cold_start_once(service: str, clip: Path) -> dict[str, float]:
    from tests.support.stored_videos import transcribed, uploaded
    from vidsage.bus import CONSUMERS
    from vidsage.contracts.events import EventType
    from vidsage.contracts.transcript import Segment
    from vidsage.runtime import open_runtime

    if EventType.UPLOADED not in CONSUMERS["transcriber"].events and service == "transcriber":
        return {}  # an older vidsage (the transcriber after ingest): measured with its own benchmark

    stage = {"transcriber": "transcribe", "indexer": "index"}[service]
    with local_servers() as settings, tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / f"{service}.log"

        async def queue_a_job() -> tuple[str, str]:
            """The job's video as (owner, id): the catalog is read under its owner."""
            async with open_runtime("gateway", settings, asyncio.Event()) as rt:
                if service == "transcriber":
                    record = await uploaded(rt, clip)
                else:
                    segments = [Segment(id=0, start=0.0, end=4.0, text="A sentence to embed and index.")]
                    record = await transcribed(rt, segments, "talk.mp4")
                return record.owner, record.id

        owner, video_id = asyncio.run(queue_a_job())
        env = service_env(
            settings,
            VIDSAGE_LOG_FORMAT="json",
            VIDSAGE_LOG_LEVEL="info",
            VIDSAGE_STATE_DIR=str(Path(tmp) / "state"),
            HF_HUB_OFFLINE="1",
        )
        with log_path.open("wb") as log:
            t0 = time.time()
            argv = [sys.executable, "-m", f"vidsage_{service}"]
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        try:

            async def watch() -> dict[str, float]:
                async with open_runtime("gateway", settings, asyncio.Event()) as rt:
                    out: dict[str, float] = {}
                    for _ in range(30_000):
                        record = await rt.catalog.get(owner, video_id)
                        assert record is not None
                        state = record.stages[stage]
                        if "accepted" not in out and state.started_at is not None:
                            out["accepted"] = state.started_at.timestamp() - t0
                        if state.state == "done" and state.finished_at is not None:
                            out["done"] = state.finished_at.timestamp() - t0
                            return out
                        assert state.state != "failed", state.error
                        await asyncio.sleep(0.01)
                    raise AssertionError(f"{service}: the job never finished")

            found = asyncio.run(watch())
        finally:
            proc.terminate()
            proc.wait(30)
        for line in log_path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("event") == "model_loaded":
                    found["model_load"] = float(entry["seconds"])
    return found


# the benchmark's own imports (aiohttp, the test support) are not the library's: their time is left out
_RAW_PROCESS = """
import pathlib, sys, time
before = time.time()
from benchmarks.transcription import Raw
t0 = float(sys.argv[2]) + time.time() - before
raw = Raw(int(sys.argv[3]))
loaded = time.time()
raw.run(pathlib.Path(sys.argv[1]), words=False)
print(loaded - t0, time.time() - t0)
"""


def raw_process(clip: Path, rounds: int) -> dict[str, float]:
    """Median seconds from starting a fresh Python process to the raw library's model loaded and
    to its transcript of ``clip`` with the peer's settings: what the transcriber's cold start is
    set against (a plain server started for one request)."""
    loaded, done = [], []
    for _ in range(rounds):
        t0 = time.time()
        argv = [sys.executable, "-c", _RAW_PROCESS, str(clip), repr(t0), str(os.cpu_count() or 1)]
        out = subprocess.run(
            argv, capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
        first, second = out.stdout.split()[-2:]
        loaded.append(float(first))
        done.append(float(second))
    return {"model_load": median(loaded), "done": median(done)}


# --------------------------------------------------------------------------------------- printing


def print_cold_jobs(clip: Clip, cold: dict[str, Run]) -> None:
    """The first job of each: the raw library's first call after its model loaded, the system's
    first upload after it started (services up, models loaded, nothing run yet)."""
    base = cold["a"].seconds
    print(f"\ncold, the first job after start ({clip.name}, {clip.seconds:.0f} s; ratio to a cold):")
    for v, run in cold.items():
        wer = word_error_rate(clip.text, run.text)
        print(f"  {VARIANTS[v]:<36} {run.seconds:6.2f} s {run.seconds / base:5.2f}x {wer * 100:4.1f} %")
    print()


def uptime() -> str:
    load = os.getloadavg()
    return f"load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} ({os.cpu_count()} cores)"


def corpus_wer(clips: list[Clip], texts: dict[str, str]) -> float:
    """Word errors over all clips divided by their words (a corpus WER, not a mean of ratios)."""
    from tests.support.speech import edit_distance, normalise_words

    errors = sum(edit_distance(normalise_words(c.text), normalise_words(texts[c.name])) for c in clips)
    return errors / sum(len(normalise_words(c.text)) for c in clips)


VARIANTS = {
    "a": "raw, peer's settings",
    "b": "raw, + word timestamps",
    "c": "vidsage upload → transcribed",
    "d": "other build, upload → transcribed",
}


def print_table(clips: list[Clip], results: dict[str, dict[str, list[Run]]], rounds: int) -> None:
    names = {v: label for v, label in VARIANTS.items() if results[clips[0].name].get(v)}
    print(f"\nper clip, median of {rounds} rounds (seconds; ratio to a in the same run; WER):")
    header = f"  {'clip':<24}" + "".join(f"{names[v]:>36}" for v in names)
    print(header)
    totals = dict.fromkeys(names, 0.0)
    for clip in clips:
        line = f"  {clip.name + f' ({clip.seconds:.0f} s)':<24}"
        base = median([r.seconds for r in results[clip.name]["a"]])
        for v in names:
            runs = results[clip.name][v]
            sec = median([r.seconds for r in runs])
            totals[v] += sec
            wer = word_error_rate(clip.text, runs[-1].text)
            cell = f"{sec:6.2f} s {sec / base:5.2f}x {wer * 100:4.1f} %"
            line += f"{cell:>36}"
        print(line)
    line = f"  {'all three clips':<24}"
    for v in names:
        wer = corpus_wer(clips, {c.name: results[c.name][v][-1].text for c in clips})
        cell = f"{totals[v]:6.2f} s {totals[v] / totals['a']:5.2f}x {wer * 100:4.1f} %"
        line += f"{cell:>36}"
    print(line)


def print_breakdown(clips: list[Clip], results: dict[str, dict[str, list[Run]]], variant: str = "c") -> None:
    name = VARIANTS[variant].split(",")[0]
    print(f"\n{name}, where the seconds go (median per step; ingest ran beside them, not in the sum):")

    def row(label: str, variant: str, value: Callable[[Run], float]) -> str:
        cells = "".join(f"{median([value(r) for r in results[c.name][variant]]):10.3f}" for c in clips)
        return f"  {label:<62}{cells}"

    print(f"  {'step':<62}" + "".join(f"{c.name:>10}" for c in clips))
    for key, label in STEPS:
        print(row(label, variant, lambda r, key=key: r.steps[key]))  # type: ignore[misc]
    print(row("total", variant, lambda r: r.seconds))
    print("  raw a, for comparison:")
    for key in ("decode", "vad", "whisper"):
        print(row("  " + key, "a", lambda r, key=key: r.steps[key]))  # type: ignore[misc]


# ------------------------------------------------------------------------------------------ main


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks transcription", description=(__doc__ or "").split("\n\n")[0]
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds per measurement (median)")
    p.add_argument("--many", default="3,10", help="N videos at once, comma-separated")
    p.add_argument("--skip-many", action="store_true", help="skip the N-at-once part")
    p.add_argument("--skip-cold", action="store_true", help="skip the cold-start part")
    p.add_argument(
        "--skip-clips", action="store_true", help="skip the per-clip rounds (the cold first jobs still run)"
    )
    p.add_argument(
        "--compare-with",
        metavar="PYTHON",
        help="also measure another vidsage build end to end in the same run (variant d): the python of "
        "its venv (e.g. a checkout of main after `make setup`), whose services it starts",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--videos", type=int, default=32, help="--device cuda: videos in flight at once")
    p.add_argument(
        "--model",
        action="append",
        default=[],
        help="--device cuda: a CTranslate2 model folder (large-v3, turbo...) measured after base",
    )
    p.add_argument("--batch-sizes", default="8,16,32", help="--device cuda: batch sizes to measure")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.device == "cuda":
        return gpu_main(args)
    cores = os.cpu_count() or 1
    print(f"transcription benchmark: Whisper base int8 on {cores} CPU cores; {uptime()} at the start")
    with tempfile.TemporaryDirectory(prefix="vidsage-bench-") as tmp:
        folder = Path(tmp)
        clips = make_clips(folder)
        print("clips:", ", ".join(f"{c.name} {c.seconds:.1f} s, {len(c.text.split())} words" for c in clips))
        raw = Raw(cores)
        cold = {"a": raw.run(clips[0].path, words=False)}  # the first call of a just loaded model
        check_windows(raw, clips)
        results: dict[str, dict[str, list[Run]]] = {c.name: {v: [] for v in VARIANTS} for c in clips}
        with contextlib.ExitStack() as stack:
            systems = {"c": stack.enter_context(System(folder / "state"))}
            if args.compare_with:
                systems["d"] = stack.enter_context(System(folder / "state-other", python=args.compare_with))
            for v, system in systems.items():  # the first job of a just started system
                cold[v] = asyncio.run(system.one(clips[0].path))
            print_cold_jobs(clips[0], cold)
            variants = ["a", "b", *systems]
            for r in range(0 if args.skip_clips else args.rounds):
                for i, clip in enumerate(clips):
                    shift = (r + i) % len(variants)
                    took = []
                    for v in variants[shift:] + variants[:shift]:
                        if v in systems:
                            run = asyncio.run(systems[v].one(clip.path))
                        else:
                            run = raw.run(clip.path, words=v == "b")
                        results[clip.name][v].append(run)
                        took.append(f"{v} {run.seconds:.2f}")
                    print(f"  round {r + 1} {clip.name}: {', '.join(took)} s; {uptime()}", flush=True)
            if not args.skip_clips:
                print_table(clips, results, args.rounds)
                for v in systems:
                    print_breakdown(clips, results, v)
            if not args.skip_many:
                many(systems, raw, clips, [int(n) for n in args.many.split(",")], args.rounds)
        if not args.skip_cold:
            print(f"\ncold start, median of {args.rounds} (process start → ..., seconds):")
            raw_cold = raw_process(clips[0].path, args.rounds)
            print(f"  {'raw a':<12} " + "  ".join(f"{k} {v:.2f}" for k, v in raw_cold.items()))
            for service in ("transcriber", "indexer"):
                found = cold_start(service, clips[0].path, args.rounds)
                line = "  ".join(f"{k} {v:.2f}" for k, v in found.items())
                if service == "transcriber" and "done" in found:
                    line += f"  (done / raw a done {found['done'] / raw_cold['done']:.2f}x)"
                print(f"  {service:<12} {line}")
    print(f"\n{uptime()} at the end")
    return 0


def check_windows(raw: Raw, clips: list[Clip]) -> None:
    """vidsage's windows are the peer's (same VAD, same merge rule), sample for sample."""
    from faster_whisper import decode_audio
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    try:
        from vidsage_transcriber.chunks import Span, merge_speech
    except ImportError:  # an older vidsage, measured for comparison: it cut its own windows
        return
    for clip in clips:
        speech = get_speech_timestamps(decode_audio(str(clip.path)), VadOptions(**PEER_VAD))
        ours = merge_speech(
            [Span(s["start"], s["end"]) for s in speech],
            max_samples=30 * SAMPLE_RATE,
            pad_samples=400 * SAMPLE_RATE // 1000,
            sample_rate=SAMPLE_RATE,
        )
        peer = [(_as_clip(w["start"]), _as_clip(w["end"])) for w in raw.windows(clip.path)]
        assert [(s.start, s.end) for s in ours] == peer, clip.name
        sizes = ", ".join(f"{(e - s) / SAMPLE_RATE:.1f}" for s, e in peer)
        print(f"  {clip.name}: {len(peer)} windows of {sizes} s")


def _as_clip(sample: int) -> int:
    """A window bound after faster-whisper's ``clip_timestamps`` round trip through seconds."""
    return int(sample / SAMPLE_RATE * SAMPLE_RATE)


def many(systems: dict[str, System], raw: Raw, clips: list[Clip], counts: list[int], rounds: int) -> None:
    print(f"\nN videos (clips cycled), median of {rounds}: first upload byte → all transcribed")
    print(f"  {'N':>3} {'audio':>7}  {'variant':<34} {'seconds':>8} {'/ raw a in a row':>17} {'rt':>9}")
    for n in counts:
        paths = [clips[i % len(clips)].path for i in range(n)]
        audio = sum(clips[i % len(clips)].seconds for i in range(n))
        runs: dict[str, list[float]] = {}
        order = [*(f"{v} at once" for v in systems), *(f"{v} one by one" for v in systems), "raw a in a row"]
        for r in range(rounds):
            for what in order[r % len(order) :] + order[: r % len(order)]:
                if what == "raw a in a row":
                    t = time.perf_counter()
                    for p in paths:
                        raw.run(p, words=False)
                    took = time.perf_counter() - t
                else:
                    v, _, how = what.partition(" ")
                    took = asyncio.run(systems[v].many(paths, at_once=how == "at once"))
                runs.setdefault(what, []).append(took)
            done = ", ".join(f"{k} {v[-1]:.1f}" for k, v in runs.items())
            print(f"  N={n} round {r + 1}: {done}", flush=True)
        base = median(runs["raw a in a row"])
        for what in order:
            label = what.replace("c ", "vidsage ", 1).replace("d ", "other build ", 1)
            sec = median(runs[what])
            print(f"  {n:>3} {audio:6.0f}s  {label:<34} {sec:7.1f}s {sec / base:16.2f}x {audio / sec:8.1f}x")


# -------------------------------------------------------------------------------------------- GPU


def gpu_main(args: argparse.Namespace) -> int:
    """The engine alone on a CUDA GPU: ``--videos`` videos in flight at once through one process,
    windows of several videos per batch, for each ``--batch-sizes`` value: real-time factor (audio
    seconds per wall second), peak GPU memory (``nvidia-smi``), and the same videos one by one
    (batching across videos off). For the base model, then each ``--model`` folder."""
    try:
        import ctranslate2

        gpus = ctranslate2.get_cuda_device_count()
    except Exception as exc:  # a CTranslate2 build without CUDA support raises
        gpus, reason = 0, str(exc)
    else:
        reason = "ctranslate2.get_cuda_device_count() is 0"
    if gpus == 0:
        sys.stderr.write(
            f"--device cuda: no CUDA device here ({reason}). This part measures the transcriber on "
            "a GPU (real-time factor and GPU memory with batches across videos); run it on a CUDA "
            "machine with the CUDA 12 / cuDNN 9 libraries CTranslate2 needs (the vidsage-transcriber "
            "image has them).\n"
        )
        return 2
    from vidsage.settings import Settings
    from vidsage_transcriber.batching import Scheduler
    from vidsage_transcriber.engine import Engine

    with tempfile.TemporaryDirectory(prefix="vidsage-bench-") as tmp:
        clips = make_clips(Path(tmp))
        from faster_whisper import decode_audio

        samples = [decode_audio(str(clips[i % len(clips)].path), SAMPLE_RATE) for i in range(args.videos)]
        audio_s = sum(len(s) / SAMPLE_RATE for s in samples)
        print(f"{args.videos} videos, {audio_s:.0f} s of audio, on {gpus} GPU(s)")
        for model in [str(MODELS / "whisper-base"), *args.model]:
            for batch in [int(b) for b in args.batch_sizes.split(",")]:
                for across in (True, False):
                    change = {"model": model, "device": "cuda", "batch_size": batch}
                    change["batch_across_videos"] = across
                    cfg = Settings(_env_file=None, models_dir=MODELS).transcriber.model_copy(update=change)
                    engine = Engine(cfg, MODELS)
                    engine.load()
                    with GpuMemory() as memory:
                        wall, batches = asyncio.run(_gpu_run(engine, samples, Scheduler))
                    how = "across videos" if across else "one by one"
                    extra = memory.peak_mib - memory.baseline_mib
                    print(
                        f"  {Path(model).name:<20} batch {batch:>3} {how:<14} {wall:7.2f} s"
                        f"  {audio_s / wall:7.1f}x real time  {batches:4d} batches"
                        f"  GPU memory peak {memory.peak_mib:7.0f} MiB (+{extra:.0f})"
                    )
                    del engine
    return 0


async def _gpu_run(engine: Any, samples: list[Any], scheduler_cls: Any) -> tuple[float, int]:
    async def run_blocking(fn: Any, *a: Any) -> Any:
        return await asyncio.to_thread(fn, *a)

    plans = [engine.prepare(s) for s in samples]
    async with scheduler_cls(engine, run_blocking) as scheduler:
        t = time.perf_counter()
        await asyncio.gather(*(scheduler.transcribe(p) for p in plans))
        return time.perf_counter() - t, scheduler.batches


class GpuMemory:
    """Peak used GPU memory while the block runs, sampled with ``nvidia-smi`` every 100 ms."""

    def __init__(self) -> None:
        self.baseline_mib = self._used()
        self.peak_mib = self.baseline_mib
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _used() -> float:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            check=True,
        )
        return sum(float(v) for v in re.findall(r"\d+", out.stdout))

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak_mib = max(self.peak_mib, self._used())

    def __enter__(self) -> GpuMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


if __name__ == "__main__":
    raise SystemExit(main())
