"""The chaos tier's fixtures: the systems the faults are injected into, the workload, and the
summary printed at the end of the run (and written to ``VIDSAGE_CHAOS_SUMMARY``, JSON, if set).

``VIDSAGE_CHAOS=full`` (``make test-chaos``) runs every scenario; otherwise the reduced set.
``VIDSAGE_CHAOS_SETTLE_S`` (default 90) is how long after a fault every video must have finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.support.auth import bearer
from tests.support.chaos import Verdict, Workload, summary
from tests.support.paths import MODELS
from tests.support.speech import SCRIPTS, make_speech_video
from vidsage_dev.system import DevConfig, DevSystem

FULL = os.environ.get("VIDSAGE_CHAOS", "").lower() == "full"
SETTLE_S = float(os.environ.get("VIDSAGE_CHAOS_SETTLE_S", "90"))
SEED = int(os.environ.get("VIDSAGE_CHAOS_SEED", "13"))
SYSTEMS = {
    "single": {},
    "cluster": {"nats_cluster": 3, "replicas": {"ingest": 2, "transcriber": 2}},
}
"""``single`` is what ``make run`` starts; ``cluster`` is ``vidsage dev --nats-cluster 3
--replicas ingest=2,transcriber=2``."""

VERDICTS: list[Verdict] = []


class Systems:
    """One running system per kind, started on first use and started afresh after a scenario that
    left work unfinished or a process down (so no scenario inherits another's stuck jobs)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: dict[str, DevSystem] = {}
        self.dirty: set[str] = set()
        self.starts = 0

    def get(self, kind: str) -> DevSystem:
        system = self.running.get(kind)
        if system is not None and (kind in self.dirty or not all(p.alive for p in system.processes())):
            self.stop(kind)
            system = None
        if system is None:
            self.starts += 1
            config = DevConfig(
                # 0: free ports, picked at start (each cluster member its own)
                nats_port=0,
                nats_monitor_port=0,
                nats_cluster_port=0,
                s3_port=0,
                gateway_port=0,
                state_dir=Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.root)),
                models_dir=MODELS,
                extra_env={"VIDSAGE_LOG_FORMAT": "json"},
                ready_timeout=120,
                **SYSTEMS[kind],  # type: ignore[arg-type]
            )
            system = DevSystem(config, sink=io.StringIO())
            system.start()
            self.running[kind] = system
            self.dirty.discard(kind)
        return system

    def stop(self, kind: str) -> None:
        system = self.running.pop(kind)
        pids = [p.pid for p in system.processes()]
        system.stop()
        _gone, alive = psutil.wait_procs(
            [psutil.Process(p) for p in pids if psutil.pid_exists(p)], timeout=10
        )
        assert not alive, f"processes left after stop: {alive}"

    def close(self) -> None:
        for kind in list(self.running):
            self.stop(kind)


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Systems]:
    pool = Systems(tmp_path_factory.mktemp("chaos"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    path = make_speech_video(tmp_path_factory.mktemp("chaos-media") / "speech.mp4", SCRIPTS["short"])
    return Workload(
        video=path.read_bytes(),
        filename="speech.mp4",
        query="lanterns along the harbor wall",
        question="How many lanterns did she count?",
    )


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    return random.Random(f"{SEED}:{request.node.name}")


@contextlib.asynccontextmanager
async def admin_session(system: DevSystem) -> AsyncIterator[aiohttp.ClientSession]:
    assert system.admin_key is not None
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30), headers=bearer(system.admin_key)
    ) as session:
        yield session


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not VERDICTS:
        return
    title = (
        f"vidsage chaos summary ({'full' if FULL else 'reduced'} set, seed {SEED}, settle {SETTLE_S:.0f} s)"
    )
    terminalreporter.write_sep("=", "chaos")
    terminalreporter.write_line(summary(VERDICTS, title=title))
    out = os.environ.get("VIDSAGE_CHAOS_SUMMARY")
    if out:
        Path(out).write_text(json.dumps([v.as_dict() for v in VERDICTS], indent=1) + "\n")
        terminalreporter.write_line(f"(written to {out})")
