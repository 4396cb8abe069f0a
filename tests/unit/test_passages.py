"""Passages: the ``segments`` mode (consecutive segments grouped up to ``max_words``, exact times and
segment ids, no overlap) and the ``sentences`` mode (one passage per sentence with its neighbours)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from vidsage.contracts.transcript import Segment, Word
from vidsage.sentences import split_sentences
from vidsage_indexer.passages import PassageConfig, PassageDraft, build_passages

SEGMENTS = PassageConfig("segments")


def core(p: PassageDraft) -> PassageDraft:
    """The passage without its sentence spans and embedding texts (checked by the sentence tests)."""
    return PassageDraft(index=p.index, start=p.start, end=p.end, text=p.text, segment_ids=p.segment_ids)


def seg(i: int, start: float, end: float, text: str) -> Segment:
    return Segment(id=i, start=start, end=end, text=text)


def words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{k}" for k in range(n))


def test_empty_input_gives_no_passages() -> None:
    assert build_passages([], SEGMENTS) == []


def test_only_empty_text_segments_give_no_passages() -> None:
    assert build_passages([seg(0, 0, 1, ""), seg(1, 1, 2, "   \n\t ")], SEGMENTS) == []


def test_single_segment_is_one_passage_with_its_exact_times() -> None:
    passages = [core(p) for p in build_passages([seg(7, 1.234, 5.678, "  Hello there, world.  ")], SEGMENTS)]
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
    passages = build_passages(segments, SEGMENTS, max_words=10)

    assert [p.segment_ids for p in passages] == [(0, 1, 2), (3, 4), (5,)]
    assert [p.index for p in passages] == [0, 1, 2]
    assert [(p.start, p.end) for p in passages] == [(0.0, 6.0), (6.1, 9.25), (9.5, 10.0)]
    assert [len(p.text.split()) for p in passages] == [10, 10, 2]
    assert passages[0].text == f"{words(4, 'a')} {words(3, 'b')} {words(3, 'c')}"


def test_every_non_empty_segment_is_in_exactly_one_passage_in_order() -> None:
    segments = [seg(i, i * 2.0, i * 2.0 + 1.5, words(1 + i % 7, f"s{i}_")) for i in range(40)]
    passages = build_passages(segments, SEGMENTS, max_words=12)

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
    passages = build_passages(segments, SEGMENTS, max_words=10)

    assert [p.segment_ids for p in passages] == [(0,), (1,), (2,)]
    assert core(passages[1]) == PassageDraft(index=1, start=1.0, end=9.0, text=long_text, segment_ids=(1,))


def test_a_long_first_segment_is_alone_too() -> None:
    passages = build_passages([seg(0, 0, 5, words(30)), seg(1, 5, 6, "tail")], SEGMENTS, max_words=10)
    assert [p.segment_ids for p in passages] == [(0,), (1,)]


def test_empty_text_segments_are_skipped_and_do_not_break_a_passage() -> None:
    segments = [
        seg(0, 0.0, 1.0, "one two"),
        seg(1, 1.0, 2.0, ""),
        seg(2, 2.0, 3.0, "  "),
        seg(3, 3.0, 4.0, "three four"),
        seg(4, 4.0, 5.0, "\n"),
    ]
    passages = [core(p) for p in build_passages(segments, SEGMENTS, max_words=60)]

    assert passages == [
        PassageDraft(index=0, start=0.0, end=4.0, text="one two three four", segment_ids=(0, 3))
    ]


def test_texts_are_stripped_and_whitespace_collapsed() -> None:
    segments = [seg(0, 0, 1, " Hello,\n  world. "), seg(1, 1, 2, "\tNext   sentence.")]
    assert build_passages(segments, SEGMENTS)[0].text == "Hello, world. Next sentence."


def test_word_count_uses_whitespace_tokens() -> None:
    # Punctuation-only and hyphenated tokens count as one word each.
    segments = [seg(0, 0, 1, "well-known - fact"), seg(1, 1, 2, "again")]
    assert [p.segment_ids for p in build_passages(segments, SEGMENTS, max_words=3)] == [(0,), (1,)]
    assert [p.segment_ids for p in build_passages(segments, SEGMENTS, max_words=4)] == [(0, 1)]


def test_segment_ids_are_taken_from_the_segments_not_positions() -> None:
    segments = [seg(10, 0, 1, "a"), seg(3, 1, 2, "b"), seg(42, 2, 3, "c")]
    assert build_passages(segments, SEGMENTS, max_words=2)[0].segment_ids == (10, 3)


def test_deterministic_and_input_untouched() -> None:
    segments = [seg(i, i * 1.1, i * 1.1 + 1, words(3 + i % 5, f"x{i}_")) for i in range(30)]
    before = [s.model_copy() for s in segments]

    first = build_passages(segments, SEGMENTS, max_words=15)
    second = build_passages(list(segments), SEGMENTS, max_words=15)

    assert first == second
    assert segments == before


def test_passages_are_frozen() -> None:
    passage = build_passages([seg(0, 0, 1, "frozen")], SEGMENTS)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        passage.text = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("max_words", [0, -3])
def test_max_words_below_one_is_rejected(max_words: int) -> None:
    with pytest.raises(ValueError, match="max_words"):
        build_passages([seg(0, 0, 1, "text")], SEGMENTS, max_words=max_words)


# ---- sentences ------------------------------------------------------------------------------------


def worded(i: int, start: float, text: str, step: float = 0.5) -> Segment:
    """A segment with one word every ``step`` seconds, as Whisper's word timestamps give."""
    tokens = text.split()
    words = [
        Word(start=start + k * step, end=start + (k + 1) * step, word=" " + t, probability=0.9)
        for k, t in enumerate(tokens)
    ]
    return Segment(id=i, start=start, end=start + len(tokens) * step, text=" " + text, words=words)


