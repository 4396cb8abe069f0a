"""HTTP byte ranges (RFC 9110 §14): one range per request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The range lies outside the representation: answer 416 with ``bytes */size``."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range asked for, or None to send the whole representation.

    ``bytes=a-b`` (``b`` clamped to the end), ``bytes=a-`` and ``bytes=-n`` (the last ``n``
    bytes). A header that is not a valid single byte range (other units, several ranges,
    ``b < a``, garbage) is ignored, as RFC 9110 allows. A valid range that selects no byte of the
    representation raises :class:`RangeNotSatisfiable`.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - n, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return ByteRange(start, min(end, size - 1))


def if_range_matches(if_range: str | None, etag: str, last_modified_http: str | None) -> bool:
    """True when the Range should apply: no If-Range, or it names the current representation.

    An entity tag must match strongly (weak tags never match); a date must equal Last-Modified.
    """
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == etag and not value.startswith("W/")
    if not last_modified_http:
        return False
    try:
        return parsedate_to_datetime(value) == parsedate_to_datetime(last_modified_http)
    except (TypeError, ValueError):
        return False
