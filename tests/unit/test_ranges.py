import pytest

from vidsage_gateway.ranges import ByteRange, RangeNotSatisfiable, if_range_matches, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # suffix longer than the file: the whole file
        ("bytes=990-5000", ByteRange(990, 999)),  # end clamped
        ("bytes=999-999", ByteRange(999, 999)),
        ("BYTES = 5 - 9", ByteRange(5, 9)),
    ],
)
def test_single_ranges(header: str, expected: ByteRange) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=", "bytes=-", "items=0-5", "bytes=5-1", "bytes=0-1,5-9", "bytes=a-b", "garbage"],
)
def test_invalid_or_multiple_ranges_are_ignored(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=999999999-", "bytes=-0", "bytes=1000-2000"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, SIZE)


def test_empty_representation_has_no_satisfiable_range() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-", 0)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-1", 0)


def test_content_range_and_length() -> None:
    r = ByteRange(10, 19)
    assert r.length == 10
    assert r.content_range(SIZE) == "bytes 10-19/1000"


def test_if_range() -> None:
    lm = "Tue, 24 Nov 2026 06:00:00 GMT"
    assert if_range_matches(None, '"abc"', lm)
    assert if_range_matches('"abc"', '"abc"', lm)
    assert not if_range_matches('"old"', '"abc"', lm)
    assert not if_range_matches('W/"abc"', '"abc"', lm)  # weak tags never match
    assert if_range_matches(lm, '"abc"', lm)
    assert not if_range_matches("Mon, 23 Nov 2026 06:00:00 GMT", '"abc"', lm)
    assert not if_range_matches("not a date", '"abc"', lm)
    assert not if_range_matches(lm, '"abc"', None)
