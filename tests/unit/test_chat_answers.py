"""Pure rules of the chat's answers: the offline (extractive) answer, follow-up detection, the
claim a citation marker belongs to, and the support score."""

from __future__ import annotations

import asyncio

import pytest

from vidsage.contracts.chat import Citation
from vidsage.contracts.search import SearchHit
from vidsage.contracts.transcript import Segment
from vidsage_chat.citations import Cited, claim_at, content_words, video_cited
from vidsage_chat.extractive import TRAILER, Transcript, compose
from vidsage_chat.followup import is_follow_up, look_first_in
from vidsage_chat.support import check, overlap, score

TALK = [
    "Bring everything to a boil, then turn the heat down low.",
    "Let the pot simmer gently for 25 minutes with the lid slightly open.",
    "It needs a stir every few minutes.",
    "Serve the soup with toasted bread.",
    "Leftovers keep in the fridge for 4 days.",
]
SEGMENTS = [Segment(id=i, start=i * 5.0, end=i * 5.0 + 4.5, text=" " + t) for i, t in enumerate(TALK)]
TRANSCRIPTS = {"v": Transcript.of(SEGMENTS)}


def hit(i: int, relevance: float, video_id: str = "v") -> SearchHit:
    """A hit whose matching sentence is TALK[i], with its neighbours as context."""
    lo, hi = max(0, i - 1), min(len(TALK), i + 2)
    text = " ".join(TALK[lo:hi])
    start = text.index(TALK[i])
    return SearchHit(
        video_id=video_id,
        filename="soup.mp4",
        start=lo * 5.0,
        end=(hi - 1) * 5.0 + 4.5,
        text=text,
        score=relevance,
        relevance=relevance,
        match_start=i * 5.0,
        match_end=i * 5.0 + 4.5,
        match_chars=(start, start + len(TALK[i])),
        segment_ids=list(range(lo, hi)),
        link="",
    )


def answer(hits: list[SearchHit], **kw: object) -> tuple[str, list[Citation]]:
    extract = compose(hits, TRANSCRIPTS, scope="video", with_title=False, min_relevance=0.3, **kw)  # type: ignore[arg-type]
    return extract.text, extract.citations


def test_the_best_sentence_comes_first_with_its_time_and_a_continuation_joins_it() -> None:
    text, citations = answer([hit(1, 0.7), hit(4, 0.3)])
    # "It needs a stir ..." continues the simmer sentence: both are quoted, as one moment
    assert text == f"{TALK[1]} {TALK[2]} [00:05]\n\n{TRAILER}"
    (citation,) = citations
    assert (citation.start, citation.end) == (5.0, 14.5)
    assert citation.text == f"{TALK[1]} {TALK[2]}"
    assert citation.supported is True


def test_a_single_segment_is_cited_as_it_is_stored() -> None:
    _, (citation,) = answer([hit(3, 0.6)])
    assert (citation.start, citation.end, citation.text) == (15.0, 19.5, " " + TALK[3])


def test_other_moments_only_when_nearly_as_relevant_and_new() -> None:
    text, citations = answer([hit(3, 0.6), hit(4, 0.57)])
    assert [c.start for c in citations] == [15.0, 20.0]
    assert f"\n\nAlso: {TALK[4]} [00:20]" in text
    _, citations = answer([hit(3, 0.6), hit(4, 0.4)])  # much less relevant: left out
    assert [c.start for c in citations] == [15.0]


def test_below_the_threshold_nothing_is_quoted() -> None:
    assert answer([hit(1, 0.2)]) == ("The video does not seem to cover this.", [])
    assert answer([]) == ("The video does not seem to cover this.", [])
    library = compose([], {}, scope="library", with_title=True, min_relevance=0.3)
    assert library.text == "The library does not seem to cover this."


def test_library_answers_name_the_video_in_the_marker() -> None:
    extract = compose([hit(3, 0.6)], TRANSCRIPTS, scope="library", with_title=True, min_relevance=0.3)
    assert extract.text.startswith(f"{TALK[3]} [soup.mp4 00:15]")
    assert extract.citations[0].filename == "soup.mp4"


def test_an_unreadable_transcript_quotes_the_hits_own_sentence() -> None:
    extract = compose([hit(3, 0.6)], {"v": None}, scope="video", with_title=False, min_relevance=0.3)
    assert extract.citations[0].text == TALK[3]
    assert extract.citations[0].start == 15.0


@pytest.mark.parametrize(
    ("question", "follows"),
    [
        ("And how long after that?", True),
        ("How big was his best one?", True),
        ("What about the lid?", True),
        ("How long should the soup simmer?", False),
        ("Where does the community garden get its water from in summer?", False),
    ],
)
def test_follow_ups_are_recognised(question: str, follows: bool) -> None:
    assert is_follow_up(question) is follows
    assert look_first_in(question, "v1") == ("v1" if follows else None)
    assert look_first_in(question, None) is None


def test_a_marker_cites_the_part_of_the_answer_it_closes() -> None:
    text = "Feed it flour and water [00:04], rest it twelve hours [00:09]. Bake it hot. [00:15] Then eat."
    claims = [claim_at(text, text.index(m)) for m in ("[00:04]", "[00:09]", "[00:15]")]
    assert claims == ["Feed it flour and water", "rest it twelve hours", "Bake it hot."]


def test_support_scores_meaning_and_shared_words() -> None:
    assert content_words("It simmers for six minutes") == {"it", "simmer", "6", "minut"} - {"it"}
    assert overlap("It simmers for 25 minutes.", TALK[1]) == 1.0
    assert overlap("Serve it with bread.", TALK[1]) == 0.0
    assert score(None, "It simmers for 25 minutes.", TALK[1]) == 1.0
    assert score(0.8, "Serve it with bread.", TALK[1]) == pytest.approx(0.4)

    cited = video_cited("It simmers for 25 minutes [00:05]. Serve it with bread [00:20].", "v", SEGMENTS)

    async def meaning(pairs: list[tuple[str, str]]) -> list[float]:
        return [0.9 if "simmer" in a else 0.1 for a, _ in pairs]

    async def broken(pairs: list[tuple[str, str]]) -> list[float]:
        raise TimeoutError

    checked, used = asyncio.run(check(cited, meaning, 0.5))
    assert used
    assert [(c.start, c.supported) for c in checked] == [(5.0, True), (20.0, False)]
    assert checked[0].support_score == pytest.approx(0.95)
    lexical, used = asyncio.run(check(cited, broken, 0.5))  # the indexer did not answer
    assert not used
    assert [c.supported for c in lexical] == [True, False]
    assert asyncio.run(check([Cited(checked[0], ("",))], None, 0.5))[0][0].support_score == 0.0
