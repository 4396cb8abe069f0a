"""``python -m benchmarks openai_audio``: the OpenAI-compatible endpoint against the raw library.

On the same speech clips (espeak-ng WAVs, the ``short`` and ``long`` scripts, about 12 and 115 s):

a. faster-whisper on its own with the peer's settings (speaches: Silero VAD, ≤ 30 s windows as
   ``clip_timestamps``, ``BatchedInferencePipeline`` batch 8, beam 5), in this process, every core:
   no word timestamps; b. the same with word timestamps;
c. ``POST /v1/audio/transcriptions`` through the real ``openai`` client against a whole system
   started as ``make run`` starts it (``response_format=json``): the upload to S3, the job on the
   bus, the transcriber's download, decode, VAD and inference, the reply; d. the same with
   ``verbose_json`` and word timestamps (against b).

Medians of ``--rounds`` (3) rounds, variants interleaved; the ratios are c / a and d / b in the same
rounds, and the word error rate of each against the script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openai

from benchmarks.transcription import Raw, System, uptime
from tests.support.speech import SCRIPTS, speech_wav, wav_duration, word_error_rate

CLIPS = ("short", "long")


def _endpoint(client: openai.OpenAI, path: Path, *, words: bool) -> tuple[float, str]:
    started = time.perf_counter()
    if words:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=path, response_format="verbose_json", timestamp_granularities=["word"]
        )
    else:
        result = client.audio.transcriptions.create(model="whisper-1", file=path)
    return time.perf_counter() - started, result.text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks openai_audio", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(sys.argv[2:] if argv is None else argv)
    cores = os.cpu_count() or 1
    print(f"openai_audio benchmark: Whisper base int8 on {cores} CPU cores; {uptime()} at the start")
    clips = {name: speech_wav(name) for name in CLIPS}
    print("clips:", ", ".join(f"{n} {wav_duration(p):.1f} s" for n, p in clips.items()))
    raw = Raw(cores)
    raw.run(clips["short"], words=False)  # the first call of a just loaded model
    times: dict[str, dict[str, list[float]]] = {n: {v: [] for v in "abcd"} for n in clips}
    texts: dict[str, dict[str, str]] = {n: {} for n in clips}
    with tempfile.TemporaryDirectory(prefix="vidsage-bench-") as tmp, System(Path(tmp) / "state") as system:
        key = system.dev.admin_key
        with openai.OpenAI(base_url=f"{system.base}/v1", api_key=key, max_retries=0, timeout=600) as client:
            _endpoint(client, clips["short"], words=False)  # the system's first job
            for r in range(args.rounds):
                for i, (name, path) in enumerate(clips.items()):
                    order = "abcd"[(r + i) % 4 :] + "abcd"[: (r + i) % 4]
                    took = []
                    for v in order:
                        if v in "ab":
                            run = raw.run(path, words=v == "b")
                            seconds, text = run.seconds, run.text
                        else:
                            seconds, text = _endpoint(client, path, words=v == "d")
                        times[name][v].append(seconds)
                        texts[name][v] = text
                        took.append(f"{v} {seconds:.2f}")
                    print(f"  round {r + 1} {name}: {', '.join(took)} s; {uptime()}", flush=True)
    print(f"\nmedian of {args.rounds} rounds (seconds; ratio to the raw library in the same rounds):")
    head = ("clip", "raw a", "json c", "c/a", "raw b", "words d", "d/b")
    print("  " + " ".join(f"{h:>8}" for h in head) + "  WER a/c/b/d")
    for name in clips:
        t = {v: statistics.median(times[name][v]) for v in "abcd"}
        ca = statistics.median(c / a for c, a in zip(times[name]["c"], times[name]["a"], strict=True))
        db = statistics.median(d / b for d, b in zip(times[name]["d"], times[name]["b"], strict=True))
        wer = "/".join(f"{word_error_rate(SCRIPTS[name], texts[name][v]):.3f}" for v in "acbd")
        cells = (
            f"{t['a']:.2f}",
            f"{t['c']:.2f}",
            f"{ca:.2f}x",
            f"{t['b']:.2f}",
            f"{t['d']:.2f}",
            f"{db:.2f}x",
        )
        print(f"  {name:>8} " + " ".join(f"{c:>8}" for c in cells) + f"  {wer}")
    print(f"\n{uptime()} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
