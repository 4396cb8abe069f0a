"""The real servers a benchmark needs: nats-server and the S3 server in a temporary folder.

A service process joins them with ``tests.support.env.service_env(settings, ...)``."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.paths import MODELS
from vidsage.settings import Settings
from vidsage_dev.infra import start_nats, start_s3
from vidsage_dev.ports import free_port

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
