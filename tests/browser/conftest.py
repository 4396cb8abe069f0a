"""Shared by the browser tests: the headless Chromium they drive (Debian package ``chromium``),
through Playwright."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support import capabilities

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    # play() from the test (not from a click) must not be refused by the autoplay policy
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The Chromium binary; the test is skipped when it is not installed."""
    capabilities.require("needs_chromium")
    return capabilities.CHROMIUM


@pytest.fixture(scope="module")
def playwright_session(chromium: Path) -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright, chromium: Path) -> Iterator[Browser]:
    browser = playwright_session.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
    yield browser
    browser.close()
