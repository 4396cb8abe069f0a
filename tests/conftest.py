"""Shared pytest setup: the capability skips (``needs_*`` markers, decided by one hook) and the one
whole system the end-to-end, CLI and browser tests share. The helpers live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import capabilities
from tests.support.system import dev_system, empty_library
from vidsage_dev.system import DevSystem


def pytest_configure(config: pytest.Config) -> None:
    for line in capabilities.marker_lines():
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip every test whose ``needs_*`` markers name something this machine lacks."""
    for item in items:
        for reason in capabilities.missing(mark.name for mark in item.iter_markers()):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def whole_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevSystem]:
    """The whole system as ``make run`` starts it, started once for the session (on first use)."""
    # webhooks to a receiver on this machine (tests/e2e/test_webhooks_system.py), retried quickly
    webhooks = {"VIDSAGE_WEBHOOKS__ALLOW_LOOPBACK": "true", "VIDSAGE_NOTIFIER__BACKOFF_S": "0.2"}
    with dev_system(tmp_path_factory.mktemp("vidsage-state"), **webhooks) as dev:
        yield dev


@pytest.fixture(scope="module")
def system(whole_system: DevSystem) -> DevSystem:
    """The shared whole system, its library emptied for this test module (as a fresh start would
    leave it): tests in a module may build on each other's videos, modules never do."""
    assert whole_system.admin_key is not None
    empty_library(whole_system.gateway_url, whole_system.admin_key)
    return whole_system


@pytest.fixture(scope="session", autouse=True)
def _upload_state_in_a_temporary_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``vidsage upload`` remembers unfinished resumable uploads under ``$XDG_CACHE_HOME``: in the
    tests (and the ``vidsage`` processes they start) that is a temporary folder, never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    mp.undo()
