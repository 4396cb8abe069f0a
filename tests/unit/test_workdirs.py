"""Job folders: a SIGKILLed worker's folder is removed at the next start-up; a live sibling's is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidsage.workdirs import clean_stale, job_dir

HOLD = """
import sys, time
from pathlib import Path
from vidsage.workdirs import job_dir
with job_dir("ingest", Path(sys.argv[1])) as tmp:
    (Path(tmp) / "source.mp4").write_bytes(b"x" * 1000)
    print(tmp, flush=True)
    time.sleep(600)
"""


def _holder(base: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(base)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_killed_workers_folder_goes_and_a_live_siblings_stays(tmp_path: Path) -> None:
    killed, killed_dir = _holder(tmp_path)
    live, live_dir = _holder(tmp_path)
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        assert killed_dir.is_dir()  # SIGKILL leaves it behind
        legacy = tmp_path / "vidsage-ingest-k3j2h1g0"  # made before folders carried a pid
        legacy.mkdir()
        other_service = tmp_path / f"vidsage-transcriber-{killed.pid}-abcd"
        other_service.mkdir()

        assert clean_stale("ingest", tmp_path) == 2

        assert not killed_dir.exists()
        assert not legacy.exists()
        assert live_dir.is_dir()  # its process is alive
        assert other_service.is_dir()  # another service's: its own start-up cleans it
    finally:
        live.kill()
        live.wait()


def test_a_folder_older_than_the_process_with_its_pid_is_stale(tmp_path: Path) -> None:
    """A container restarted with the same pid (often 1) finds its predecessor's folder."""
    proc, folder = _holder(tmp_path)
    try:
        hour_ago = time.time() - 3600
        os.utime(folder, (hour_ago, hour_ago))
        assert clean_stale("ingest", tmp_path) == 1
        assert not folder.exists()
    finally:
        proc.kill()
        proc.wait()


def test_job_dir_names_the_service_and_the_pid(tmp_path: Path) -> None:
    with job_dir("transcriber", tmp_path) as tmp:
        assert Path(tmp).name.startswith(f"vidsage-transcriber-{os.getpid()}-")
        assert clean_stale("transcriber", tmp_path) == 0  # ours, alive
    assert list(tmp_path.iterdir()) == []


def test_the_clean_up_stays_in_the_processs_own_tmpdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vidsage dev gives each process its own TMPDIR: the clean-up at start-up looks there only, and
    a TMPDIR that is not a folder cleans nothing (tempfile.gettempdir() would fall back to /tmp)."""
    own, sibling = tmp_path / "tmp" / "ingest", tmp_path / "tmp" / "ingest-2"
    for folder in (own, sibling):
        folder.mkdir(parents=True)
        (folder / "vidsage-ingest-k3j2h1g0").mkdir()  # stale (no pid) wherever it is
    monkeypatch.setenv("TMPDIR", str(own))
    assert clean_stale("ingest") == 1
    assert not (own / "vidsage-ingest-k3j2h1g0").exists()
    assert (sibling / "vidsage-ingest-k3j2h1g0").is_dir()  # the other process's own
    monkeypatch.setenv("TMPDIR", str(tmp_path / "gone"))
    monkeypatch.setattr("tempfile.tempdir", str(sibling))  # where gettempdir() would fall back to
    assert clean_stale("ingest") == 0
    assert (sibling / "vidsage-ingest-k3j2h1g0").is_dir()
