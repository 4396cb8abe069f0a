"""Time-sortable identifiers (UUIDv7, RFC 9562)."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_seq = 0

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, then a 12-bit counter and random bits.

    Ids made in one process are strictly increasing, even within one millisecond, so their
    string forms sort by creation time.
    """
    global _last_ms, _last_seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _last_seq = ms, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:
            _last_seq += 1
            if _last_seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms, _last_seq = _last_ms + 1, 0
        ms, seq = _last_ms, _last_seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)


def new_id() -> str:
    """A new time-sortable id as a lower-case string."""
    return str(uuid7())


def is_valid_id(value: str) -> bool:
    """True when ``value`` is a UUIDv7 string as made by :func:`new_id`."""
    return bool(_UUID_RE.match(value))


def id_timestamp_ms(value: str) -> int:
    """The creation time (Unix ms) encoded in an id."""
    return uuid.UUID(value).int >> 80
