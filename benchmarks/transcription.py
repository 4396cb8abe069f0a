"""Transcription: vidsage vs raw faster-whisper on the same ~115 s of clear speech, same run.

- raw sequential ``WhisperModel.transcribe`` (beam 5) and raw ``BatchedInferencePipeline``
  (batch 8, beam 5): the library on its own;
- vidsage's engine (the transcriber's defaults: batched, beam 5, word timestamps);
- the whole transcriber path: audio object in S3 → ``vidsage.video.ingested`` on JetStream →
  handler → transcript JSON/SRT/VTT in S3 → record ``transcribed`` (real nats-server and S3).
Word error rate against the known script for each.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from benchmarks._servers import local_servers
from tests.support.paths import MODELS
from tests.support.speech import SCRIPTS, speech_wav, wav_duration, word_error_rate
from tests.support.stored_videos import ingested, wait_status
from vidsage.contracts.record import Status
from vidsage.contracts.transcript import Transcript
from vidsage.runtime import open_runtime, run_worker
from vidsage.settings import Settings


def raw(wav: Path, batched: bool) -> tuple[float, str]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(str(MODELS / "whisper-base"), device="cpu", compute_type="int8", cpu_threads=2)
    started = time.perf_counter()
    if batched:
        segments, _ = BatchedInferencePipeline(model).transcribe(str(wav), batch_size=8, beam_size=5)
    else:
        segments, _ = model.transcribe(str(wav), beam_size=5)
    text = " ".join(s.text for s in segments)
    return time.perf_counter() - started, text


def engine_only(wav: Path) -> tuple[float, str]:
    from vidsage_transcriber.engine import Engine

    engine = Engine(Settings(_env_file=None, models_dir=MODELS).transcriber, MODELS)
    engine.load()
    started = time.perf_counter()
    result = engine.transcribe(wav)
    return time.perf_counter() - started, " ".join(s.text for s in result.segments)


async def through_vidsage(wav: Path) -> tuple[float, str]:
    from vidsage_transcriber.engine import Engine
    from vidsage_transcriber.worker import STAGE, TranscribeHandler

    with local_servers() as settings:
        engine = Engine(settings.transcriber, MODELS)
        engine.load()
        stop = asyncio.Event()
        async with open_runtime("transcriber", settings, stop, worker=settings.transcriber) as rt:
            worker = asyncio.create_task(
                run_worker(rt, STAGE, TranscribeHandler(rt, engine), settings.transcriber)
            )
            started = time.perf_counter()
            record = await ingested(rt, wav, 115)
            done = await wait_status(rt, record, Status.TRANSCRIBED, seconds=300, every_s=0.02)
            took = time.perf_counter() - started
            transcript = Transcript.from_bytes(await rt.storage.get_bytes(done.objects["transcript"]))
            stop.set()
            await worker
        return took, transcript.text


def main() -> int:
    wav = speech_wav("long")
    reference = SCRIPTS["long"]
    rows: list[tuple[str, float, float]] = []
    for name, run in [
        ("raw WhisperModel.transcribe (sequential, beam 5)", lambda: raw(wav, False)),
        ("raw BatchedInferencePipeline (batch 8, beam 5)", lambda: raw(wav, True)),
        ("vidsage engine (batched, beam 5, word timestamps)", lambda: engine_only(wav)),
        ("vidsage transcriber: event -> artifacts -> record", lambda: asyncio.run(through_vidsage(wav))),
    ]:
        seconds, text = run()
        rows.append((name, seconds, word_error_rate(reference, text)))
    audio_s = wav_duration(wav)
    base = rows[1][1]
    print(f"\ntranscription benchmark: {audio_s:.1f} s of speech (espeak-ng), Whisper base int8, 2 threads")
    for name, seconds, wer in rows:
        print(
            f"  {name:<52} {seconds:6.2f} s  {seconds / base:5.2f}x raw batched  "
            f"{audio_s / seconds:5.1f}x real time  WER {wer * 100:5.1f} %"
        )
    print(
        "  reference from the issue (another machine, other audio): OpenAI-compatible "
        "faster-whisper server 7.9 s, WER 7.8 %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
