"""Shared by the browser tests: the headless Chromium they drive (Debian package ``chromium``)."""

from pathlib import Path

import pytest

from tests.support import capabilities


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The Chromium binary; the test is skipped when it is not installed."""
    capabilities.require("needs_chromium")
    return capabilities.CHROMIUM
