"""The heartbeat file and its probe CLI (``vidsage.health``): no servers, real files."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidsage.health import Heartbeat, Unhealthy, check, main, write_heartbeat

LINUX_PROC = Path("/proc/self/stat").exists()


def write(path: Path, **fields: object) -> Path:
    beat: dict[str, object] = {
        "service": "ingest",
        "pid": os.getpid(),
        "nats": "connected",
        "at": time.time(),
    }
    beat.update(fields)
    path.write_text(json.dumps(beat))
    return path


def run_check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", *argv])
    err = capsys.readouterr().err
    return code, err


def test_written_file_passes_and_has_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    write_heartbeat(path, "transcriber", True)
    beat = json.loads(path.read_text())
    assert set(beat) == {"service", "pid", "nats", "at"}
    assert beat["service"] == "transcriber"
    assert beat["pid"] == os.getpid()
    assert beat["nats"] == "connected"
    assert abs(beat["at"] - time.time()) < 5
    assert check(path, 5, require_nats=True)["service"] == "transcriber"
    assert [p.name for p in tmp_path.iterdir()] == ["health.json"]  # no temporary file left behind


def test_cli_fresh_passes_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "h.json")
    assert run_check(capsys, str(path), "--max-age-s", "5", "--require-nats") == (0, "")
    assert run_check(capsys, str(path), "--max-age-s", "5") == (0, "")


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_check(capsys, str(tmp_path / "absent.json"), "--max-age-s", "5")
    assert code == 1
    assert "no heartbeat file" in err
    assert err.count("\n") == 1


def test_cli_stale_by_its_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "h.json", at=time.time() - 30)
    code, err = run_check(capsys, str(path), "--max-age-s", "10")
    assert code == 1
    assert "stale heartbeat, written 30." in err
    assert "max 10 s" in err


def test_cli_stale_by_its_mtime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "h.json")
    old = time.time() - 30
    os.utime(path, (old, old))
    code, err = run_check(capsys, str(path), "--max-age-s", "10")
    assert code == 1
    assert "stale file" in err


def test_cli_time_in_the_future(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "h.json", at=time.time() + 3600)
    code, err = run_check(capsys, str(path), "--max-age-s", "10")
    assert code == 1
    assert "future" in err


def test_cli_disconnected_fails_only_when_nats_is_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "h.json", nats="disconnected")
    code, err = run_check(capsys, str(path), "--max-age-s", "10", "--require-nats")
    assert code == 1
    assert "NATS disconnected" in err
    assert run_check(capsys, str(path), "--max-age-s", "10") == (0, "")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{not json",
        "[1, 2]",
        '"connected"',
        '{"service": "x", "pid": 1, "nats": "connected"}',
        '{"service": "x", "pid": 1, "nats": "connected", "at": "now"}',
        '{"service": "x", "pid": 1, "nats": "connected", "at": true}',
        '{"service": "x", "pid": 1, "nats": "connected", "at": NaN}',
        '{"service": "x", "pid": 1, "nats": "connected", "at": Infinity}',
        '{"service": "x", "pid": 1, "nats": "maybe", "at": %(now)s}',
        '{"service": "x", "nats": "connected", "at": %(now)s}',
        '{"service": "x", "pid": "1", "nats": "connected", "at": %(now)s}',
        '{"service": "x", "pid": 0, "nats": "connected", "at": %(now)s}',
    ],
)
def test_cli_malformed(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    path = tmp_path / "h.json"
    path.write_text(text % {"now": time.time()} if "%(now)s" in text else text)
    code, err = run_check(capsys, str(path), "--max-age-s", "3600")
    assert code == 1
    assert err.startswith("unhealthy: malformed heartbeat file"), err
    assert err.count("\n") == 1


def test_cli_unreadable_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_check(capsys, str(tmp_path), "--max-age-s", "5")  # a directory
    assert code == 1
    assert "cannot read" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "/tmp/x"],
        ["check", "/tmp/x", "--max-age-s", "0"],
        ["check", "/tmp/x", "--max-age-s", "-5"],
        ["check", "/tmp/x", "--max-age-s", "soon"],
        ["check", "/tmp/x", "--max-age-s", "nan"],
        [],
    ],
)
def test_cli_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


@pytest.mark.skipif(not LINUX_PROC, reason="needs /proc")
def test_file_of_a_process_that_is_gone_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    path = write(tmp_path / "h.json", pid=int(child.stdout))
    code, err = run_check(capsys, str(path), "--max-age-s", "10")
    assert code == 1
    assert "not running" in err


@pytest.mark.skipif(not LINUX_PROC, reason="needs /proc")
def test_file_older_than_the_running_process_fails(tmp_path: Path) -> None:
    """A restarted container (same pid, same /tmp emptyDir) must not pass on its predecessor's file."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(1.5)  # the process start time from /proc is exact to within 1 s
        path = write(tmp_path / "h.json", pid=child.pid, at=time.time() - 3)
        with pytest.raises(Unhealthy, match="earlier process"):
            check(path, 60)
        write(path, pid=child.pid, at=time.time())
        assert check(path, 60)["pid"] == child.pid
    finally:
        child.kill()
        child.wait()


