"""The runtime's heartbeat file against a real nats-server and S3 server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vidsage.health import Unhealthy, check
from vidsage.runtime import open_runtime
from vidsage.settings import Settings
from vidsage_dev.infra import NatsServer

INTERVAL_S = 0.2


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


async def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_heartbeat_follows_the_runtime_and_nats(
    settings: Settings, nats_server: NatsServer, tmp_path: Path
) -> None:
    path = tmp_path / "run" / "vidsage-health.json"
    cfg = settings.model_copy(update={"health_file": path, "health_interval_s": INTERVAL_S})
    async with open_runtime("ingest", cfg, asyncio.Event(), worker=cfg.ingest, wait_s=5) as rt:
        first = read(path)  # there as soon as the runtime is open
        assert first["service"] == "ingest"
        assert first["nats"] == "connected"
        assert check(path, 2, require_nats=True)

        await wait_for(lambda: read(path)["at"] > first["at"])  # refreshed by the running loop
        assert rt.nc.is_connected

        await asyncio.to_thread(nats_server.stop)
        await wait_for(lambda: read(path)["nats"] == "disconnected")
        with pytest.raises(Unhealthy, match="NATS disconnected"):
            check(path, 2, require_nats=True)
        before = read(path)["at"]
        await wait_for(lambda: read(path)["at"] > before)  # still alive while NATS is away
        assert check(path, 2)["nats"] == "disconnected"
    assert not path.exists()
    assert list(path.parent.iterdir()) == []


async def test_no_heartbeat_until_the_service_says_ready(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "vidsage-health.json"
    cfg = settings.model_copy(update={"health_file": path, "health_interval_s": INTERVAL_S})
    async with open_runtime("transcriber", cfg, asyncio.Event(), wait_s=5, ready=False) as rt:
        await asyncio.sleep(3 * INTERVAL_S)
        assert not path.exists()  # e.g. a model still loading
        rt.ready()
        assert read(path)["nats"] == "connected"
        rt.ready()  # idempotent
        assert check(path, 2, require_nats=True)
    assert not path.exists()


async def test_no_heartbeat_without_the_setting(settings: Settings) -> None:
    assert settings.health_file is None
    async with open_runtime("chat", settings, asyncio.Event(), wait_s=5) as rt:
        assert rt.heartbeat is None
        rt.ready()  # a no-op
