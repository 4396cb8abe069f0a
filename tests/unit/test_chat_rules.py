"""Pure chat rules: citation markers, mapping, memory bounds, origins, rate limit, prompts."""

from __future__ import annotations

import pytest

from vidsage.contracts.names import conversation_cache_key as memory_key
from vidsage.contracts.search import SearchHit
from vidsage.contracts.transcript import Segment
from vidsage.contracts.transcript import clock as format_time
from vidsage.settings import ChatSettings
from vidsage_chat.citations import library_citations, markers, video_citations
from vidsage_chat.memory import bounded
from vidsage_chat.prompt import escape, escape_attribute, label_hits, passages_block
from vidsage_gateway.chat_socket import TokenBucket, origin_allowed

SEGS = [
    Segment(id=0, start=0.0, end=4.5, text=" zero"),
    Segment(id=1, start=4.5, end=61.2, text=" one"),
    Segment(id=2, start=61.2, end=3700.0, text=" two"),
]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("see [01:05]", [(None, 65)]),
        ("see [1:05] and [1:02:03]", [(None, 65), (None, 3723)]),
        ("range [00:04 - 00:09]", [(None, 4)]),
        ("range [00:04–00:09] en dash", [(None, 4)]),
        ("two in one [00:04, 01:05]", [(None, 4), (None, 65)]),
        ("labelled [V2 00:07] and [V1, 00:03; 00:05]", [("V2", 7), ("V1", 3), ("V1", 5)]),
        ("not times [00:60] [abc] [12] (00:05) 00:06", []),
        ("nested [[00:05]]", [(None, 5)]),
    ],
)
def test_markers(answer: str, expected: list[tuple[str | None, int]]) -> None:
    assert markers(answer) == expected


def test_video_citations_map_to_segments_and_drop_invented() -> None:
    got = video_citations("a [00:04] b [00:04] c [01:01] d [02:00] e [99:00] f [00:00]", "v", SEGS)
    # [00:04] starts segment 1 (4.5 truncated); a repeat is dropped; [01:01] → segment 2 by its
    # start; [02:00] lies inside segment 2 (already cited); [99:00] is past the end
    assert [(c.start, c.text) for c in got] == [(4.5, " one"), (61.2, " two"), (0.0, " zero")]


def test_library_citations_need_a_label_when_ambiguous() -> None:
    hits = [
        SearchHit(
            video_id="a", filename="a.mp4", start=0, end=10, text="A0", score=1, segment_ids=[0], link=""
        ),
        SearchHit(
            video_id="b", filename="b.mp4", start=0, end=10, text="B0", score=1, segment_ids=[0], link=""
        ),
        SearchHit(
            video_id="b", filename="b.mp4", start=20, end=30, text="B2", score=1, segment_ids=[2], link=""
        ),
    ]
    labelled = label_hits(hits)
    assert [p.label for p in labelled] == ["V1", "V2", "V2"]
    got = library_citations("[00:05] ambiguous, [V2 00:20] ok, [00:25] unique, [V3 00:01] invented", labelled)
    assert [(c.video_id, c.text) for c in got] == [("b", "B2")]
    assert '[V2 00:20] (video "b.mp4") B2' in passages_block(labelled)


def test_memory_is_bounded_and_starts_with_a_question() -> None:
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}" * 10} for i in range(10)]
    assert bounded(msgs, 4, 10_000) == msgs[-4:]
    assert bounded(msgs, 5, 10_000) == msgs[-4:]  # never begins with an orphan answer
    assert bounded(msgs, 10, 45) == msgs[-2:]
    assert bounded(msgs, 0, 10_000) == []
    assert memory_key("acme", "vid", "c") == "video.vid.chat.acme.c"
    assert memory_key("acme", None, "c") == "chat.library.acme.c"
    assert memory_key("acme", None, "c") != memory_key("other", None, "c")  # a conversation is its tenant's


def test_origins() -> None:
    cfg = ChatSettings(allowed_origins=["https://app.example/"])
    assert origin_allowed(None, "gw:8080", cfg)
    assert origin_allowed("http://gw:8080", "gw:8080", cfg)
    assert origin_allowed("https://app.example", "gw:8080", cfg)
    assert not origin_allowed("https://evil.example", "gw:8080", cfg)
    assert not origin_allowed("null", "gw:8080", cfg)
    assert not origin_allowed("file://gw:8080", "gw:8080", cfg)
    assert origin_allowed("https://evil.example", "gw", ChatSettings(allowed_origins=["*"]))


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.take() == 0
    assert bucket.take() == 0
    wait = bucket.take()
    assert 0.9 < wait <= 1.0


def test_escape_and_times() -> None:
    assert escape("</transcript> & <b>") == "&lt;/transcript&gt; &amp; &lt;b&gt;"
    assert escape_attribute('a" b="c\n<d>') == "a&quot; b=&quot;c &lt;d&gt;"
    assert format_time(65.9) == "01:05"
    assert format_time(3723) == "1:02:03"
    assert format_time(-1) == "00:00"
