"""The real servers a benchmark needs: nats-server and the S3 server in a temporary folder.

A service process joins them with ``tests.support.env.service_env(settings, ...)``."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.auth import ADMIN_KEY, SIGNING_SECRET
from tests.support.env import service_env
from tests.support.paths import MODELS
from vidsage.settings import Settings
from vidsage_dev.infra import start_nats, start_s3
from vidsage_dev.ports import free_port
from vidsage_dev.processes import ManagedProcess

ACCESS, SECRET = "bench-access", "bench-secret-key"


@contextlib.contextmanager
def local_servers(**overrides: Any) -> Iterator[Settings]:
    """Start both servers on free ports; yield settings pointing at them (state in the temp folder)."""
    with tempfile.TemporaryDirectory(prefix="vidsage-bench-") as tmp:
        state = Path(tmp) / "state"
        sink = io.StringIO()
        nats = start_nats(state, "127.0.0.1", free_port(), free_port(), sink=sink)
        try:
            s3 = start_s3(state, "127.0.0.1", free_port(), ACCESS, SECRET, sink=sink)
            try:
                yield Settings(
                    _env_file=None,
                    models_dir=MODELS,
                    state_dir=state,
                    log_level="warning",
                    nats={"url": nats.url},  # type: ignore[arg-type]
                    s3={"endpoint": s3.endpoint, "access_key": ACCESS, "secret_key": SECRET},  # type: ignore[arg-type]
                    **overrides,
                )
            finally:
                s3.stop()
        finally:
            nats.stop()


@contextlib.contextmanager
def gateway_process(settings: Settings, **env: str) -> Iterator[tuple[ManagedProcess, str]]:
    """``python -m vidsage_gateway`` on a free port over the servers of ``settings`` (the test admin
    key bootstrapped, the spool in the state folder, no indexer needed): the process and its URL."""
    port = free_port()
    gateway = ManagedProcess(
        "gateway",
        [sys.executable, "-m", "vidsage_gateway"],
        log_dir=settings.state_dir / "logs",
        env=service_env(
            settings,
            VIDSAGE_GATEWAY__PORT=str(port),
            VIDSAGE_GATEWAY__SPOOL_DIR=str(settings.state_dir),
            VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY=ADMIN_KEY,
            VIDSAGE_GATEWAY__SIGNING_SECRET=SIGNING_SECRET,
            VIDSAGE_GATEWAY__READY_REQUIRES_SEARCH="false",  # no indexer here
            **env,
        ),
        sink=io.StringIO(),
    )
    try:
        yield gateway, f"http://127.0.0.1:{port}"
    finally:
        gateway.stop()


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    """Until the gateway at ``base`` answers ``/readyz`` with 200 (at most about 10 s)."""
    for _ in range(100):
        try:
            async with session.get(f"{base}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
