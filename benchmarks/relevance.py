"""Retrieval quality on spoken talks: ``python -m benchmarks relevance [--sweep] [--model DIR ...]``.

The corpus is :mod:`benchmarks.relevance_corpus`: 7 talks spoken by espeak-ng, 115 answerable
questions (each with the one sentence that answers it) and 14 unanswerable ones, split ``tune`` /
``holdout``. The talks are transcribed once by the real Whisper engine with the transcriber's
defaults and cached under ``.vidsage/cache/relevance/`` keyed by the content hash of the talks,
the transcriber settings and the model (``tests.support.relevance.cached_transcripts``); a
change of any recomputes.

Every configuration is measured through the indexer's own code: ``vidsage_indexer.search.prepare``
(passages → embeddings → keyword vectors), a real Qdrant Edge store (``EdgeStore.upsert``), and
``vidsage_indexer.search.search`` (the function the search service runs) for every question, across
the library (all 7 talks) and within the question's own video.

Rules
-----
* **A hit is correct** when it is of the question's talk and its passage text contains the answer
  sentence: ``tests.support.relevance.find_phrase`` finds the answer's words in the passage's
  words (one word error in four tolerated: Whisper writes "6" as "six").
* **Its match is the right sentence** when the hit's matching sentence (``text[match_chars]``) is the
  answer sentence by the same test, either way round: ``find_phrase`` finds the answer in the
  sentence, or finds the sentence in the answer and the sentence has at least half the answer's
  words (Whisper may cut one spoken sentence in two).
* **top-1**: the first hit is correct; **MRR@5**: mean of 1 / rank of the first correct hit within
  the top 5 (0 when none); **recall@5**: a correct hit within the top 5 (there is one answer
  sentence per question). **sentence@1**: the first hit's match is the right sentence.
* **Unanswerable** questions: *declined* when the first hit's ``relevance`` (cosine similarity)
  is below the chat's threshold ``chat.min_relevance``; answerable questions are reported with how
  many would be wrongly declined.
* **Offline answers**: the chat's extractive answer (``vidsage_chat.extractive.compose``) on the
  library search for each question; *first citation right* when its text is the answer sentence by
  the match rule; unanswerable questions should get no citation.
* **Baselines** over the same passages and store: ``dense only`` (fusion weight 1 on meaning) and
  ``BM25 only`` (weight 1 on keywords; hits without a keyword match are not counted). The first
  design (``segments`` passages of 60 words, RRF k=60) is the "before" row.
* Tune on ``tune`` only; ``holdout`` is reported, never chosen on.

Models: the default (all-MiniLM-L6-v2) and every other one found: all-mpnet-base-v2 when
``python -m vidsage_dev.setup_models --only all-mpnet-base-v2`` has put it under ``.vidsage/models``,
and any ``--model DIR``.

Costs: the words each configuration embeds to index the corpus (its indexing cost for a given
model), and, for each model's first configuration, the embedding throughput when indexing
(passages per second) and the search latency per question through ``search`` on this small index
(p50 / p95, ms; the 10,000-passage latency through the gateway is ``python -m benchmarks search``).
``--sweep`` reuses a model's vectors across its configurations (same model, same texts, same
vectors), so only those first rows are timed. The machine is shared: times are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.relevance_corpus import TALKS, Question, questions
from benchmarks.relevance_followups import FOLLOW_UPS
from tests.support.citation_cases import cases, transcript_segments
from tests.support.paths import MODELS, ROOT
from tests.support.relevance import cached_transcripts, find_phrase
from tests.support.speech import normalise_words
from vidsage.contracts.chat import Citation
from vidsage.contracts.search import SearchHit, SearchRequest
from vidsage.contracts.transcript import Segment
from vidsage.settings import IndexerSettings, Settings
from vidsage_chat.citations import video_cited
from vidsage_chat.extractive import Transcript, compose
from vidsage_chat.followup import look_first_in
from vidsage_chat.support import Similarity, check
from vidsage_indexer.embedder import DEFAULT_MODEL_DIR, Embedder
from vidsage_indexer.passages import PassageConfig, build_passages, passage_config
from vidsage_indexer.search import prepare, search
from vidsage_indexer.search_handler import similarities
from vidsage_indexer.store import EdgeStore, FusionConfig, fusion_config

CACHE = ROOT / ".vidsage" / "cache" / "relevance"
K = 5
OWNER = "bench"


# ---- judging ------------------------------------------------------------------------------------


def contains(text: str, answer: str) -> bool:
    return find_phrase(answer, normalise_words(text)) is not None


def same_sentence(sentence: str, answer: str) -> bool:
    """The match rule of the module docstring."""
    if contains(sentence, answer):
        return True
    words = normalise_words(sentence)
    return (
        len(words) * 2 >= len(normalise_words(answer))
        and find_phrase(sentence, normalise_words(answer)) is not None
    )


def match_text(hit: SearchHit) -> str:
    return hit.text[hit.match_chars[0] : hit.match_chars[1]]


# ---- what is measured ---------------------------------------------------------------------------


@dataclass(frozen=True)
class System:
    """One configuration: model, passages, fusion."""

    name: str
    passages: PassageConfig
    fusion: FusionConfig
    model: str = "all-MiniLM-L6-v2"
    dedupe: bool = True
    keywords_only: bool = False


@dataclass
class Scores:
    n: int = 0
    top1: int = 0
    sentence1: int = 0
    rr: float = 0.0
    recall: int = 0

    def add(self, hits: Sequence[SearchHit], q: Question, video_ids: dict[str, str]) -> None:
        assert q.talk is not None
        assert q.answer is not None
        self.n += 1
        rank = next(
            (
                i
                for i, h in enumerate(hits[:K], start=1)
                if h.video_id == video_ids[q.talk] and contains(h.text, q.answer)
            ),
            None,
        )
        if rank is not None:
            self.rr += 1 / rank
            self.recall += 1
            self.top1 += rank == 1
        if hits and hits[0].video_id == video_ids[q.talk] and same_sentence(match_text(hits[0]), q.answer):
            self.sentence1 += 1

    def row(self) -> str:
        n = self.n or 1
        return f"{self.top1 / n:5.3f} {self.sentence1 / n:5.3f} {self.rr / n:5.3f} {self.recall / n:5.3f}"


@dataclass
class Result:
    system: System
    index_s: float | None
    """Seconds to index the corpus with the model itself (None: the vectors were reused)."""
    passages: int
    words: int
    """Words embedded to index the corpus (the indexing cost, given the model's throughput)."""
    latencies_ms: list[float] = field(default_factory=list)
    library: dict[str, Scores] = field(default_factory=dict)
    video: dict[str, Scores] = field(default_factory=dict)
    top_relevance: dict[str, list[tuple[Question, float, bool]]] = field(default_factory=dict)
    """Per split: (question, first hit's relevance, first hit correct)."""

    def latency(self) -> tuple[float, float] | None:
        if self.index_s is None:
            return None
        cuts = statistics.quantiles(self.latencies_ms, n=20)
        return statistics.median(self.latencies_ms), cuts[18]


class Memo:
    """An embedder that remembers what it embedded: the sweep embeds each text once per model (the
    vectors are the model's own; only the time is saved). ``fresh_words`` counts the words it had
    to embed."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.dim = embedder.dim
        self._memo: dict[str, list[float]] = {}

    def encode(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self.embedder.encode(missing), strict=True))
        return [self._memo[t] for t in texts]

    def encode_query(self, text: str) -> list[float]:
        return self.encode([text])[0]


class Library:
    """The corpus indexed by one model and one passage configuration, in a Qdrant Edge store."""

    def __init__(
        self,
        embedder: Embedder | Memo,
        transcripts: dict[str, list[Segment]],
        config: PassageConfig,
        folder: Path,
    ) -> None:
        self.embedder = embedder
        self.sentences: dict[str, Transcript | None] = {
            f"talk-{talk}": Transcript.of(segments) for talk, segments in transcripts.items()
        }
        self.store = EdgeStore(folder, flush_on_write=False)
        self.store.ensure(embedder.dim)
        self.video_ids = {talk: f"talk-{talk}" for talk in transcripts}
        started = time.perf_counter()
        self.count = self.words = 0
        for talk, segments in transcripts.items():
            passages, dense, sparse = prepare(
                embedder,  # type: ignore[arg-type]  # an Embedder, or the Memo of one
                segments,
                config,
                video_id=self.video_ids[talk],
                owner=OWNER,
                filename=f"{talk}.mp4",
            )
            self.store.upsert(passages, dense, sparse)
            self.count += len(passages)
            self.words += sum(len(d.embed_text.split()) for d in build_passages(segments, config))
        self.index_s = time.perf_counter() - started

    def close(self) -> None:
        self.store.close()

    def ask(
        self, q: str, *, video_id: str | None, fusion: FusionConfig, dedupe: bool, keywords_only: bool
    ) -> list[SearchHit]:
        self.store.fusion = fusion
        hits = search(
            self.embedder,  # type: ignore[arg-type]
            self.store,
            SearchRequest(q=q, video_id=video_id, owner=OWNER, limit=K),
            dedupe=dedupe,
        )
        if keywords_only:
            hits = [h for h in hits if h.score > 0]
        return hits


def evaluate(library: Library, system: System, *, timed: bool) -> Result:
    result = Result(system, library.index_s if timed else None, library.count, library.words)
    for split in ("tune", "holdout"):
        lib, vid = Scores(), Scores()
        relevance: list[tuple[Question, float, bool]] = []
        for q in questions(split):
            started = time.perf_counter()
            hits = library.ask(
                q.question,
                video_id=None,
                fusion=system.fusion,
                dedupe=system.dedupe,
                keywords_only=system.keywords_only,
            )
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            first = hits[0].relevance if hits else 0.0
            if q.talk is None or q.answer is None:
                relevance.append((q, first, False))
                continue
            lib.add(hits, q, library.video_ids)
            correct = (
                bool(hits)
                and hits[0].video_id == library.video_ids[q.talk]
                and contains(hits[0].text, q.answer)
            )
            relevance.append((q, first, correct))
            own = library.ask(
                q.question,
                video_id=library.video_ids[q.talk],
                fusion=system.fusion,
                dedupe=system.dedupe,
                keywords_only=system.keywords_only,
            )
            vid.add(own, q, library.video_ids)
        result.library[split], result.video[split] = lib, vid
        result.top_relevance[split] = relevance
    return result


# ---- configurations -----------------------------------------------------------------------------

BEFORE = System("before: segments<=60w, rrf k=60", PassageConfig("segments", 60), FusionConfig("rrf", 60))


def chosen() -> System:
    """The configuration the settings default to (the system)."""
    settings = Settings(_env_file=None).indexer
    model = settings.model.strip() or DEFAULT_MODEL_DIR
    return System(
        "system (defaults)", passage_config(settings), fusion_config(settings), model=Path(model).name
    )


def baselines(system: System) -> list[System]:
    return [
        dataclasses.replace(system, name="dense only", fusion=FusionConfig("rrf", 60, dense_weight=1.0)),
        dataclasses.replace(
            system, name="BM25 only", fusion=FusionConfig("rrf", 60, dense_weight=0.0), keywords_only=True
        ),
    ]


def sweep(model: str = "all-MiniLM-L6-v2") -> list[System]:
    """Every configuration measured while choosing (on tune), for ``model``."""
    rrf = FusionConfig("rrf", 60)
    focus = PassageConfig("sentences", 90, context=1, embed="focus")
    out: list[System] = []
    for words in (30, 40, 60, 90):
        out.append(System(f"segments<={words}w, rrf k=60", PassageConfig("segments", words), rrf))
    for window, stride in ((2, 1), (3, 1), (3, 2), (4, 2)):
        out.append(
            System(
                f"windows {window}/{stride}, rrf k=60",
                PassageConfig("windows", 90, window=window, stride=stride),
                rrf,
            )
        )
    for context in (0, 1, 2):
        for keywords in ("focus", "passage"):
            out.append(
                System(
                    f"sentences ±{context} embed passage, bm25 {keywords}, rrf",
                    PassageConfig("sentences", 90, context=context, embed="passage", keywords=keywords),  # type: ignore[arg-type]
                    rrf,
                )
            )
    out.append(
        System(
            "sentences ±1, no dedupe, rrf k=60", PassageConfig("sentences", 90, context=1), rrf, dedupe=False
        )
    )
    out.append(System("sentences ±1 embed focus, rrf k=60", focus, rrf))
    out.append(System("sentences ±2 embed focus, rrf k=60", dataclasses.replace(focus, context=2), rrf))
    for k in (2, 10):
        out.append(System(f"sentences ±1 embed focus, rrf k={k}", focus, FusionConfig("rrf", k)))
    for w in (0.7, 0.8, 0.9):
        out.append(
            System(
                f"sentences ±1 embed focus, rrf dense weight {w}",
                focus,
                FusionConfig("rrf", 60, dense_weight=w),
            )
        )
    for w in (0.7, 0.8, 0.9, 0.95):
        for half in (2.0, 4.0, 8.0):
            out.append(
                System(
                    f"sentences ±1 embed focus, score w={w} half={half:g}",
                    focus,
                    FusionConfig("score", dense_weight=w, keyword_half=half),
                )
            )
    out.append(System("sentences ±1 embed focus, dense only", focus, FusionConfig("score", dense_weight=1.0)))
    out = [dataclasses.replace(s, model=model) for s in out]
    if model != "all-MiniLM-L6-v2":  # the slower models: the main choices only
        keep = (
            "segments<=60w",
            "windows 3/1",
            "sentences ±1 embed passage, bm25 focus",
            "sentences ±1 embed focus, rrf k=60",
            "sentences ±1 embed focus, score w=0.8 half=4",
            "sentences ±1 embed focus, score w=0.9 half=4",
            "sentences ±1 embed focus, score w=0.95 half=4",
            "sentences ±1 embed focus, dense only",
        )
        out = [s for s in out if s.name.startswith(keep)]
    return out


# ---- running ------------------------------------------------------------------------------------


def load_embedder(model_dir: Path) -> Embedder:
    embedder = Embedder(IndexerSettings(model=str(model_dir)), MODELS)
    embedder.load()
    return embedder


def run(
    systems: Iterable[System],
    transcripts: dict[str, list[Segment]],
    models: dict[str, Path],
    out: Callable[[str], None],
) -> list[Result]:
    results: list[Result] = []
    by_model: dict[str, list[System]] = {}
    for s in systems:
        by_model.setdefault(s.model, []).append(s)
    for model, group in by_model.items():
        if model not in models:
            out(f"  (model {model} not found: skipped {len(group)} configuration(s))")
            continue
        started = time.perf_counter()
        embedder = load_embedder(models[model])
        out(f"  model {model}: loaded in {time.perf_counter() - started:.1f} s, {embedder.dim} dimensions")
        memo = Memo(embedder)
        libraries: dict[PassageConfig, Library] = {}
        with tempfile.TemporaryDirectory(prefix="vidsage-relevance-") as tmp:
            try:
                for n, s in enumerate(group):
                    # the model's first configuration is timed with the model itself; the others
                    # reuse its vectors (same model, same texts, same vectors) and report no time
                    if s.passages not in libraries or n == 0:
                        libraries[s.passages] = Library(
                            embedder if n == 0 else memo,
                            transcripts,
                            s.passages,
                            Path(tmp) / str(len(libraries)),
                        )
                    result = evaluate(libraries[s.passages], s, timed=n == 0)
                    libraries[s.passages].embedder = memo
                    results.append(result)
                    out(line(result))
            finally:
                for lib in libraries.values():
                    lib.close()
    return results


HEADER = (
    f"  {'configuration':<46} {'model':<17} | library tune: top1  sent1 MRR@5 rec@5 | holdout: top1  sent1 "
    "MRR@5 rec@5 | one video holdout: top1 | passages, words embedded; timed: index passages/s, "
    "search p50/p95 ms"
)


def line(r: Result) -> str:
    times = r.latency()
    return (
        f"  {r.system.name:<46} {r.system.model[:17]:<17} | {r.library['tune'].row()} | "
        f"{r.library['holdout'].row()} | {r.video['holdout'].top1 / max(1, r.video['holdout'].n):5.3f} "
        f"(tune {r.video['tune'].top1 / max(1, r.video['tune'].n):5.3f}) | {r.passages}, {r.words}"
        + (
            ""
            if times is None or r.index_s is None
            else f"; {r.passages / r.index_s:.0f}/s, {times[0]:.1f}/{times[1]:.1f}"
        )
    )


def video_table(results: Sequence[Result], out: Callable[[str], None]) -> None:
    """Each question asked within its own talk's video (the search of a video's page)."""
    columns = "top1  sent1 MRR@5 rec@5"
    out(f"  {'configuration':<46} {'model':<17} | tune: {columns} | holdout: {columns}")
    for r in results:
        name, model = r.system.name, r.system.model[:17]
        out(f"  {name:<46} {model:<17} | {r.video['tune'].row()} | {r.video['holdout'].row()}")


def threshold_report(r: Result, threshold: float, out: Callable[[str], None]) -> None:
    for split in ("tune", "holdout"):
        rows = r.top_relevance[split]
        none = [v for q, v, _ in rows if q.talk is None]
        some = [(v, ok) for q, v, ok in rows if q.talk is not None]
        declined = sum(v < threshold for v in none)
        lost = sum(v < threshold for v, _ in some)
        lost_right = sum(v < threshold and ok for v, ok in some)
        out(
            f"  {split:<8} unanswerable declined {declined}/{len(none)}; "
            f"answerable declined {lost}/{len(some)} "
            f"({lost_right} of them had the right first hit)"
        )


def suggest_threshold(r: Result, out: Callable[[str], None]) -> None:
    """On ``tune`` only: the declines and losses at each candidate threshold."""
    rows = r.top_relevance["tune"]
    none = [v for q, v, _ in rows if q.talk is None]
    some = [(v, ok) for q, v, ok in rows if q.talk is not None]
    cells = []
    for t in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45):
        cells.append(
            f"{t:.2f}: {sum(v < t for v in none)}/{len(none)} declined, "
            f"{sum(v < t and ok for v, ok in some)} right answers lost"
        )
    out("  thresholds on tune: " + "; ".join(cells))


# ---- offline answers, follow-ups, citation support ---------------------------------------------


def offline_answers(
    library: Library, system: System, min_relevance: float, out: Callable[[str], None]
) -> None:
    """How often the extractive answer's first citation is the right sentence, and how often an
    unanswerable question is declined (no citation)."""
    for split in ("tune", "holdout"):
        right = answerable = declined = unanswerable = wrongly_declined = 0
        for q in questions(split):
            hits = library.ask(
                q.question, video_id=None, fusion=system.fusion, dedupe=system.dedupe, keywords_only=False
            )
            extract = compose(
                hits, library.sentences, scope="library", with_title=True, min_relevance=min_relevance
            )
            if q.talk is None or q.answer is None:
                unanswerable += 1
                declined += not extract.citations
                continue
            answerable += 1
            wrongly_declined += not extract.citations
            first = extract.citations[0] if extract.citations else None
            right += (
                first is not None
                and first.video_id == library.video_ids[q.talk]
                and any(same_sentence(part, q.answer) for part in [first.text, *_sentences_of(first.text)])
            )
        out(
            f"  {split:<8} first citation right {right}/{answerable} ({right / answerable:.3f}); "
            f"unanswerable declined {declined}/{unanswerable}; "
            f"answerable declined {wrongly_declined}/{answerable}"
        )


def _sentences_of(text: str) -> list[str]:
    return [p for p in text.replace("? ", ". ").split(". ") if p]


def _offline(
    library: Library, system: System, query: str, video_id: str | None, min_relevance: float
) -> list[Citation]:
    hits = library.ask(
        query, video_id=video_id, fusion=system.fusion, dedupe=system.dedupe, keywords_only=False
    )
    scope = "video" if video_id else "library"
    extract = compose(
        hits, library.sentences, scope=scope, with_title=video_id is None, min_relevance=min_relevance
    )
    return extract.citations


def follow_ups(library: Library, system: System, min_relevance: float, out: Callable[[str], None]) -> None:
    """Follow-up questions answered offline in library chat: looked for first in the video the
    previous answer cited (``vidsage_chat.followup.look_first_in``, then the library when nothing
    there reaches the threshold, as the chat service does), against the whole library alone; and in
    a chat about the talk's own video."""
    in_context = alone = in_video = 0
    for f in FOLLOW_UPS:
        first = _offline(library, system, f.first, None, min_relevance)
        where = look_first_in(f.follow_up, first[0].video_id if first else None)
        got: list[Citation] = []
        if where is not None:
            got = _offline(library, system, f.follow_up, where, min_relevance)
        if not got:
            got = _offline(library, system, f.follow_up, None, min_relevance)
        in_context += _right(got, library.video_ids[f.talk], f.answer)
        alone += _right(
            _offline(library, system, f.follow_up, None, min_relevance), library.video_ids[f.talk], f.answer
        )
        own = _offline(library, system, f.follow_up, library.video_ids[f.talk], min_relevance)
        in_video += _right(own, library.video_ids[f.talk], f.answer)
    n = len(FOLLOW_UPS)
    out(
        f"  library chat: {in_context}/{n} right with the conversation's video first, {alone}/{n} with "
        f"the library alone; a chat about the talk's video: {in_video}/{n}"
    )


