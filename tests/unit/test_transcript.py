"""The transcript contract: JSON round trip, normalization and the SRT / VTT / TXT renderers.

The subtitle files are also read back with independent parsers from PyPI (``srt``, ``webvtt-py``).
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import srt
import webvtt

from vidsage.contracts.transcript import (
    CONTENT_TYPES,
    MIN_SEGMENT_MS,
    RENDERERS,
    Segment,
    Transcript,
    TranscriptError,
    Word,
    format_timestamp,
    normalize_segments,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
)

CREATED = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def transcript(segments: list[Segment], duration_s: float = 6.0) -> Transcript:
    return Transcript(
        video_id="vid-1",
        language="en",
        language_probability=0.97,
        duration_s=duration_s,
        model="tiny.en",
        segments=segments,
        created_at=CREATED,
    )


def tricky() -> Transcript:
    """Out of order, overlapping, empty, zero-length and past-the-end segments with awkward text."""
    return transcript(
        [
            Segment(id=7, start=3.0, end=4.5, text=" Tom & Jerry <b>bold</b> "),
            Segment(id=3, start=0.0, end=1.2, text="Hello,\r\n\r\nworld!"),
            Segment(id=5, start=1.0, end=2.5, text="a --> b"),
            Segment(id=9, start=2.0, end=2.2, text="  \n "),
            Segment(id=4, start=4.0, end=4.0, text="Zero length ünïcødé 日本語 🎬"),
            Segment(
                id=8,
                start=5.5,
                end=7.0,
                text="past the end",
                words=[
                    Word(start=5.5, end=5.9, word=" past", probability=0.9),
                    Word(start=5.9, end=6.3, word=" the", probability=0.8),
                    Word(start=6.3, end=7.0, word=" end", probability=0.7),
                ],
            ),
            Segment(id=10, start=6.5, end=8.0, text="entirely past"),
            Segment(id=2, start=-0.5, end=0.4, text="Negative\nstart"),
        ]
    )


# (start, end, text as the viewer should see it) after normalization, in order.
EXPECTED_CUES = [
    (0.0, 0.4, "Negative start"),
    (0.0, 1.2, "Hello, world!"),
    (1.0, 2.5, "a --> b"),
    (3.0, 4.5, "Tom & Jerry <b>bold</b>"),
    (4.0, 4.1, "Zero length ünïcødé 日本語 🎬"),
    (5.5, 6.0, "past the end"),
    (5.9, 6.0, "entirely past"),
]

EXPECTED_SRT = """\
1
00:00:00,000 --> 00:00:00,400
Negative start

2
00:00:00,000 --> 00:00:01,200
Hello, world!

3
00:00:01,000 --> 00:00:02,500
a → b

4
00:00:03,000 --> 00:00:04,500
Tom & Jerry <b>bold</b>

5
00:00:04,000 --> 00:00:04,100
Zero length ünïcødé 日本語 🎬

6
00:00:05,500 --> 00:00:06,000
past the end

7
00:00:05,900 --> 00:00:06,000
entirely past

"""

EXPECTED_VTT = """\
WEBVTT

0
00:00:00.000 --> 00:00:00.400
Negative start

1
00:00:00.000 --> 00:00:01.200
Hello, world!

2
00:00:01.000 --> 00:00:02.500
a --&gt; b

3
00:00:03.000 --> 00:00:04.500
Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt;

4
00:00:04.000 --> 00:00:04.100
Zero length ünïcødé 日本語 🎬

5
00:00:05.500 --> 00:00:06.000
past the end

6
00:00:05.900 --> 00:00:06.000
entirely past

