"""The test helpers that decide things for many tests: settings → a service's environment, and the
capability skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import capabilities
from tests.support.env import service_env
from vidsage.settings import Settings


def test_a_service_given_service_env_reads_the_same_servers_keys_and_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        _env_file=None,
        nats={"url": "nats://127.0.0.1:4999"},  # type: ignore[arg-type]
        s3={  # type: ignore[arg-type]
            "endpoint": "http://127.0.0.1:9999",
            "bucket": "t-bucket",
            "region": "eu-west-3",
            "access_key": "an-access-key",
            "secret_key": "a-secret-key",
        },
        models_dir=Path("/somewhere/models"),
        log_level="warning",
    )
    env = service_env(settings, VIDSAGE_CHAT__LLM_MODEL="from-extra", VIDSAGE_LOG_LEVEL="error")
    for name in [n for n in os.environ if n.startswith("VIDSAGE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("VIDSAGE_"):
            monkeypatch.setenv(name, value)

    child = Settings(_env_file=None)  # what the service process builds in main()

    assert child.nats.url == settings.nats.url
    assert child.s3.endpoint == settings.s3.endpoint
    assert child.s3.bucket == settings.s3.bucket
    assert child.s3.region == settings.s3.region
    assert child.s3.access_key.get_secret_value() == "an-access-key"
    assert child.s3.secret_key.get_secret_value() == "a-secret-key"
    assert child.models_dir == Path("/somewhere/models")
    assert child.chat.llm_model == "from-extra"
    assert child.log_level == "error"  # extra wins over the settings


def test_service_env_keeps_the_rest_of_this_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    env = service_env(Settings(_env_file=None))
    assert env["SOMETHING_ELSE"] == "kept"
    assert env["PATH"] == os.environ["PATH"]


def test_every_need_is_a_registered_marker(pytestconfig: pytest.Config) -> None:
    registered = {line.split(":")[0] for line in pytestconfig.getini("markers")}
    assert set(capabilities.NEEDS) <= registered
    assert all(name.startswith("needs_") for name in capabilities.NEEDS)


def test_a_missing_capability_gives_its_reason_and_others_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need = capabilities.NEEDS["needs_chromium"]
    monkeypatch.setitem(
        capabilities.NEEDS,
        "needs_chromium",
        capabilities.Need(need.marker, need.what, lambda: False, need.reason),
    )
    capabilities._present.cache_clear()
    try:
        assert capabilities.missing(["e2e", "needs_chromium", "needs_chromium"]) == [need.reason]
        with pytest.raises(pytest.skip.Exception, match="chromium"):
            capabilities.require("needs_chromium")
    finally:
        capabilities._present.cache_clear()
