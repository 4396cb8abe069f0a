"""The workers' exec probes (from the rendered chart) run for real against heartbeat files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.chart import DEFAULTS, container, env, render
from vidsage.health import process_start, write_heartbeat

WORKERS = ("ingest", "transcriber", "indexer", "chat")
HEALTH_FILE = "/tmp/vidsage-health.json"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def probes(service: str = "transcriber") -> dict[str, list[str]]:
    c = container(render(DEFAULTS), service)
    return {name: c[name]["exec"]["command"] for name in PROBES}


def run(command: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    """The probe's command with this interpreter and ``path`` instead of the pod's file."""
    assert command[0] == "python"
    argv = [sys.executable, *(str(path) if arg == HEALTH_FILE else arg for arg in command[1:])]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def outcomes(path: Path) -> dict[str, int]:
    return {name: run(command, path).returncode for name, command in probes().items()}


def beat(path: Path, **fields: Any) -> None:
    data = {"service": "transcriber", "pid": os.getpid(), "nats": "connected", "at": time.time()}
    data.update(fields)
    path.write_text(json.dumps(data))


def test_rendered_probes_run_the_heartbeat_check_on_the_file_the_service_writes() -> None:
    objects = render(DEFAULTS)
    for service in WORKERS:
        c = container(objects, service)
        assert env(objects, service)["VIDSAGE_HEALTH_FILE"] == HEALTH_FILE
        # /tmp is the pod's writable emptyDir (the root filesystem is read-only)
        assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        commands = {name: c[name]["exec"]["command"] for name in PROBES}
        check = ["python", "-m", "vidsage.health", "check", HEALTH_FILE, "--max-age-s"]
        for name, command in commands.items():
            assert command[:6] == check, (service, name)
        assert "--require-nats" in commands["readinessProbe"]
        assert "--require-nats" not in commands["livenessProbe"]  # the NATS client reconnects by itself
        assert "--require-nats" not in commands["startupProbe"]
        assert float(commands["livenessProbe"][6]) >= 60
        # the probes allow a few missed beats of the default interval, never fewer than 3
        interval = float(env(objects, service).get("VIDSAGE_HEALTH_INTERVAL_S", 5))
        for command in commands.values():
            assert float(command[6]) >= 3 * interval
    assert "VIDSAGE_HEALTH_FILE" not in env(objects, "gateway")  # HTTP probes there


def test_fresh_connected_heartbeat_passes_every_probe(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    write_heartbeat(path, "transcriber", True)
    assert outcomes(path) == dict.fromkeys(PROBES, 0)


def test_missing_file_fails_every_probe(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    assert outcomes(path) == dict.fromkeys(PROBES, 1)
    result = run(probes()["startupProbe"], path)
    assert result.stderr.startswith("unhealthy: no heartbeat file")


def test_disconnected_fails_only_readiness(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    write_heartbeat(path, "transcriber", False)
    assert outcomes(path) == {"startupProbe": 0, "readinessProbe": 1, "livenessProbe": 0}
    assert "NATS disconnected" in run(probes()["readinessProbe"], path).stderr


def old_process() -> int:
    """A running process that started over 2 minutes ago: it could have written an old beat."""
    if process_start(os.getpid()) is None:  # no /proc: the check cannot tell processes apart
        return os.getpid()
    for entry in sorted(Path("/proc").iterdir(), key=lambda p: (not p.name.isdigit(), len(p.name), p.name)):
        if entry.name.isdigit():
            try:
                started = process_start(int(entry.name))
            except Exception:
                continue
            if started is not None and started < time.time() - 120:
                return int(entry.name)
    pytest.skip("no process here started more than 2 minutes ago")


def test_stale_heartbeat_fails_readiness_first_then_liveness(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    pid = old_process()
    # a wedged loop wrote its last beat 30 s ago
    beat(path, pid=pid, at=time.time() - 30)
    old = time.time() - 30
    os.utime(path, (old, old))
    assert outcomes(path) == {"startupProbe": 1, "readinessProbe": 1, "livenessProbe": 0}
    beat(path, pid=pid, at=time.time() - 90)
    assert outcomes(path) == dict.fromkeys(PROBES, 1)
    assert "stale" in run(probes()["livenessProbe"], path).stderr


@pytest.mark.parametrize("text", ["", "{", "[]", '{"service": "transcriber", "nats": "connected"}'])
def test_malformed_file_fails_every_probe(tmp_path: Path, text: str) -> None:
    path = tmp_path / "health.json"
    path.write_text(text)
    assert outcomes(path) == dict.fromkeys(PROBES, 1)
    assert "malformed" in run(probes()["livenessProbe"], path).stderr


def test_startup_budget_is_kept() -> None:
    objects = render(DEFAULTS)
    for service, seconds in (("transcriber", 600), ("indexer", 300)):
        startup = container(objects, service)["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] == seconds
