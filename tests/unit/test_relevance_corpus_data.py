"""Shape of the relevance benchmark corpus (benchmarks/relevance_corpus.py): data only, no speech."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from benchmarks import relevance_corpus as rc


def test_the_corpus_is_valid() -> None:
    rc.validate()


def test_counts_meet_the_issue() -> None:
    answerable = [q for q in rc.QUESTIONS if q.talk is not None]
    unanswerable = [q for q in rc.QUESTIONS if q.talk is None]
    assert len(rc.TALKS) >= 6
    assert len(answerable) >= 80
    assert len(unanswerable) >= 8
    per_talk = Counter(q.talk for q in answerable)
    assert set(per_talk) == set(rc.TALKS)
    assert min(per_talk.values()) >= 10


def test_split_is_about_40_percent_holdout_in_every_group() -> None:
    assert rc.questions() == rc.QUESTIONS
    tune, holdout = rc.questions("tune"), rc.questions("holdout")
    assert len(tune) + len(holdout) == len(rc.QUESTIONS)
    assert 0.35 <= len(holdout) / len(rc.QUESTIONS) <= 0.45
    for talk in [*rc.TALKS, None]:
        group = [q for q in rc.QUESTIONS if q.talk == talk]
        share = sum(q.split == "holdout" for q in group) / len(group)
        assert 0.3 <= share <= 0.5, (talk, share)
    with pytest.raises(ValueError, match="split must be"):
        rc.questions("test")


def test_answers_are_whole_sentences_of_their_talk() -> None:
    for q in rc.QUESTIONS:
        if q.talk is None:
            assert q.answer is None
        else:
            assert q.answer in rc.sentences(q.talk), q.id
            assert q.answer.endswith(".")
    for name, text in rc.TALKS.items():
        assert " ".join(rc.sentences(name)) == text


def test_validate_reports_a_broken_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    first = rc.QUESTIONS[0]
    broken = [
        dataclasses.replace(first, answer=first.answer.rstrip(".")),  # not a whole sentence
        dataclasses.replace(rc.QUESTIONS[1], id=first.id),  # duplicate id
        *rc.QUESTIONS[2:],
    ]
    monkeypatch.setattr(rc, "QUESTIONS", broken)
    with pytest.raises(ValueError, match="not one whole sentence") as caught:
        rc.validate()
    assert "duplicate id" in str(caught.value)
