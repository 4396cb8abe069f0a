"""API keys: ``vsk_<id>_<secret>``.

- ``vsk_``: a recognisable prefix (secret scanners and people can tell a vidsage key at a glance);
- ``<id>``: 12 random base62 characters (71 bits), the key id used to look the key up, list it and
  revoke it; it is not secret;
- ``<secret>``: 43 random base62 characters (256 bits).

A key is stored only as its SHA-256 digest: keys are long random strings, so a fast hash is as
safe as a slow one (nothing to guess), and checking costs microseconds. Compare digests with
:func:`hmac.compare_digest`. Nothing here ever puts a key, or a part of one, into an exception
message: callers may log the messages.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

PREFIX = "vsk_"
ID_CHARS = 12
SECRET_CHARS = 43
ALPHABET = string.ascii_letters + string.digits
KEY_CHARS = len(PREFIX) + ID_CHARS + 1 + SECRET_CHARS
"""Every key is exactly this long (60 characters)."""
_KEY_RE = re.compile(rf"^{PREFIX}([0-9A-Za-z]{{{ID_CHARS}}})_([0-9A-Za-z]{{{SECRET_CHARS}}})$")
_ID_RE = re.compile(rf"^[0-9A-Za-z]{{{ID_CHARS}}}$")


class MalformedKey(ValueError):
    """Not a vidsage key: wrong prefix, length or characters. The message never quotes the key."""


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def generate_key() -> tuple[str, str]:
    """A new random key: ``(key_id, key)``."""
    key_id = _random(ID_CHARS)
    return key_id, f"{PREFIX}{key_id}_{_random(SECRET_CHARS)}"


def parse_key(text: str) -> str:
    """The key id of ``text``; raises :class:`MalformedKey` (saying what is wrong, not what it got)."""
    if len(text) != KEY_CHARS:
        raise MalformedKey(
            f"a vidsage key ({PREFIX}…) is {KEY_CHARS} characters long; this one is {len(text)}"
        )
    if not text.startswith(PREFIX):
        raise MalformedKey(f"a vidsage key starts with {PREFIX!r}")
    match = _KEY_RE.match(text)
    if match is None:
        raise MalformedKey(f"a vidsage key is {PREFIX}<12 letters or digits>_<43 letters or digits>")
    return match.group(1)


def is_key_id(value: str) -> bool:
    """True when ``value`` looks like a key id (12 base62 characters)."""
    return bool(_ID_RE.match(value))


def hash_key(key: str) -> str:
    """The stored form of a key: its SHA-256 digest, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    """True when ``key`` hashes to ``stored_hash`` (constant-time comparison)."""
    return hmac.compare_digest(hash_key(key), stored_hash)