"""

EXPECTED_TXT = """\
[00:00] Negative start
[00:00] Hello, world!
[00:01] a --> b
[00:03] Tom & Jerry <b>bold</b>
[00:04] Zero length ünïcødé 日本語 🎬
[00:05] past the end
[00:05] entirely past
"""


# --- model -----------------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    t = tricky()
    data = t.to_bytes()
    assert isinstance(data, bytes)
    back = Transcript.from_bytes(data)
    assert back == t
    body = json.loads(data.decode("utf-8"))
    assert body["schema_version"] == 1
    assert body["created_at"] == "2024-05-06T07:08:09Z"
    assert body["segments"][4]["text"] == "Zero length ünïcødé 日本語 🎬"
    assert to_json(t) == data.decode("utf-8")
    assert Transcript.from_bytes(t.normalized().to_bytes()) == t.normalized()


def test_unknown_fields_are_ignored_and_scores_default_to_null() -> None:
    body = json.loads(transcript([Segment(id=0, start=0, end=1, text="hi")]).to_bytes())
    body["future_field"] = {"x": 1}
    body["segments"][0]["speaker"] = "A"
    t = Transcript.from_bytes(json.dumps(body).encode())
    assert t.segments[0].avg_logprob is None
    assert t.segments[0].words is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(schema_version=2),
        lambda b: b.pop("video_id"),
        lambda b: b.update(duration_s=-1),
        lambda b: b["segments"][0].update(start="soon"),
    ],
)
def test_from_bytes_rejects_invalid(mutate: Callable[[dict[str, Any]], object]) -> None:
    body = json.loads(transcript([Segment(id=0, start=0, end=1, text="hi")]).to_bytes())
    mutate(body)
    with pytest.raises(TranscriptError):
        Transcript.from_bytes(json.dumps(body).encode())
    with pytest.raises(TranscriptError):
        Transcript.from_bytes(b"{not json")


def test_times_must_be_finite_but_scores_degrade_to_null() -> None:
    with pytest.raises(ValueError, match="finite"):
        Segment(id=0, start=float("nan"), end=1, text="x")
    with pytest.raises(ValueError, match="finite"):
        Word(start=0, end=float("inf"), word="x", probability=None)
    segment = Segment(id=0, start=0, end=1, text="x", avg_logprob=float("-inf"), no_speech_prob=float("nan"))
    assert segment.avg_logprob is None
    assert segment.no_speech_prob is None
    assert Word(start=0, end=1, word="x", probability=float("nan")).probability is None


def test_text_property_joins_with_single_spaces() -> None:
    t = transcript(
        [
            Segment(id=0, start=0, end=1, text=" Hello\n there "),
            Segment(id=1, start=1, end=2, text="   "),
            Segment(id=2, start=2, end=3, text="\tworld  !"),
        ]
    )
    assert t.text == "Hello there world !"
    assert transcript([]).text == ""


# --- normalization ---------------------------------------------------------------------------------


def test_normalize_segments_rules() -> None:
    t = tricky()
    out = normalize_segments(t.segments, t.duration_s)
    assert [(s.start, s.end, s.text) for s in out] == [
        (0.0, 0.4, "Negative\nstart"),
        (0.0, 1.2, "Hello,\r\n\r\nworld!"),
        (1.0, 2.5, "a --> b"),
        (3.0, 4.5, "Tom & Jerry <b>bold</b>"),
        (4.0, 4.0 + MIN_SEGMENT_MS / 1000, "Zero length ünïcødé 日本語 🎬"),
        (5.5, 6.0, "past the end"),
        (6.0 - MIN_SEGMENT_MS / 1000, 6.0, "entirely past"),
    ]
    assert [s.id for s in out] == list(range(7))
    words = out[5].words
    assert words is not None
    assert [(w.start, w.end, w.word) for w in words] == [
        (5.5, 5.9, " past"),
        (5.9, 6.0, " the"),
        (6.0, 6.0, " end"),
    ]
    assert [w.probability for w in words] == [0.9, 0.8, 0.7]
    # Idempotent, and the input is untouched.
    assert normalize_segments(out, t.duration_s) == out
    assert t.segments[0].text == " Tom & Jerry <b>bold</b> "


def test_normalize_rounds_to_milliseconds_and_never_passes_duration() -> None:
    segments = [
        Segment(id=0, start=0.0004, end=0.9996, text="a"),
        Segment(id=1, start=1.0001, end=1.0004, text="b"),  # same millisecond: gets the minimal length
        Segment(id=2, start=1.5, end=2.0009, text="c"),
    ]
    out = normalize_segments(segments, 2.0006)
    assert [(s.start, s.end) for s in out] == [(0.0, 1.0), (1.0, 1.1), (1.5, 2.0)]


def test_normalize_edge_durations() -> None:
    segment = Segment(id=5, start=3.0, end=2.0, text="x")
    assert [(s.start, s.end) for s in normalize_segments([segment], None)] == [(3.0, 3.1)]
    assert [(s.start, s.end) for s in normalize_segments([segment], float("inf"))] == [(3.0, 3.1)]
    assert [(s.start, s.end) for s in normalize_segments([segment], 0.05)] == [(0.0, 0.05)]
    assert [(s.start, s.end) for s in normalize_segments([segment], 0.0)] == [(0.0, 0.0)]
    assert normalize_segments([], 10.0) == []
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="duration"):
            normalize_segments([segment], bad)


def test_normalize_keeps_ties_in_original_order() -> None:
    segments = [Segment(id=i, start=1.0, end=2.0, text=f"t{i}") for i in (4, 2, 9)]
    assert [s.text for s in normalize_segments(segments, 5.0)] == ["t4", "t2", "t9"]


# --- renderers: exact output -----------------------------------------------------------------------


def test_srt_exact() -> None:
    assert to_srt(tricky()) == EXPECTED_SRT


def test_vtt_exact() -> None:
    assert to_vtt(tricky()) == EXPECTED_VTT


def test_txt_exact() -> None:
    assert to_txt(tricky()) == EXPECTED_TXT


def test_empty_transcript() -> None:
    for t in (transcript([]), transcript([Segment(id=0, start=0, end=1, text=" \r\n ")])):
        assert to_srt(t) == ""
        assert to_vtt(t) == "WEBVTT\n\n"
        assert to_txt(t) == ""
        assert list(srt.parse(to_srt(t))) == []
        assert len(webvtt.from_string(to_vtt(t), strict=True)) == 0


def test_txt_switches_to_hours_from_one_hour_on() -> None:
    t = transcript(
        [
            Segment(id=0, start=59.999, end=61, text="a"),
            Segment(id=1, start=3599.9996, end=3601, text="b"),  # rounds to 1:00:00.000
            Segment(id=2, start=3725.5, end=3726, text="c"),
        ],
        duration_s=4000,
    )
    assert to_txt(t) == "[00:59] a\n[01:00:00] b\n[01:02:05] c\n"


def test_no_cue_text_can_break_the_format() -> None:
    nasty = "x\n\n\n1\n00:00:01,000 --> 00:00:02,000\r\ny -->--> z\u2028w\x0b<&>"
    t = transcript([Segment(id=0, start=0, end=1, text=nasty)])
    srt_out, vtt_out = to_srt(t), to_vtt(t)
    assert srt_out.count("-->") == 1
    assert vtt_out.count("-->") == 1
    assert "\n\n" not in srt_out.rstrip("\n")
    assert "\n\n" not in vtt_out.removeprefix("WEBVTT\n\n").rstrip("\n")
    assert [c.content for c in srt.parse(srt_out)] == ["x 1 00:00:01,000 → 00:00:02,000 y →→ z w <&>"]
    captions = webvtt.from_string(vtt_out, strict=True)
    assert [html.unescape(c.text) for c in captions] == ["x 1 00:00:01,000 --> 00:00:02,000 y -->--> z w <&>"]


def test_registry() -> None:
    assert set(RENDERERS) == set(CONTENT_TYPES) == {"json", "srt", "vtt", "txt"}
    t = tricky()
    assert RENDERERS["srt"](t) == EXPECTED_SRT
    assert RENDERERS["vtt"](t) == EXPECTED_VTT
    assert RENDERERS["txt"](t) == EXPECTED_TXT
    assert Transcript.from_bytes(RENDERERS["json"](t).encode()) == t
    assert CONTENT_TYPES["vtt"] == "text/vtt; charset=utf-8"
    assert CONTENT_TYPES["srt"] == "application/x-subrip; charset=utf-8"


# --- renderers: read back by standard parsers --------------------------------------------------------


def test_srt_parses_with_srt_library() -> None:
    out = to_srt(tricky())
    subs = list(srt.parse(out))
    assert [s.index for s in subs] == list(range(1, len(EXPECTED_CUES) + 1))
    assert [(s.start.total_seconds(), s.end.total_seconds()) for s in subs] == [
        (start, end) for start, end, _ in EXPECTED_CUES
    ]
    assert [s.content for s in subs] == [text.replace("-->", "→") for _, _, text in EXPECTED_CUES]
    # The library writes back exactly what we produced: the layout is canonical SRT.
    assert srt.compose(subs, reindex=False) == out


def test_vtt_parses_with_webvtt_py_in_strict_mode() -> None:
    out = to_vtt(tricky())
    captions = webvtt.from_buffer(io.StringIO(out), strict=True)
    assert len(captions) == len(EXPECTED_CUES)
    assert [c.identifier for c in captions] == [str(i) for i in range(len(EXPECTED_CUES))]
    assert [(c.start_time.in_milliseconds(), c.end_time.in_milliseconds()) for c in captions] == [
        (round(start * 1000), round(end * 1000)) for start, end, _ in EXPECTED_CUES
    ]
    # Escaped markup is text, not cue tags: nothing is stripped, and unescaping gives the original.
    assert [c.raw_text for c in captions] == [c.text for c in captions]
    assert [html.unescape(c.text) for c in captions] == [text for _, _, text in EXPECTED_CUES]


def test_parsers_accept_long_timestamps() -> None:
    t = transcript([Segment(id=0, start=359_999.9995, end=360_061.25, text="late")], duration_s=400_000)
    (sub,) = srt.parse(to_srt(t))
    assert (sub.start.total_seconds(), sub.end.total_seconds()) == (360_000.0, 360_061.25)
    (caption,) = webvtt.from_string(to_vtt(t), strict=True)
    assert (caption.start, caption.end) == ("100:00:00.000", "100:01:01.250")


# --- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "00:00:00,000"),
        (0.0, "00:00:00,000"),
        (0.0004, "00:00:00,000"),
        (0.0005, "00:00:00,001"),
        (1.2345, "00:00:01,235"),
        (59.999, "00:00:59,999"),
        (59.9994, "00:00:59,999"),
        (59.9995, "00:01:00,000"),
        (61.5, "00:01:01,500"),
        (3599.9994, "00:59:59,999"),
        (3599.9996, "01:00:00,000"),
        (3600, "01:00:00,000"),
        (3661.001, "01:01:01,001"),
        (86_399.9999, "24:00:00,000"),
        (359_999.999, "99:59:59,999"),
        (360_000, "100:00:00,000"),
        (1e7, "2777:46:40,000"),
    ],
)
def test_format_timestamp(seconds: float, expected: str) -> None:
    assert format_timestamp(seconds) == expected
    assert format_timestamp(seconds, ".") == expected.replace(",", ".")
    seconds_field = int(expected.split(":")[2][:2])
    assert seconds_field < 60


@pytest.mark.parametrize("bad", [-0.001, -1, float("nan"), float("inf"), float("-inf")])
def test_format_timestamp_rejects_negative_and_non_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="time"):
        format_timestamp(bad)


def test_format_timestamp_tiny_negative_rounding_to_zero_is_zero() -> None:
    assert format_timestamp(-0.0) == "00:00:00,000"
    assert format_timestamp(-0.0004) == "00:00:00,000"


def test_long_segments_are_cut_at_sentence_ends_with_word_times() -> None:
    from vidsage.contracts.transcript import Word, split_long_segments

    texts = [" First", " sentence", " here.", " Second", " one,", " longer", " still!", " Tail"]
    words = [Word(start=i * 2.0, end=i * 2.0 + 1.5, word=t, probability=0.9) for i, t in enumerate(texts)]
    seg = Segment(id=0, start=0.0, end=15.5, text="".join(texts), words=words)
    short = Segment(id=1, start=16.0, end=18.0, text=" Short one.", words=None)
    out = split_long_segments([seg, short], max_duration_s=5.0)
    # "Second one, longer" reaches 5.5 s at "longer": cut there (the comma came too early to count)
    texts_out = ["First sentence here.", "Second one, longer", "still!", "Tail", " Short one."]
    assert [s.text for s in out] == texts_out
    assert [(s.start, s.end) for s in out] == [
        (0.0, 5.5),
        (6.0, 11.5),
        (12.0, 13.5),
        (14.0, 15.5),
        (16.0, 18.0),
    ]
    assert [len(s.words or []) for s in out] == [3, 3, 1, 1, 0]
    # short segments and segments without words are left alone
    assert split_long_segments([short], max_duration_s=1.0) == [short]