def _right(citations: Sequence[Citation], video_id: str, answer: str) -> bool:
    return bool(citations) and citations[0].video_id == video_id and same_sentence(citations[0].text, answer)


def support_check(embedder: Embedder, threshold: float, out: Callable[[str], None]) -> None:
    """Precision and recall of the citation support check on the labelled cases."""

    async def meaning(pairs: list[tuple[str, str]]) -> list[float]:
        return similarities(embedder, pairs)

    def scored(similarity: Similarity | None) -> list[tuple[str, str, bool, float]]:
        rows = []  # (talk, kind, truly supported, score)
        for case in cases():
            answer = f"{case.claim[:-1]} {case.marker}."
            cited = video_cited(answer, "v", transcript_segments(case.talk))
            (checked,), _ = asyncio.run(check(cited, similarity, threshold))
            assert checked.support_score is not None
            rows.append((case.talk, case.kind, case.supported, checked.support_score))
        return rows

    rows = scored(meaning)
    lexical = scored(None)

    def report(label: str, subset: list[tuple[str, str, bool, float]], t: float) -> str:
        flagged = [r for r in subset if r[3] < t]
        truly_bad = [r for r in subset if not r[2]]
        tp = sum(not r[2] for r in flagged)
        precision = tp / len(flagged) if flagged else 1.0
        recall = tp / len(truly_bad) if truly_bad else 1.0
        kept = sum(r[2] and r[3] >= t for r in subset) / max(1, sum(r[2] for r in subset))
        by_kind = ", ".join(
            f"{kind} {sum(r[3] < t for r in subset if r[1] == kind)}/"
            f"{sum(r[1] == kind for r in subset)} flagged"
            for kind in ("correct", "shifted", "invented")
        )
        return (
            f"  {label}: unsupported flagged with precision {precision:.3f}, recall {recall:.3f}; "
            "correct citations "
            f"kept {kept:.3f} ({by_kind})"
        )

    tune = [r for r in rows if r[0] != "museum"]
    held = [r for r in rows if r[0] == "museum"]
    out(report(f"tune (soup, faucet; {len(tune)} cases), threshold {threshold}", tune, threshold))
    out(report(f"holdout (museum; {len(held)} cases), threshold {threshold}", held, threshold))
    out(report("all cases, word overlap only (the indexer unreachable)", lexical, threshold))
    sweep_cells = []
    for t in (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        flagged = [r for r in tune if r[3] < t]
        tp = sum(not r[2] for r in flagged)
        sweep_cells.append(
            f"{t:.2f}: P {tp / max(1, len(flagged)):.2f} R {tp / max(1, sum(not r[2] for r in tune)):.2f}"
        )
    out("  thresholds on tune: " + "; ".join(sweep_cells))
    # the cost in the indexer of one answer's check: 10 citations, 20 texts embedded
    all_cases = cases()
    pairs = [(c.claim, " ".join(s.text for s in transcript_segments(c.talk)[:2])) for c in all_cases[:10]]
    times = []
    for _ in range(20):
        started = time.perf_counter()
        similarities(embedder, pairs)
        times.append((time.perf_counter() - started) * 1000)
    out(f"  similarity of 10 citations in the indexer: median {statistics.median(times):.1f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks relevance", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sweep", action="store_true", help="also every configuration measured while choosing"
    )
    parser.add_argument(
        "--model",
        action="append",
        type=Path,
        default=[],
        help="another sentence-transformers folder to compare",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))

    def out(text: str) -> None:
        print(text, flush=True)  # a long run: each row as soon as it is measured

    settings = Settings(_env_file=None)
    started = time.perf_counter()
    transcripts, cached = cached_transcripts(TALKS, CACHE)
    out(
        f"relevance: {len(TALKS)} talks, {len(questions('tune'))} tune / "
        f"{len(questions('holdout'))} holdout questions; transcripts "
        f"{'from the cache' if cached else 'made by Whisper'} in {time.perf_counter() - started:.1f} s"
    )
    models = {name: MODELS / name for name in (DEFAULT_MODEL_DIR, "all-MiniLM-L6-v2", "all-mpnet-base-v2")}
    for extra in args.model:
        models[extra.name] = extra
    system = chosen()
    systems = [system, *baselines(system), BEFORE]
    for name in models:
        if name != system.model:
            systems.append(dataclasses.replace(system, name=f"system with {name}", model=name))
    main_rows = list(systems)
    if args.sweep:

        def key(s: System) -> tuple[object, ...]:
            return (s.model, s.passages, s.fusion, s.dedupe, s.keywords_only)

        for name in models:
            seen = {key(s) for s in systems}
            systems += [s for s in sweep(name) if key(s) not in seen]
    out(HEADER)
    results = run(systems, transcripts, {k: v for k, v in models.items() if v.is_dir()}, out)
    main_result = results[0]
    out("within one video (the question asked in its talk's own video):")
    video_table([r for r in results if r.system in main_rows], out)
    threshold = settings.chat.min_relevance
    out(f"unanswerable questions, threshold chat.min_relevance = {threshold}:")
    threshold_report(main_result, threshold, out)
    suggest_threshold(main_result, out)
    embedder = load_embedder(models[system.model])
    with tempfile.TemporaryDirectory(prefix="vidsage-relevance-") as tmp:
        library = Library(embedder, transcripts, system.passages, Path(tmp) / "system")
        try:
            out(f"offline (extractive) answers, library chat, threshold {threshold}:")
            offline_answers(library, system, threshold, out)
            out(f"follow-ups ({len(FOLLOW_UPS)} two-turn conversations), offline answers:")
            follow_ups(library, system, threshold, out)
        finally:
            library.close()
    out(f"citation support check (LLM mode), {len(cases())} labelled citations:")
    support_check(embedder, settings.chat.support_threshold, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
