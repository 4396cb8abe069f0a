"""The real servers a benchmark needs: nats-server and the S3 server in a temporary folder."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vidsage.settings import Settings
from vidsage_dev.infra import start_nats, start_s3
from vidsage_dev.ports import free_port

MODELS = Path(__file__).resolve().parents[1] / ".vidsage" / "models"
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


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a service process (``python -m vidsage_<name>``) on these servers, + ``extra``."""
    return {
        **os.environ,
        "VIDSAGE_NATS__URL": settings.nats.url,
        "VIDSAGE_S3__ENDPOINT": settings.s3.endpoint,
        "VIDSAGE_S3__ACCESS_KEY": settings.s3.access_key.get_secret_value(),
        "VIDSAGE_S3__SECRET_KEY": settings.s3.secret_key.get_secret_value(),
        "VIDSAGE_LOG_LEVEL": "warning",
        **extra,
    }
