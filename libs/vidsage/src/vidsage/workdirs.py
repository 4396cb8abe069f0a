"""Temporary job folders of the workers, and their clean-up at start-up.

A job's folder is ``<base>/vidsage-<service>-<pid>-<random>`` (``base``: the service's work dir,
or the system temp dir), removed when the job ends. A worker that is SIGKILLed leaves its folder
behind; :func:`clean_stale` (run by the service at start-up, before it takes work) removes every
folder of that service whose process is gone — its pid is not running, or is running but started
after the folder was made (a container restarted with the same pid, often 1) — and leaves those
of live sibling processes alone (a shared ``work_dir``). Folders without a pid (made before pids
were recorded) are stale too.

It cleans the process's own temp dir only: ``work_dir`` when set, else ``$TMPDIR`` (``vidsage dev``
gives each process its own, ``<state_dir>/tmp/<name>``, as each pod has its own ``/tmp``), else the
system's. A ``$TMPDIR`` that is not a folder cleans nothing, where :func:`tempfile.gettempdir`
would fall back to ``/tmp`` — another process's temp dir.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from vidsage.health import process_start
from vidsage.logging import get_logger

log = get_logger("vidsage.workdirs")


def job_dir(service: str, base: Path | None = None) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for one job (a context manager; removed on exit)."""
    return tempfile.TemporaryDirectory(prefix=f"vidsage-{service}-{os.getpid()}-", dir=base)


def _is_stale(path: Path, pid: int | None) -> bool:
    if pid is None or pid == os.getpid():
        return pid is None  # ours cannot exist yet at start-up; without a pid: an old layout's
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's live process
        pass
    try:
        started = process_start(pid)
    except Exception:  # procfs says there is no such process
        return True
    if started is None:  # no procfs: cannot tell a reused pid, keep it
        return False
    return started > path.stat().st_mtime + 1  # start times are rounded down by up to 1 s


def own_temp_dir(base: Path | None = None) -> Path | None:
    """The folder this process's job folders go to: ``base``, else ``$TMPDIR`` (None when that is
    not a folder: never the fall-back of :func:`tempfile.gettempdir`), else the system temp dir."""
    if base is not None:
        return Path(base)
    env = os.environ.get("TMPDIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    return Path(tempfile.gettempdir())


def clean_stale(service: str, base: Path | None = None) -> int:
    """Remove the folders left by dead processes of ``service`` in this process's own temp dir
    (:func:`own_temp_dir`); how many."""
    root = own_temp_dir(base)
    if root is None:
        log.warning("temp_dir_missing", service=service, tmpdir=os.environ.get("TMPDIR"))
        return 0
    pattern = re.compile(rf"^vidsage-{re.escape(service)}-(?:(\d+)-)?[^/]+$")
    removed = 0
    with contextlib.suppress(OSError):
        for entry in root.iterdir():
            match = pattern.match(entry.name)
            if match is None or not entry.is_dir() or entry.is_symlink():
                continue
            pid = int(match.group(1)) if match.group(1) else None
            try:
                stale = _is_stale(entry, pid)
            except OSError:
                continue
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    if removed:
        log.info("stale_job_dirs_removed", service=service, folders=removed, under=str(root))
    return removed
