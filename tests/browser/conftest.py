"""Shared by the browser tests: the headless Chromium they drive (Debian package ``chromium``)."""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The Chromium binary; the test is skipped when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install --no-install-recommends chromium)")
    return CHROMIUM
