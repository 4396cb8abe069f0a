"""The test helpers that decide things for many tests: settings → a service's environment, and the
capability skips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support import capabilities, chaos
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


def _job_done(video_id: str, event_type: str, attempt: int, at: str) -> str:
    return json.dumps(
        {
            "event": "job_done",
            "video_id": video_id,
            "event_type": event_type,
            "attempt": attempt,
            "timestamp": at,
        }
    )


def test_the_chaos_checker_reads_each_jobs_runs_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "notifier.log").write_text(
        "\n".join(
            [
                _job_done("v1", "video.ingested", 1, "2026-12-02T07:00:05.000000Z"),
                '{"event": "job_done", "video_id": "v1"',  # a line cut by SIGKILL
                _job_done("v1", "video.ingested", 1, "2026-12-02T07:00:01.000000Z"),
                _job_done("other", "video.ingested", 1, "2026-12-02T07:00:01.000000Z"),
            ]
        )
    )
    done_by, spread = chaos.jobs_done(tmp_path, ["v1"])
    runs = done_by[("v1", "notifier", "video.ingested")]
    assert len(runs) == 2
    assert runs[0].at < runs[1].at  # the log had them the other way round
    assert spread == {"notifier": 2}


def test_a_job_done_again_is_a_duplicate_unless_the_bus_lost_its_ack() -> None:
    first, again = chaos.JobRun("notifier", 1, 100.0), chaos.JobRun("notifier", 1, 130.0)
    assert chaos.redone_after_bus_loss([first, again], bus_back=110.0)
    assert not chaos.redone_after_bus_loss([first, again], bus_back=None)  # no bus fault
    assert not chaos.redone_after_bus_loss([first, again], bus_back=90.0)  # both after the bus came back
    late = chaos.JobRun("notifier", 2, 120.0)
    assert not chaos.redone_after_bus_loss([first, late, again], bus_back=110.0)
