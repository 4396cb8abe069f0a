"""Real servers for integration tests: nats-server (JetStream) and rclone's S3 server on free
loopback ports, started by the same code as ``make run``.

- ``s3_server`` lives for the session; each test gets its own bucket through ``settings``.
- ``nats_server`` is fresh for every test (JetStream state is per test), since the stream's
  subjects are fixed by the contract and two streams cannot share them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from nats.aio.client import Client as NATS

from tests.support.auth import gateway_auth_settings
from tests.support.media import make_video, make_wav, truncate
from vidsage.bus import connect
from vidsage.contracts.ids import new_id
from vidsage.runtime import Runtime, open_runtime
from vidsage.settings import Settings
from vidsage_dev.infra import NatsServer, S3Server, start_nats, start_s3
from vidsage_dev.ports import free_port

if TYPE_CHECKING:
    from vidsage_transcriber.engine import Engine

ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret-key"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    state = tmp_path_factory.mktemp("s3")
    server = start_s3(state, "127.0.0.1", free_port(), ACCESS_KEY, SECRET_KEY, sink=io.StringIO())
    yield server
    server.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats-state", "127.0.0.1", free_port(), free_port(), sink=io.StringIO())
    yield server
    server.stop()


def make_settings(nats_url: str, s3_endpoint: str, **overrides: object) -> Settings:
    env = {
        "nats": {"url": nats_url},
        "s3": {
            "endpoint": s3_endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "bucket": f"t-{new_id()[-12:]}",
            "retries": 0,
            "timeout_s": 3,
        },
        "gateway": gateway_auth_settings(),
        "log_format": "console",
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(env.get(key), dict):
            env[key] = {**env[key], **value}  # type: ignore[dict-item]
        else:
            env[key] = value
    return Settings(_env_file=None, **env)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    files = {
        "mp4": make_video(d / "clip.mp4", "mp4", duration_s=3.0),
        "mov": make_video(d / "clip.mov", "mov", duration_s=2.0, width=256, height=144),
        "avi": make_video(d / "clip.avi", "avi", duration_s=2.0, width=160, height=120),
        "long": make_video(d / "long.mp4", "mp4", duration_s=181, width=64, height=48, fps=1, audio=False),
        "wav": make_wav(d / "sound.wav", 1.0),
    }
    files["truncated"] = truncate(files["mp4"], d / "truncated.mp4", 0.5)
    (d / "page.mp4").write_text("<!DOCTYPE html><html><body><h1>not a video</h1></body></html>\n" * 20)
    files["html"] = d / "page.mp4"
    files["elf"] = d / "true.mp4"
    shutil.copyfile("/bin/true", files["elf"])
    (d / "notes.mp4").write_text("just some plain text, renamed to look like a video\n" * 50)
    files["text"] = d / "notes.mp4"
    return files


@pytest.fixture
def settings(nats_server: NatsServer, s3_server: S3Server) -> Settings:
    return make_settings(nats_server.url, s3_server.endpoint)


@pytest.fixture
async def nc(settings: Settings) -> AsyncIterator[NATS]:
    client = await connect(settings.nats, "test", wait_s=5)
    yield client
    with contextlib.suppress(Exception):
        await client.drain()


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A gateway-like runtime (no consumer) over the test servers."""
    async with open_runtime("gateway", settings, asyncio.Event(), wait_s=5) as rt:
        yield rt


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The transcriber's Whisper engine with the default settings, loaded once per module that
    uses it (imported here only then: most modules need no Whisper)."""
    from tests.support.paths import MODELS
    from vidsage_transcriber.engine import Engine

    settings = Settings(_env_file=None, models_dir=MODELS)
    e = Engine(settings.transcriber, settings.models_dir)
    e.load()
    return e
