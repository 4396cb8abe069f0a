"""The whole system started exactly as ``make run`` starts it (``vidsage dev``): real nats-server,
real S3 server and the five service processes, on free loopback ports, with the offline models
from ``make setup``.

:func:`dev_system` starts one and stops it. The end-to-end, CLI and browser tests share one for the
whole session (the ``system`` fixture in tests/conftest.py); :func:`empty_library` gives each of those
test modules the library of a freshly started system, so no module sees another's videos.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.support.paths import MODELS
from vidsage_dev.ports import free_port
from vidsage_dev.system import DevConfig, DevSystem

FINISHED = ("ready", "failed")
"""The statuses after which no stage touches a video any more."""


@contextlib.contextmanager
def dev_system(
    state_dir: Path, *, output: io.StringIO | None = None, **extra_env: str
) -> Iterator[DevSystem]:
    """Start it, yield it, stop it, and check that no process outlives it and that NATS refused
    no service anything (every service runs as its own NATS user, with least privilege).
    ``output`` receives the runner's output (every process's lines, name-prefixed)."""
    config = DevConfig(
        nats_port=free_port(),
        nats_monitor_port=free_port(),
        s3_port=free_port(),
        gateway_port=free_port(),
        state_dir=state_dir,
        models_dir=MODELS,
        extra_env={"VIDSAGE_LOG_FORMAT": "json", **extra_env},
    )
    dev = DevSystem(config, sink=output if output is not None else io.StringIO())
    dev.start()
    pids = [p.pid for p in dev.processes()]
    assert len(pids) == 8, pids  # nats, s3 and six services
    try:
        yield dev
    finally:
        dev.stop()
        _gone, alive = psutil.wait_procs(
            [psutil.Process(p) for p in pids if psutil.pid_exists(p)], timeout=10
        )
        assert not alive, f"processes left after stop: {alive}"
        refused = permission_violations(dev)
        assert not refused, "NATS refused a service:\n" + "\n".join(refused)


def permission_violations(dev: DevSystem) -> list[str]:
    """The lines of the NATS log where the server refused a client a publish or a subscription."""
    log = dev.logs_dir / "nats.log"
    return [line for line in log.read_text(errors="replace").splitlines() if "Violation" in line]


def call_api(method: str, url: str, key: str, body: Any = None) -> tuple[int, Any]:
    """One blocking request with ``key`` (``body`` sent as JSON when given): the status and the
    JSON answer (None when empty), errors included."""
    headers = {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def empty_library(base_url: str, key: str, *, timeout_s: float = 300) -> None:
    """Bring a running system back to an empty library, as a fresh start would have it: every
    tenant's, through the admin ``key`` (``?owner=*``).

    Waits until every video has finished processing (``ready`` or ``failed``: no stage will write
    for it again), deletes them all through the public API, and waits until search finds no passage
    at all (the indexer drops a video's points when it sees ``vidsage.video.deleted``; on a fresh
    system, search answers 503 until the indexer has loaded its model). Plain blocking HTTP, so it
    serves the asyncio and the Playwright (sync) tests alike.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        status, page = call_api("GET", f"{base_url}/api/videos?limit=200&owner=*", key)
        assert status == 200, page
        videos = page["items"]
        if not videos:
            break
        busy = [(v["id"], v["status"]) for v in videos if v["status"] not in FINISHED]
        if busy:
            assert time.monotonic() < deadline, f"videos still processing after {timeout_s} s: {busy}"
            time.sleep(0.2)
            continue
        for video in videos:
            status, body = call_api(
                "DELETE", f"{base_url}/api/videos/{video['id']}?owner={video['owner']}", key
            )
            assert status in (204, 404), (video["id"], status, body)
    query = urllib.parse.urlencode({"q": "the", "limit": 1, "owner": "*"})
    while True:
        status, found = call_api("GET", f"{base_url}/api/search?{query}", key)
        if status == 200 and not found["hits"]:
            return
        assert status in (200, 503), found
        assert time.monotonic() < deadline, f"search after {timeout_s} s: {status} {found}"
        time.sleep(0.1)
