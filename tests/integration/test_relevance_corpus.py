"""The relevance corpus itself, over real speech (espeak-ng) and the real offline Whisper and MiniLM models.

1. Ground truth: every answer phrase of ``tests.support.relevance.QUESTIONS`` is in its talk's script and
   survives transcription (found in the transcript, exactly or within one word error per four), so
   relevance tests built on the corpus measure search, not Whisper.
2. A dense-only baseline: passages from the real transcripts, embedded with :class:`Embedder`, cosine
   top-3 per question over the whole corpus; the passage holding the answer must be in the top 3 for
   at least 75 % of the questions. The numbers (and the misses) are printed; run with ``-s`` to see them.

The talks are transcribed once per process (about 35 s of CPU for ~140 s of speech on 2 cores).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pytest

from tests.support.paths import MODELS
from tests.support.relevance import QUESTIONS, TALKS, find_phrase, transcribe_talks
from tests.support.speech import normalise_words
from vidsage.contracts.transcript import Segment
from vidsage.settings import Settings
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.passages import PassageDraft, build_passages

TOP_K = 3
MIN_HIT_RATE = 0.75

pytestmark = [pytest.mark.needs_espeak, pytest.mark.needs_whisper, pytest.mark.needs_embedder]


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Segment]]:
    started = time.perf_counter()
    result = transcribe_talks(tmp_path_factory.mktemp("talks"))
    print(
        f"\n[relevance] speech + transcription of {len(result)} talks: {time.perf_counter() - started:.1f}s"
    )
    return result


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(_env_file=None, models_dir=MODELS)


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> Embedder:
    e = Embedder(settings.indexer, settings.models_dir)
    print(f"\n[relevance] embedding model loaded in {e.load():.1f}s")
    return e


@dataclass(frozen=True)
class Located:
    """A passage of one talk with the span of the talk's normalised words it covers."""

    talk: str
    passage: PassageDraft
    first_word: int
    end_word: int


def locate(talk: str, passages: list[PassageDraft]) -> tuple[list[Located], list[str]]:
    """Each passage's word span in the talk, and the talk's normalised words (passages in order)."""
    located, words = [], []
    for p in passages:
        tokens = normalise_words(p.text)
        located.append(Located(talk, p, len(words), len(words) + len(tokens)))
        words.extend(tokens)
    return located, words


def transcript_words(segments: list[Segment]) -> list[str]:
    return normalise_words(" ".join(s.text for s in segments))


def test_every_answer_phrase_is_in_its_script() -> None:
    assert len(QUESTIONS) >= 12
    assert set(TALKS) == {talk for talk, _, _ in QUESTIONS}
    for talk, question, answer in QUESTIONS:
        assert answer in TALKS[talk], (talk, question, answer)


def test_every_answer_phrase_survives_transcription(transcripts: dict[str, list[Segment]]) -> None:
    missing, fuzzy = [], []
    for talk, question, answer in QUESTIONS:
        words = transcript_words(transcripts[talk])
        if find_phrase(answer, words, max_errors=0) is not None:
            continue
        span = find_phrase(answer, words)
        if span is None:
            missing.append((talk, question, answer))
        else:
            fuzzy.append((answer, " ".join(words[span[0] : span[1]])))
    for answer, heard in fuzzy:
        print(f"[relevance] answer {answer!r} transcribed as {heard!r}")
    assert not missing, f"answer phrases lost in transcription: {missing}"


def test_talks_are_transcribed_into_ordered_segments(transcripts: dict[str, list[Segment]]) -> None:
    for talk, segments in transcripts.items():
        assert segments, talk
        assert [s.id for s in segments] == list(range(len(segments)))
        assert all(0 <= s.start < s.end for s in segments), talk
        assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(segments)), talk
        assert segments[-1].end <= 60, talk  # each talk lasts ~35 s


def test_dense_only_top3_finds_the_answer_passage(
    transcripts: dict[str, list[Segment]], embedder: Embedder, settings: Settings
) -> None:
    max_words = settings.indexer.passage_max_words
    corpus: list[Located] = []
    spans: dict[tuple[str, str], set[int]] = {}
    for talk, segments in transcripts.items():
        passages = build_passages(segments, max_words=max_words)
        located, words = locate(talk, passages)
        offset = len(corpus)
        corpus.extend(located)
        for q_talk, question, answer in QUESTIONS:
            if q_talk != talk:
                continue
            span = find_phrase(answer, words)
            assert span is not None, f"answer {answer!r} not in the passages of {talk}"
            spans[(talk, question)] = {
                offset + i
                for i, loc in enumerate(located)
                if loc.first_word < span[1] and span[0] < loc.end_word
            }

    started = time.perf_counter()
    passage_vectors = np.asarray(embedder.encode([loc.passage.text for loc in corpus]), dtype=np.float32)
    query_vectors = np.asarray([embedder.encode_query(q) for _, q, _ in QUESTIONS], dtype=np.float32)
    took = time.perf_counter() - started
    assert passage_vectors.shape == (len(corpus), embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(passage_vectors, axis=1), 1.0, atol=1e-4)

    scores = query_vectors @ passage_vectors.T  # cosine: the vectors are unit length
    hits_at_1 = hits_at_k = 0
    reciprocal_ranks: list[float] = []
    misses: list[str] = []
    not_first: list[str] = []
    for row, (talk, question, answer) in enumerate(QUESTIONS):
        ranking = [int(i) for i in np.argsort(-scores[row], kind="stable")]
        relevant = spans[(talk, question)]
        rank = min(ranking.index(i) for i in relevant) + 1
        reciprocal_ranks.append(1 / rank)
        hits_at_1 += rank == 1
        hits_at_k += rank <= TOP_K
        top = ", ".join(f"{corpus[i].talk}#{corpus[i].passage.index}" for i in ranking[:TOP_K])
        line = f"{question!r} ({talk}, answer {answer!r}) at rank {rank}; top {TOP_K}: {top}"
        if rank > TOP_K:
            misses.append(line)
        elif rank > 1:
            not_first.append(line)

    n = len(QUESTIONS)
    sizes = [len(loc.passage.text.split()) for loc in corpus]
    print(
        f"\n[relevance] dense-only over {len(corpus)} passages (max_words={max_words}, "
        f"{min(sizes)}-{max(sizes)} words, mean {np.mean(sizes):.0f}); "
        f"{len(corpus)} passages + {n} queries embedded in {took:.2f}s\n"
        f"[relevance] hit@1 {hits_at_1}/{n} ({hits_at_1 / n:.0%}), hit@{TOP_K} {hits_at_k}/{n} "
        f"({hits_at_k / n:.0%}), MRR {np.mean(reciprocal_ranks):.3f}"
    )
    for line in misses:
        print(f"[relevance] miss: {line}")
    for line in not_first:
        print(f"[relevance] in top {TOP_K}, not first: {line}")
    assert hits_at_k / n >= MIN_HIT_RATE, f"dense-only hit@{TOP_K} {hits_at_k}/{n}; misses: {misses}"
