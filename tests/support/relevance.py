"""A small relevance corpus: spoken talks, questions with known answers, and their real transcripts.

Import as ``from tests.support.relevance import ...``.

* :data:`TALKS` holds four scripts written for this project (~35-45 s each when spoken by
  ``tests.support.speech.synthesize``), on clearly different topics, each with distinctive facts: names,
  numbers and years, rare words.
* :data:`QUESTIONS` holds ``(talk, question, answer phrase)``: the phrase is copied from the talk and
  answers the question. Questions mix paraphrases, exact names, numbers and rare words.
* :func:`transcribe_talks` speaks every talk with espeak-ng and transcribes it with the real offline
  Whisper model through :class:`vidsage_transcriber.engine.Engine`, so search tests run on real
  transcripts (with Whisper's spelling and segmentation), not on the scripts.
* :func:`find_phrase` locates an answer phrase in transcribed text, tolerating a small transcription
  difference.

Like ``tests.support.speech.SCRIPTS``, the scripts write numbers as digits (espeak-ng speaks "1911" as
"nineteen eleven", Whisper writes it back as "1911") and use US spelling. Numbers of 1,000 and more
that are not years are avoided: Whisper writes them "2,000", which splits into two words.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from pydantic import TypeAdapter

from tests.support.paths import MODELS
from tests.support.speech import edit_distance, normalise_words, synthesize
from vidsage.contracts.transcript import Segment, normalize_segments, split_long_segments
from vidsage.settings import Settings
from vidsage_transcriber.engine import Engine

TALKS: dict[str, str] = {
    # ~35 s: a person's name, an hour, an age, a rest time, a percentage, a temperature, a rare word.
    "bakery": (
        "Every morning at 4 o'clock, Emma Clarke unlocks the little bakery on Mill Street and feeds her "
        "sourdough starter, which she calls Old Bertha. The starter is 23 years old and smells faintly "
        "of green apples. She mixes the dough with 20 percent rye flour and lets it rest for 11 hours in "
        "a cold cellar. After shaping, each loaf proofs in a cloth lined basket until it wobbles like "
        "jelly. The oven runs at 250 degrees, and a tray of ice cubes on the oven floor fills it with "
        "steam, which gives the crust its crackle."
    ),
    # ~35 s: a keeper's name, years (1896, 1911, 1934), a city, a count of steps, a whale.
    "lighthouse": (
        "Sarah Mitchell kept the lighthouse on the island from 1896 until 1934. Her logbook is now kept "
        "in the maritime museum in Aberdeen. In 1911, a winter storm smashed the lantern glass, and for "
        "9 nights she kept the light burning with oil lamps held by hand. She recorded every passing "
        "ship, and her strangest entry describes a whale that followed the supply boat all the way into "
        "the harbor. Fuel for the lamps came once a month, carried up 117 steps in heavy copper cans."
    ),
    # ~35 s: distances, rider counts, a gradient, a winner's name, a time gap, a puncture.
    "cycling": (
        "The Riverside Classic is a one day bicycle race of 182 kilometers through steep farmland. "
        "This year, 146 riders started and only 97 finished. The decisive moment came on the final "
        "climb, a steep road of 9 kilometers with slopes of 11 percent. There, the young rider Daniel "
        "Wright attacked alone and crossed the line 2 minutes ahead of the chasing group. His average "
        "speed was 41 kilometers per hour, and he won the race on a borrowed bike after a puncture in "
        "the first valley."
    ),
    # ~35 s: hive count, eggs per hour, propolis from poplar buds, pine-needle smoke, a honey harvest.
    "bees": (
        "Our apiary at the edge of the forest holds 12 hives of dark European bees. In high summer, a "
        "healthy queen lays about 60 eggs every hour, all day and all night. The bees seal every crack "
        "in the hive with propolis, a sticky resin they gather from the buds of poplar trees. Before "
        "opening a hive, I puff cool smoke from burning pine needles, which keeps the colony calm. The "
        "honey is harvested at the end of August, roughly 15 kilograms per hive, and it is so thick "
        "that it must be pressed from the comb."
    ),
}

QUESTIONS: list[tuple[str, str, str]] = [
    # bakery
    ("bakery", "How long does the dough rest?", "rest for 11 hours"),
    ("bakery", "Who is Emma Clarke?", "Emma Clarke unlocks the little bakery"),
    ("bakery", "How do they get steam into the oven?", "a tray of ice cubes"),
    # lighthouse
    ("lighthouse", "Who kept the lighthouse?", "Sarah Mitchell kept the lighthouse"),
    ("lighthouse", "What happened in 1911?", "a winter storm smashed the lantern glass"),
    ("lighthouse", "Where can I read the keeper's logbook today?", "maritime museum in Aberdeen"),
    # cycling
    ("cycling", "How many riders completed the race?", "only 97 finished"),
    ("cycling", "Who won the race?", "Daniel Wright attacked alone"),
    ("cycling", "Did the winner have any trouble with his bike?", "after a puncture in the first valley"),
    # bees
    ("bees", "How many eggs does a queen lay?", "60 eggs every hour"),
    ("bees", "What is propolis?", "propolis, a sticky resin"),
    (
        "bees",
        "How does the beekeeper calm the colony before opening a hive?",
        "smoke from burning pine needles",
    ),
]
"""``(talk, question, answer phrase)``; the phrase is an exact substring of ``TALKS[talk]``."""

_cache_lock = threading.Lock()
_cache: dict[Path, dict[str, list[Segment]]] = {}


def transcribe_talks(
    tmp_dir: Path, *, models_dir: Path = MODELS, engine: Engine | None = None
) -> dict[str, list[Segment]]:
    """Speak every talk into ``tmp_dir`` and transcribe it with the real offline Whisper model.

    Uses the transcriber's default settings (``Settings(models_dir=...).transcriber``: batched
    pipeline, VAD, language detection, word timestamps), or ``engine`` when given. Returns the
    segments of each talk, keyed like :data:`TALKS`.

    The result is computed once per process and ``models_dir`` (later calls return copies of the
    same lists, whatever ``tmp_dir``), so several test modules share one transcription.
    """
    key = Path(models_dir).resolve()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None:
            if engine is None:
                settings = Settings(_env_file=None, models_dir=key)
                engine = Engine(settings.transcriber, settings.models_dir)
            cached = {}
            for name, text in TALKS.items():
                wav = synthesize(text, Path(tmp_dir) / f"talk-{name}.wav")
                cached[name] = engine.transcribe(wav).segments
            _cache[key] = cached
        return {name: list(segments) for name, segments in cached.items()}


_SEGMENTS = TypeAdapter(list[Segment])
_VOICE, _WPM = "en-us", 150


def transcripts_key(talks: Mapping[str, str], settings: Settings) -> str:
    """The content hash of what :func:`cached_transcripts` would compute for ``talks``.

    It covers the talks' text, the voice and speed of espeak-ng, the transcriber settings and the
    Whisper model's verified checksums (its ``.verified`` marker), so any change recomputes.
    """
    model_dir = settings.models_dir / "whisper-base"
    try:
        marker = json.loads((model_dir / ".verified").read_text()).get("files")
    except (OSError, ValueError):
        marker = str(model_dir)
    material = {
        "talks": dict(sorted(talks.items())),
        "speech": [_VOICE, _WPM],
        "transcriber": settings.transcriber.model_dump(mode="json"),
        "whisper": marker,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def cached_transcripts(
    talks: Mapping[str, str], cache_dir: Path, *, models_dir: Path = MODELS
) -> tuple[dict[str, list[Segment]], bool]:
    """The stored transcript segments of each talk (as the transcriber worker stores them), and
    whether they came from the cache.

    Each talk is spoken by espeak-ng and transcribed once by the real offline Whisper model with
    the transcriber's default settings; the segments then go through the worker's own
    :func:`~vidsage.contracts.transcript.split_long_segments` and
    :func:`~vidsage.contracts.transcript.normalize_segments`. The result is written to
    ``cache_dir/transcripts-<key>.json`` (``key`` = :func:`transcripts_key`), so a later run with
    the same talks, settings and model reads it back in milliseconds; a change of any of them
    computes (and caches) anew.
    """
    settings = Settings(_env_file=None, models_dir=Path(models_dir).resolve())
    path = Path(cache_dir) / f"transcripts-{transcripts_key(talks, settings)}.json"
    try:
        raw = json.loads(path.read_text())
        cached = {name: _SEGMENTS.validate_python(raw[name]) for name in talks}
    except (OSError, ValueError, KeyError):
        pass
    else:
        return cached, True
    engine = Engine(settings.transcriber, settings.models_dir)
    result: dict[str, list[Segment]] = {}
    with tempfile.TemporaryDirectory(prefix="vidsage-talks-") as tmp:
        for name, text in talks.items():
            wav = synthesize(text, Path(tmp) / f"{name}.wav", voice=_VOICE, speed_wpm=_WPM)
            done = engine.transcribe(wav)
            result[name] = normalize_segments(
                split_long_segments(done.segments, max_duration_s=settings.transcriber.max_segment_s),
                done.duration_s,
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".tmp")
    tmp_path.write_text(
        json.dumps({name: _SEGMENTS.dump_python(segs, mode="json") for name, segs in result.items()})
    )
    os.replace(tmp_path, path)
    return result, False


def find_phrase(phrase: str, words: list[str], *, max_errors: int | None = None) -> tuple[int, int] | None:
    """The ``(start, end)`` word span of ``words`` that best matches ``phrase``, or ``None``.

    Both sides are compared as ``tests.support.speech.normalise_words`` (lower case, punctuation dropped);
    ``words`` must already be normalised. An exact run of the phrase's words wins; otherwise the window
    (of the phrase's length ±1) with the smallest word-level edit distance is taken if that distance is
    at most ``max_errors`` (default: one error per four phrase words, at least one).
    """
    target = normalise_words(phrase)
    n = len(target)
    if n == 0:
        return None
    for i in range(len(words) - n + 1):
        if words[i : i + n] == target:
            return i, i + n
    limit = max(1, n // 4) if max_errors is None else max_errors
    best: tuple[int, int, int] | None = None
    for size in (n - 1, n, n + 1):
        if size < 1:
            continue
        for i in range(len(words) - size + 1):
            distance = edit_distance(target, words[i : i + size])
            if distance <= limit and (best is None or distance < best[0]):
                best = (distance, i, i + size)
    return None if best is None else (best[1], best[2])
