"""The whole system started exactly as ``make run`` starts it (``vidsage dev``): real nats-server,
real S3 server and the five service processes, on free loopback ports, with the offline models
from ``make setup``. Used by the end-to-end, CLI and browser tests."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import psutil

from vidsage_dev.ports import free_port
from vidsage_dev.system import DevConfig, DevSystem

MODELS = Path(__file__).resolve().parents[1] / ".vidsage" / "models"


@contextlib.contextmanager
def dev_system(state_dir: Path, **extra_env: str) -> Iterator[DevSystem]:
    """Start it, yield it, stop it, and check that no process outlives it."""
    config = DevConfig(
        nats_port=free_port(),
        nats_monitor_port=free_port(),
        s3_port=free_port(),
        gateway_port=free_port(),
        state_dir=state_dir,
        models_dir=MODELS,
        extra_env={"VIDSAGE_LOG_FORMAT": "json", **extra_env},
    )
    dev = DevSystem(config, sink=io.StringIO())
    dev.start()
    pids = [p.pid for p in dev.processes()]
    assert len(pids) == 7, pids  # nats, s3 and five services
    try:
        yield dev
    finally:
        dev.stop()
        _gone, alive = psutil.wait_procs(
            [psutil.Process(p) for p in pids if psutil.pid_exists(p)], timeout=10
        )
        assert not alive, f"processes left after stop: {alive}"