def test_sentences_are_cut_at_full_stops_with_the_times_of_their_words() -> None:
    # one cue with two sentences, then a sentence Whisper split over two cues
    segments = [
        worded(0, 0.0, "The onion goes in first. Cook it for 8 minutes."),
        worded(1, 10.0, "Then add the stock"),
        worded(2, 12.0, "and bring it to a boil."),
    ]
    sentences = split_sentences(segments)
    assert [s.text for s in sentences] == [
        "The onion goes in first.",
        "Cook it for 8 minutes.",
        "Then add the stock and bring it to a boil.",
    ]
    assert [(s.start, s.end) for s in sentences] == [(0.0, 2.5), (2.5, 5.0), (10.0, 15.0)]
    assert [s.segment_ids for s in sentences] == [(0,), (0,), (1, 2)]


def test_fragments_are_mended_and_abbreviations_do_not_end_a_sentence() -> None:
    segments = [
        worded(
            0, 0.0, "Around noon. The train climbed through a tunnel. Rest days matter. because muscles grow."
        )
    ]
    assert [s.text for s in split_sentences(segments)] == [
        "Around noon. The train climbed through a tunnel.",
        "Rest days matter. because muscles grow.",
    ]
    assert [s.text for s in split_sentences([worded(0, 0, "Ask Dr. Smith about the long drive home.")])] == [
        "Ask Dr. Smith about the long drive home."
    ]


def test_segments_without_words_are_split_by_punctuation_and_share_their_time() -> None:
    sentences = split_sentences([seg(0, 0.0, 10.0, "First part is here. Second part is here too.")])
    assert [s.text for s in sentences] == ["First part is here.", "Second part is here too."]
    assert sentences[0].start == 0.0
    assert sentences[-1].end == 10.0
    assert 0 < sentences[0].end == sentences[1].start < 10.0


def test_sentence_passages_focus_on_one_sentence_with_its_neighbours() -> None:
    segments = [worded(i, i * 10.0, f"Sentence number {i} says something.") for i in range(4)]
    passages = build_passages(segments, PassageConfig("sentences", context=1))
    assert len(passages) == 4  # one per sentence
    first, second = passages[0], passages[1]
    assert first.text == "Sentence number 0 says something. Sentence number 1 says something."
    assert second.text.startswith("Sentence number 0")
    assert second.text.endswith("number 2 says something.")
    focus = second.sentences[second.focus or 0]
    assert second.text[focus.char_start : focus.char_end] == "Sentence number 1 says something."
    assert (focus.start, focus.end) == (10.0, 12.5)
    assert (second.start, second.end) == (0.0, 22.5)
    assert second.keyword_text == second.embed_text == "Sentence number 1 says something."
    # every span covers its sentence exactly
    for p in passages:
        assert " ".join(p.text[s.char_start : s.char_end] for s in p.sentences) == p.text


def test_context_is_dropped_to_stay_within_max_words() -> None:
    segments = [worded(i, i * 10.0, f"Sentence number {i} says something.") for i in range(3)]
    (alone, _, _) = build_passages(segments, PassageConfig("sentences", max_words=6, context=2))
    assert alone.text == "Sentence number 0 says something."  # 5 words; a neighbour would make 10


def test_windows_overlap_by_their_stride() -> None:
    segments = [worded(i, i * 10.0, f"Sentence {i} is short.") for i in range(5)]
    passages = build_passages(segments, PassageConfig("windows", window=3, stride=2))
    assert [len(p.sentences) for p in passages] == [3, 3]  # sentences 0-2 and 2-4
    assert passages[1].text.startswith("Sentence 2 ")
    assert all(p.focus is None for p in passages)
