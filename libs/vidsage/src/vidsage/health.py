"""Health of a service without an HTTP port: a heartbeat file its event loop keeps fresh.

While a service runs, :class:`Heartbeat` writes a small JSON file every ``interval_s``::

    {"service": "transcriber", "pid": 7, "nats": "connected", "at": 1764000000.123}

atomically (a temporary file in the same folder, then ``os.replace``), so a reader never sees
half a file. The writes happen on the event loop itself: a loop that is blocked or hung stops
writing and the file goes stale, which is what a liveness probe has to see.

Kubernetes exec probes read it with::

    python -m vidsage.health check PATH --max-age-s N [--require-nats]

which exits 0 when the file exists, its ``at`` and its mtime are at most N seconds old and
(with ``--require-nats``) it says ``connected``; otherwise it exits 1 with a one-line reason on
stderr (2 for bad arguments). Where ``/proc`` exists it also checks that the file was written by
a process that is still running and started before it, so a file left in ``/tmp`` (an
``emptyDir`` that outlives a container restart) by the previous container never passes for the
new one while it is still loading its model. The check imports nothing beyond the standard
library's basics: it runs every few seconds in every pod.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsage.argtypes import positive_seconds

if TYPE_CHECKING:  # asyncio costs ~60 ms to import; the probe CLI does not need it
    import asyncio

NATS_STATES = ("connected", "disconnected")


def write_heartbeat(path: Path, service: str, nats_connected: bool, *, now: float | None = None) -> None:
    """Write one heartbeat to ``path`` atomically (temporary file + ``os.replace``)."""
    payload = {
        "service": service,
        "pid": os.getpid(),
        "nats": "connected" if nats_connected else "disconnected",
        "at": round(time.time() if now is None else now, 3),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, separators=(",", ":")))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class Heartbeat:
    """Keep ``path`` fresh from the running event loop until :meth:`stop`, which removes it."""

    def __init__(
        self, path: Path, service: str, interval_s: float, nats_connected: Callable[[], bool]
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.path = path
        self.service = service
        self.interval_s = interval_s
        self.nats_connected = nats_connected
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def started(self) -> bool:
        return self._task is not None

    def beat(self) -> None:
        """Write one heartbeat now; a failure is logged (once until it recovers), never raised."""
        from vidsage.logging import get_logger

        try:
            write_heartbeat(self.path, self.service, self.nats_connected())
        except Exception as exc:
            if not self._failing:
                log = get_logger("vidsage.health")
                log.error("health_file_write_failed", path=str(self.path), error=str(exc))
            self._failing = True
        else:
            if self._failing:
                get_logger("vidsage.health").info("health_file_write_recovered", path=str(self.path))
            self._failing = False

    def start(self) -> None:
        """Write the first heartbeat now and keep writing every ``interval_s``. Idempotent."""
        import asyncio

        if self._task is not None:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.beat()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"heartbeat-{self.service}")

    async def _run(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.interval_s)
            self.beat()

    async def stop(self) -> None:
        """Stop writing and remove the file (also when the heartbeat never started)."""
        import asyncio

        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        remove_heartbeat(self.path)


def remove_heartbeat(path: Path) -> None:
    """Remove the heartbeat file (and a leftover temporary file of this process), if any."""
    for leftover in (path, path.with_name(f".{path.name}.{os.getpid()}.tmp")):
        with contextlib.suppress(OSError):
            leftover.unlink()


# --- the probe --------------------------------------------------------------------------------


class Unhealthy(Exception):
    """The heartbeat file does not show a healthy service; the message says why (one line)."""


def process_start(pid: int) -> float | None:
    """Unix time at which process ``pid`` started (rounded down by up to 1 s), or None when this
    system has no procfs to tell. Raises :class:`Unhealthy` when procfs says there is no such
    process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            raise Unhealthy(f"the process that wrote it (pid {pid}) is not running") from None
        return None
    except OSError:
        return None
    try:
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22, starttime
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return btime + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def check(
    path: Path, max_age_s: float, *, require_nats: bool = False, now: float | None = None
) -> dict[str, Any]:
    """The parsed heartbeat when it shows a healthy service; raises :class:`Unhealthy` otherwise."""
    now = time.time() if now is None else now
    try:
        mtime = os.stat(path).st_mtime
        raw = path.read_bytes()
    except FileNotFoundError:
        raise Unhealthy(f"no heartbeat file {path} (not ready yet, or stopped)") from None
    except OSError as exc:
        raise Unhealthy(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        beat = json.loads(raw)
    except ValueError:
        raise Unhealthy(f"malformed heartbeat file {path}: not JSON") from None
    if not isinstance(beat, dict):
        raise Unhealthy(f"malformed heartbeat file {path}: not a JSON object")
    at = _number(beat.get("at"))
    if at is None:
        raise Unhealthy(f"malformed heartbeat file {path}: 'at' is not a unix time")
    if beat.get("nats") not in NATS_STATES:
        raise Unhealthy(f"malformed heartbeat file {path}: 'nats' is not one of {', '.join(NATS_STATES)}")
    pid = beat.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise Unhealthy(f"malformed heartbeat file {path}: 'pid' is not a process id")
    service = beat.get("service") if isinstance(beat.get("service"), str) else "?"
    age = now - at
    if age > max_age_s:
        raise Unhealthy(f"{service}: stale heartbeat, written {age:.1f} s ago (max {max_age_s:g} s)")
    if -age > max_age_s:
        raise Unhealthy(f"{service}: heartbeat time is {-age:.1f} s in the future")
    if now - mtime > max_age_s:
        raise Unhealthy(f"{service}: stale file, modified {now - mtime:.1f} s ago (max {max_age_s:g} s)")
    started = process_start(pid)
    if started is not None and at < started:
        raise Unhealthy(f"{service}: written before process {pid} started (left by an earlier process)")
    if require_nats and beat["nats"] != "connected":
        raise Unhealthy(f"{service}: NATS disconnected (the client is reconnecting)")
    return beat


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vidsage.health",
        description="Check a vidsage service's heartbeat file (for Kubernetes exec probes).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "check",
        help="exit 0 when the heartbeat file is fresh (and NATS connected), else 1 with the reason",
    )
    p.add_argument("path", type=Path, help="the service's VIDSAGE_HEALTH_FILE")
    p.add_argument(
        "--max-age-s", type=positive_seconds, required=True, help="oldest acceptable heartbeat, seconds"
    )
    p.add_argument("--require-nats", action="store_true", help="also require the NATS connection to be up")
    args = parser.parse_args(argv)
    try:
        check(args.path, args.max_age_s, require_nats=args.require_nats)
    except Unhealthy as exc:
        sys.stderr.write(f"unhealthy: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
