"""The gateway client behind the ``vidsage`` command (``pip install 'vidsage[client]'``).

- :mod:`vidsage.client.api`: an async client of the public API (REST and the chat WebSocket);
- :mod:`vidsage.client.render`: what the command prints (tables, progress bar, stage display);
- :mod:`vidsage.client.commands`: the commands themselves.

This module itself imports nothing outside the standard library, so ``vidsage --help`` works
without the ``client`` extra.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal, get_args

DEFAULT_URL = "http://127.0.0.1:8080"
"""The gateway of ``make run`` / ``vidsage dev``; ``--url`` or ``VIDSAGE_URL`` override it."""

URL_ENV = "VIDSAGE_URL"
TranscriptFormat = Literal["txt", "srt", "vtt", "json"]
TRANSCRIPT_FORMATS: tuple[TranscriptFormat, ...] = get_args(TranscriptFormat)


class Exit(IntEnum):
    """The exit codes of ``vidsage``, the same for every command."""

    OK = 0
    FAILED = 1
    """The gateway refused the request (4xx/5xx other than 404), or a video failed processing."""
    USAGE = 2
    """Bad arguments, or a file that cannot be read."""
    CANNOT_CONNECT = 3
    """No answer from the gateway: connection refused, unknown host, reset, timed out."""
    NOT_FOUND = 4
    """The video does not exist."""
    TIMEOUT = 5
    """``--wait`` gave up before the video was ready or failed."""
    INTERRUPTED = 130
    """Ctrl-C."""


EXIT_CODES_HELP = """exit codes:
  0    success
  1    the gateway refused the request (its message is shown), or a video failed
  2    bad arguments, or a file that cannot be read
  3    cannot connect to the gateway
  4    no such video
  5    --wait gave up (--timeout) before the video was ready
  130  interrupted (Ctrl-C)"""
