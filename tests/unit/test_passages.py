"""Passages: consecutive segments grouped up to ``max_words``, exact times and segment ids, no overlap."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from vidsage.contracts.transcript import Segment
from vidsage_indexer.passages import PassageDraft, build_passages


def seg(i: int, start: float, end: float, text: str) -> Segment:
    return Segment(id=i, start=start, end=end, text=text)


def words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{k}" for k in range(n))


def test_empty_input_gives_no_passages() -> None:
    assert build_passages([]) == []


def test_only_empty_text_segments_give_no_passages() -> None:
    assert build_passages([seg(0, 0, 1, ""), seg(1, 1, 2, "   \n\t ")]) == []


def test_single_segment_is_one_passage_with_its_exact_times() -> None:
    passages = build_passages([seg(7, 1.234, 5.678, "  Hello there, world.  ")])
    assert passages == [
        PassageDraft(index=0, start=1.234, end=5.678, text="Hello there, world.", segment_ids=(7,))
    ]


def test_segments_join_while_the_passage_stays_within_max_words() -> None:
    segments = [
        seg(0, 0.0, 2.0, words(4, "a")),
        seg(1, 2.0, 4.5, words(3, "b")),
        seg(2, 4.5, 6.0, words(3, "c")),  # 4 + 3 + 3 = 10 == max_words: still the first passage
        seg(3, 6.1, 8.0, words(1, "d")),  # 11 > 10: starts the second passage
        seg(4, 8.0, 9.25, words(9, "e")),  # 1 + 9 = 10
        seg(5, 9.5, 10.0, words(2, "f")),
    ]
    passages = build_passages(segments, max_words=10)

    assert [p.segment_ids for p in passages] == [(0, 1, 2), (3, 4), (5,)]
    assert [p.index for p in passages] == [0, 1, 2]
    assert [(p.start, p.end) for p in passages] == [(0.0, 6.0), (6.1, 9.25), (9.5, 10.0)]
    assert [len(p.text.split()) for p in passages] == [10, 10, 2]
    assert passages[0].text == f"{words(4, 'a')} {words(3, 'b')} {words(3, 'c')}"


def test_every_non_empty_segment_is_in_exactly_one_passage_in_order() -> None:
    segments = [seg(i, i * 2.0, i * 2.0 + 1.5, words(1 + i % 7, f"s{i}_")) for i in range(40)]
    passages = build_passages(segments, max_words=12)

    ids = [i for p in passages for i in p.segment_ids]
    assert ids == list(range(40))  # no overlap, nothing lost, order kept
    by_id = {s.id: s for s in segments}
    for p in passages:
        assert p.start == by_id[p.segment_ids[0]].start
        assert p.end == by_id[p.segment_ids[-1]].end
        assert p.text == " ".join(by_id[i].text for i in p.segment_ids)
        assert len(p.text.split()) <= 12
    # Greedy: a passage is only closed when the next segment would not fit.
    for current, following in itertools.pairwise(passages):
        first_next = by_id[following.segment_ids[0]]
        assert len(current.text.split()) + len(first_next.text.split()) > 12


def test_a_segment_longer_than_max_words_is_its_own_passage_and_never_split() -> None:
    long_text = words(25, "long")
    segments = [
        seg(0, 0.0, 1.0, "short start"),
        seg(1, 1.0, 9.0, long_text),
        seg(2, 9.0, 10.0, "short end"),
    ]
    passages = build_passages(segments, max_words=10)

    assert [p.segment_ids for p in passages] == [(0,), (1,), (2,)]
    assert passages[1] == PassageDraft(index=1, start=1.0, end=9.0, text=long_text, segment_ids=(1,))


def test_a_long_first_segment_is_alone_too() -> None:
    passages = build_passages([seg(0, 0, 5, words(30)), seg(1, 5, 6, "tail")], max_words=10)
    assert [p.segment_ids for p in passages] == [(0,), (1,)]


def test_empty_text_segments_are_skipped_and_do_not_break_a_passage() -> None:
    segments = [
        seg(0, 0.0, 1.0, "one two"),
        seg(1, 1.0, 2.0, ""),
        seg(2, 2.0, 3.0, "  "),
        seg(3, 3.0, 4.0, "three four"),
        seg(4, 4.0, 5.0, "\n"),
    ]
    passages = build_passages(segments, max_words=60)

    assert passages == [
        PassageDraft(index=0, start=0.0, end=4.0, text="one two three four", segment_ids=(0, 3))
    ]


def test_texts_are_stripped_and_whitespace_collapsed() -> None:
    segments = [seg(0, 0, 1, " Hello,\n  world. "), seg(1, 1, 2, "\tNext   sentence.")]
    assert build_passages(segments)[0].text == "Hello, world. Next sentence."


def test_word_count_uses_whitespace_tokens() -> None:
    # Punctuation-only and hyphenated tokens count as one word each.
    segments = [seg(0, 0, 1, "well-known - fact"), seg(1, 1, 2, "again")]
    assert [p.segment_ids for p in build_passages(segments, max_words=3)] == [(0,), (1,)]
    assert [p.segment_ids for p in build_passages(segments, max_words=4)] == [(0, 1)]


def test_segment_ids_are_taken_from_the_segments_not_positions() -> None:
    segments = [seg(10, 0, 1, "a"), seg(3, 1, 2, "b"), seg(42, 2, 3, "c")]
    assert build_passages(segments, max_words=2)[0].segment_ids == (10, 3)


def test_deterministic_and_input_untouched() -> None:
    segments = [seg(i, i * 1.1, i * 1.1 + 1, words(3 + i % 5, f"x{i}_")) for i in range(30)]
    before = [s.model_copy() for s in segments]

    first = build_passages(segments, max_words=15)
    second = build_passages(list(segments), max_words=15)

    assert first == second
    assert segments == before


def test_passages_are_frozen() -> None:
    passage = build_passages([seg(0, 0, 1, "frozen")])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        passage.text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("max_words", [0, -3])
def test_max_words_below_one_is_rejected(max_words: int) -> None:
    with pytest.raises(ValueError, match="max_words"):
        build_passages([seg(0, 0, 1, "text")], max_words=max_words)
