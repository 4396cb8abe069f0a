"""Failure reasons as clients and event subscribers see them: short, and free of internal
addresses, object keys, file paths and credentials.

A worker's failure reason often is an exception's text: an S3 client error names the endpoint's
host and port and the object's key, an HTTP client error the URL it called. The record's
``error.reason`` (``GET /api/videos/<id>/status``) and the ``video.failed`` event carry
:func:`public_reason` of it; the full text stays in the worker's log line.
"""

from __future__ import annotations

import re
from typing import Final

MAX_REASON_CHARS: Final = 200
"""Longest reason shown (longer ones are cut, with an ellipsis)."""

_REDACTIONS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\bvsk_[A-Za-z0-9_-]+"), "<key>"),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|access[_-]?key|secret[_-]?key|key|secret|token|password|signature)"
            r"(\s*[=:]\s*)['\"]?[^\s'\",)&]+"
        ),
        r"\1\2<redacted>",
    ),
    (re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+"), "<address>"),  # URLs
    (re.compile(r"(?i)\b(host|hostname|endpoint|server)(\s*=\s*)['\"]?[^\s'\",)]+['\"]?"), r"\1\2<address>"),
    (re.compile(r"(?i)\bport(\s*=\s*)\d+"), r"port\1<port>"),
    (re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\](?::\d+)?"), "<address>"),  # [IPv6]:port
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "<address>"),  # IPv4[:port]
    (re.compile(r"\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+:\d{1,5}\b"), "<address>"),  # name.domain:port
    (re.compile(r"\blocalhost(?::\d{1,5})?\b"), "<address>"),
    (re.compile(r"\bvideos/[^\s'\",)]+"), "<object>"),  # object keys
    (re.compile(r"(?<![\w.<])(?:/[\w.@+-]+){2,}/?"), "<path>"),  # absolute file paths
)


def public_reason(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """``reason`` with addresses, object keys, paths and credentials replaced, on one line, at
    most ``limit`` characters."""
    text = " ".join(reason.split())
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or "failed"
