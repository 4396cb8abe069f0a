"""What a test needs from the machine, decided in one place.

A test (or a module, through ``pytestmark``) names what it needs with a marker; one hook in
tests/conftest.py skips it, with the reason given here, when the machine lacks it:

==================  ==============================================================================
``needs_espeak``    the ``espeak-ng`` binary (Debian package ``espeak-ng``): spoken-word fixtures
``needs_whisper``   the offline Whisper base model under ``.vidsage/models`` (``make setup``)
``needs_embedder``  the offline all-MiniLM-L6-v2 model under ``.vidsage/models`` (``make setup``)
``needs_chromium``  ``/usr/bin/chromium`` (Debian package ``chromium``): the browser tests
==================  ==============================================================================

A fixture that is itself the capability (the Chromium binary, a spoken clip) calls :func:`require`,
which skips with the same reason. The markers are registered from :data:`NEEDS` (``--strict-markers``
rejects a misspelt one).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import EMBEDDING_MODEL, WHISPER_MODEL
from tests.support.speech import ESPEAK

CHROMIUM = Path("/usr/bin/chromium")
"""The headless browser the browser tests drive (Debian package ``chromium``)."""


@dataclass(frozen=True)
class Need:
    marker: str
    what: str
    present: Callable[[], bool]
    reason: str


NEEDS: dict[str, Need] = {
    need.marker: need
    for need in (
        Need(
            "needs_espeak",
            "the espeak-ng speech synthesiser is installed",
            lambda: shutil.which(ESPEAK) is not None,
            "espeak-ng (Debian package) is not installed",
        ),
        Need(
            "needs_whisper",
            "the offline Whisper model is set up",
            WHISPER_MODEL.is_file,
            "run `make setup` first (the Whisper model)",
        ),
        Need(
            "needs_embedder",
            "the offline embedding model is set up",
            EMBEDDING_MODEL.is_dir,
            "run `make setup` first (the embedding model)",
        ),
        Need(
            "needs_chromium",
            "Chromium is installed",
            CHROMIUM.exists,
            f"{CHROMIUM} is not installed (apt-get install --no-install-recommends chromium)",
        ),
    )
}


@functools.cache
def _present(marker: str) -> bool:
    return NEEDS[marker].present()


def marker_lines() -> list[str]:
    """The ``markers`` ini lines that register every ``needs_*`` marker."""
    return [f"{need.marker}: skipped unless {need.what}" for need in NEEDS.values()]


def missing(markers: Iterable[str]) -> list[str]:
    """The skip reasons of the ``needs_*`` markers among ``markers`` whose capability is absent."""
    return [NEEDS[m].reason for m in dict.fromkeys(markers) if m in NEEDS and not _present(m)]


def require(marker: str) -> None:
    """Skip the calling test or fixture unless the machine has what ``marker`` names."""
    for reason in missing([marker]):
        pytest.skip(reason)