def test_cli_runs_as_a_module_fast_and_without_asyncio(tmp_path: Path) -> None:
    path = write(tmp_path / "h.json", nats="disconnected")
    command = [sys.executable, "-m", "vidsage.health", "check", str(path), "--max-age-s", "10"]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert (ok.returncode, ok.stderr) == (0, "")
    bad = subprocess.run([*command, "--require-nats"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert bad.stderr.startswith("unhealthy:")
    assert bad.stderr.count("\n") == 1
    heavy = "{'asyncio', 'pydantic', 'structlog'}"
    imports = subprocess.run(
        [sys.executable, "-c", f"import sys, vidsage.health; print(sorted({heavy} & sys.modules.keys()))"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert imports.stdout.strip() == "[]"


# --- the heartbeat task ----------------------------------------------------------------------


async def test_heartbeat_writes_at_once_refreshes_follows_nats_and_removes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "health.json"
    connected = True
    heartbeat = Heartbeat(path, "indexer", 0.05, lambda: connected)
    assert not path.exists()
    heartbeat.start()
    try:
        first = json.loads(path.read_text())  # written by start() itself
        assert first["service"] == "indexer"
        assert first["nats"] == "connected"
        heartbeat.start()  # idempotent: still one task
        await asyncio.sleep(0.3)
        second = json.loads(path.read_text())
        assert second["at"] > first["at"]
        connected = False
        await asyncio.sleep(0.2)
        assert json.loads(path.read_text())["nats"] == "disconnected"
        with pytest.raises(Unhealthy, match="NATS disconnected"):
            check(path, 1, require_nats=True)
        assert check(path, 1)["service"] == "indexer"
    finally:
        await heartbeat.stop()
    assert not path.exists()
    assert list(path.parent.iterdir()) == []
    await heartbeat.stop()  # idempotent


async def test_a_blocked_event_loop_makes_the_file_stale(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    heartbeat = Heartbeat(path, "chat", 0.05, lambda: True)
    heartbeat.start()
    try:
        await asyncio.sleep(0.2)
        assert check(path, 0.5)
        time.sleep(0.8)  # noqa: ASYNC251 - the point: the loop is blocked, no beat can be written
        with pytest.raises(Unhealthy, match="stale"):
            check(path, 0.5)
        await asyncio.sleep(0.2)  # the loop runs again: fresh again
        assert check(path, 0.5)
    finally:
        await heartbeat.stop()


async def test_heartbeat_survives_write_failures(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    path.mkdir()  # os.replace onto a directory fails
    heartbeat = Heartbeat(path, "ingest", 0.05, lambda: True)
    heartbeat.start()
    try:
        await asyncio.sleep(0.15)
        assert heartbeat.started
        path.rmdir()
        await asyncio.sleep(0.2)
        assert check(path, 1)["service"] == "ingest"  # recovered by itself
    finally:
        await heartbeat.stop()
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        Heartbeat(tmp_path / "h.json", "x", 0, lambda: True)
