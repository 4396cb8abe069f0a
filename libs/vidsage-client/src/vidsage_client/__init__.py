"""A client of vidsage's public API and the ``vidsage`` command (``pip install vidsage-client``).

::

    from vidsage_client import Client

    async with Client("http://127.0.0.1:8080") as client:
        record = await client.upload(Path("talk.mp4"))
        done = await client.wait(record["id"])

- :mod:`vidsage_client.client`: :class:`Client`, an async client of the gateway (REST and the chat
  WebSocket) on aiohttp, and its errors;
- :mod:`vidsage_client.render`: what the command prints (tables, progress bar, stage display);
- :mod:`vidsage_client.commands`: the commands themselves;
- :mod:`vidsage_client.webhooks`: checking the signature of a webhook delivery (``verify_signature``);
- :mod:`vidsage_client.cli`: the ``vidsage`` command line (``vidsage dev`` and ``vidsage schemas``
  run the ``vidsage-dev`` package when it is installed).

It depends on the contract models of ``vidsage`` (without its service extras) and aiohttp only.
This module itself imports nothing outside the standard library (the client is imported on first
use), so ``vidsage --help`` and ``vidsage dev`` start fast.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from vidsage_client.client import (
        CannotConnect,
        ChatSession,
        Client,
        Forbidden,
        GatewayError,
        NotFound,
        ServerFrame,
        Unauthorized,
    )

__all__ = [
    "DEFAULT_URL",
    "EXIT_CODES_HELP",
    "TRANSCRIPT_FORMATS",
    "URL_ENV",
    "CannotConnect",
    "ChatSession",
    "Client",
    "Exit",
    "Forbidden",
    "GatewayError",
    "NotFound",
    "ServerFrame",
    "TranscriptFormat",
    "Unauthorized",
]

_LAZY = {
    "CannotConnect",
    "ChatSession",
    "Client",
    "Forbidden",
    "GatewayError",
    "NotFound",
    "ServerFrame",
    "Unauthorized",
}

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
    UNAUTHORIZED = 6
    """No API key, a key the gateway refuses (401), or one that may not do this (403: not an admin,
    another tenant's ``--owner``...)."""
    INTERRUPTED = 130
    """Ctrl-C."""


EXIT_CODES_HELP = """exit codes:
  0    success
  1    the gateway refused the request (its message is shown), or a video failed
  2    bad arguments, or a file that cannot be read
  3    cannot connect to the gateway
  4    no such video
  5    --wait gave up (--timeout) before the video was ready
  6    no API key, or the gateway refused it (revoked, expired, unknown) or its role (not an admin)
  130  interrupted (Ctrl-C)"""


def __getattr__(name: str) -> Any:
    """``Client`` and its errors, imported from :mod:`vidsage_client.client` on first use."""
    if name in _LAZY:
        from vidsage_client import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
