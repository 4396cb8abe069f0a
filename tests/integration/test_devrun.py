"""The local runner (``vidsage_dev``): real nats-server and rclone S3 server on free ports, and the
runner itself as a subprocess, checking that every stop path (SIGINT, SIGTERM, ``kill -9``)
leaves no process behind."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import nats
import psutil
import pytest
from minio import Minio
from minio.error import S3Error

from tests.support.paths import ROOT
from vidsage_dev.infra import start_nats, start_s3
from vidsage_dev.ports import free_port
from vidsage_dev.processes import NAME_WIDTH, DevRunError, ManagedProcess
from vidsage_dev.system import DevConfig, DevSystem

ACCESS_KEY = "devrun-access"
SECRET_KEY = "devrun-secret-key"
REPO_SRC = ROOT / "libs" / "vidsage-dev" / "src"
T = TypeVar("T")


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until every pid is gone; return those still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if not _gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if not _gone(p)]
    return alive


def _wait_printed(lines: list[str], text: str, timeout: float = 30) -> None:
    """Wait until a process has printed ``text`` (the runner waits for the gateway only; a worker
    may still be starting its interpreter when the test body is done)."""
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lines):
        assert time.monotonic() < deadline, f"nothing printed {text!r}"
        time.sleep(0.05)


def _minio(endpoint: str, secret: str = SECRET_KEY, access_key: str = ACCESS_KEY) -> Minio:
    return Minio(
        endpoint.removeprefix("http://"),
        access_key=access_key,
        secret_key=secret,
        secure=False,
        region="us-east-1",
    )


async def _jetstream_roundtrip(url: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        await js.add_stream(name="DEVRUN", subjects=["devrun.>"])
        first = await js.publish("devrun.x", b"1", headers={"Nats-Msg-Id": "m1"})
        again = await js.publish("devrun.x", b"1", headers={"Nats-Msg-Id": "m1"})
        assert first.seq == 1
        assert again.duplicate
    finally:
        await nc.close()


# ------------------------------------------------------------------------------------------------
# infrastructure


@pytest.mark.timeout(60)
def test_one_nats_config_holds_the_users_and_the_sync_interval(tmp_path: Path) -> None:
    """--nats-sync with NATS auth on: both settings in the one nats.conf (mode 0600) every cluster
    member reads; the server applies both."""
    import urllib.request

    from vidsage.contracts.permissions import ACCESS
    from vidsage_dev.natsauth import authorization

    monitor = free_port()
    users = authorization({user: f"p{user}" for user in ACCESS})
    server = start_nats(
        tmp_path,
        "127.0.0.1",
        free_port(),
        monitor,
        sink=io.StringIO(),
        sync_interval="always",
        authorization=users,
    )
    try:
        config = tmp_path / "nats.conf"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert json.loads(config.read_text())["jetstream"] == {"sync_interval": "always"}
        varz = json.loads(urllib.request.urlopen(f"{server.monitor_url}/varz", timeout=5).read())
        assert varz["auth_required"] is True
        assert varz["jetstream"]["config"]["sync_always"] is True
    finally:
        server.stop(5)


@pytest.mark.timeout(60)
def test_nats_and_s3_start_and_stop_without_leftovers(tmp_path: Path) -> None:
    lines: list[str] = []
    t0 = time.monotonic()
    nats_server = start_nats(tmp_path, "127.0.0.1", free_port(), free_port(), sink=lines)
    s3 = start_s3(tmp_path, "127.0.0.1", free_port(), ACCESS_KEY, SECRET_KEY, sink=lines, buckets=["pre"])
    assert time.monotonic() - t0 < 15
    pids = [nats_server.pid, s3.pid]
    try:
        assert nats_server.alive
        assert s3.alive
        assert nats_server.url.startswith("nats://127.0.0.1:")
        assert s3.endpoint.startswith("http://127.0.0.1:")
        # each child leads its own process group (Ctrl-C in a terminal reaches only the runner)
        assert os.getpgid(nats_server.pid) == nats_server.pid
        assert os.getpgid(s3.pid) == s3.pid
        asyncio.run(_jetstream_roundtrip(nats_server.url))
        assert _minio(s3.endpoint).bucket_exists("pre")  # pre-created as a folder
        # the secret is passed through the environment, never on the command line
        assert SECRET_KEY not in " ".join(psutil.Process(s3.pid).cmdline())
    finally:
        nats_server.stop()
        s3.stop()
    assert not _wait_gone(pids, 5)
    assert not nats_server.alive
    assert not s3.alive
    assert nats_server.returncode == 0
    # output is forwarded with the name prefix, and kept in the log files
    assert any(line.startswith("nats ") and "Server is ready" in line for line in lines)
    assert "Server is ready" in (tmp_path / "logs" / "nats.log").read_text()
    assert (tmp_path / "logs" / "s3.log").exists()
    assert (tmp_path / "nats" / "jetstream").is_dir()


@pytest.mark.timeout(60)
def test_s3_server_works_through_minio(tmp_path: Path) -> None:
    s3 = start_s3(tmp_path, "127.0.0.1", free_port(), ACCESS_KEY, SECRET_KEY, sink=io.StringIO())
    try:
        client = _minio(s3.endpoint)
        assert not client.bucket_exists("media")
        client.make_bucket("media")
        assert client.bucket_exists("media")
        data = bytes(range(256)) * 4096  # 1 MiB
        client.put_object(
            "media", "videos/v1/source.mp4", io.BytesIO(data), len(data), content_type="video/mp4"
        )
        stat = client.stat_object("media", "videos/v1/source.mp4")
        assert stat.size == len(data)
        assert stat.content_type == "video/mp4"

        resp = client.get_object("media", "videos/v1/source.mp4", offset=1000, length=5000)
        try:
            assert resp.data == data[1000:6000]
            # rclone answers a ranged GET with 200 (not 206) but the right Content-Range
            assert resp.headers["Content-Range"] == f"bytes 1000-5999/{len(data)}"
        finally:
            resp.close()
            resp.release_conn()
        resp = client.get_object("media", "videos/v1/source.mp4", offset=len(data) - 10)
        try:
            assert resp.data == data[-10:]
        finally:
            resp.close()
            resp.release_conn()

        # multipart upload (unknown length, 5 MiB parts)
        big = os.urandom(11 * 1024 * 1024)
        client.put_object("media", "videos/v1/big.bin", io.BytesIO(big), -1, part_size=5 * 1024 * 1024)
        resp = client.get_object("media", "videos/v1/big.bin")
        try:
            assert resp.data == big
        finally:
            resp.close()
            resp.release_conn()

        names = sorted(o.object_name for o in client.list_objects("media", prefix="videos/", recursive=True))
        assert names == ["videos/v1/big.bin", "videos/v1/source.mp4"]
        client.remove_object("media", "videos/v1/source.mp4")
        client.remove_object("media", "videos/v1/big.bin")
        assert list(client.list_objects("media", recursive=True)) == []

        # a wrong secret is refused
        with pytest.raises(S3Error):
            _minio(s3.endpoint, secret="wrong-secret").bucket_exists("media")
    finally:
        s3.stop()


@pytest.mark.timeout(30)
def test_managed_process_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    lines: list[str] = []
    proc = ManagedProcess("stubborn", [sys.executable, "-c", script], log_dir=tmp_path, sink=lines)
    deadline = time.monotonic() + 10
    while not any("up" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    code = proc.stop(timeout=1)
    assert 0.9 < time.monotonic() - t0 < 5
    assert code == -signal.SIGKILL
    assert proc.killed
    assert _gone(proc.pid)
    assert lines == [f"{'stubborn':<{NAME_WIDTH}} | up"]  # the name column: every process's name fits


@pytest.mark.timeout(30)
def test_s3_rejects_short_access_key(tmp_path: Path) -> None:
    with pytest.raises(DevRunError, match="at least 3"):
        start_s3(tmp_path, "127.0.0.1", free_port(), "ab", SECRET_KEY, sink=io.StringIO())


def test_config_defaults_follow_the_settings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDSAGE_S3__ACCESS_KEY", "from-env")
    monkeypatch.setenv("VIDSAGE_S3__BUCKET", "envbucket")
    config = DevConfig(state_dir=Path("/x"))
    assert config.access_key == "from-env"
    assert config.bucket == "envbucket"
    assert config.models_dir == Path("/x/models")
    assert "secret" not in repr(config)


# ------------------------------------------------------------------------------------------------
# the whole system, in process, with throw-away stand-in services written to tmp_path

_FAKE_SERVICE = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    NAME = {name!r}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(NAME, "nats", os.environ["VIDSAGE_NATS__URL"], flush=True)
    print(NAME, "nats user", os.environ.get("VIDSAGE_NATS__USER"), flush=True)
    print(NAME, "signing secret", "VIDSAGE_GATEWAY__SIGNING_SECRET" in os.environ, flush=True)
    if NAME == "gateway":
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                ready = self.path == "/readyz" and not os.environ.get("FAKE_NEVER_READY")
                self.send_response(200 if ready else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(
            (os.environ["VIDSAGE_GATEWAY__HOST"], int(os.environ["VIDSAGE_GATEWAY__PORT"])), Handler
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
    if os.environ.get("FAKE_CRASH") == NAME:
        time.sleep(1.5)
        print("boom", flush=True)
        sys.exit(7)
    stop.wait()
    print(NAME, "stopped", flush=True)
    """
)


@pytest.fixture
def fake_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "fake-services"
    for name in ("gateway", "worker"):
        package = root / f"vidsage_{name}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "__main__.py").write_text(_FAKE_SERVICE.format(name=name))
    monkeypatch.syspath_prepend(str(root))  # so that the runner's installed-check finds them
    return root


def _config(state: Path, fake_root: Path, **env: str) -> DevConfig:
    return DevConfig(
        nats_port=0,
        nats_monitor_port=0,
        s3_port=0,
        gateway_port=0,
        state_dir=state,
        services=("gateway", "worker"),
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        extra_env={"PYTHONPATH": f"{fake_root}{os.pathsep}{REPO_SRC}", **env},
        ready_timeout=20,
        stop_timeout=5,
    )


@pytest.mark.timeout(60)
def test_dev_system_detects_a_crashed_service_and_stops_everything(
    tmp_path: Path, fake_services: Path
) -> None:
    lines: list[str] = []
    system = DevSystem(_config(tmp_path / "state", fake_services, FAKE_CRASH="worker"), sink=lines)
    system.start()
    pids = [p.pid for p in system.processes()]
    assert len(pids) == 4
    info = json.loads(system.run_file.read_text())
    assert info["nats"]["url"] == system.nats_url
    assert info["services"]["worker"]["pid"] == system.services["worker"].pid
    assert SECRET_KEY not in system.run_file.read_text()
    assert any(line.startswith("gateway") and system.nats_url in line for line in lines)

    code = system.wait()  # the worker exits with 7 after 1.5 s

    assert code == 7
    assert not _wait_gone(pids, 5)
    assert not system.run_file.exists()
    text = "\n".join(lines)
    assert "worker exited unexpectedly (exit code 7)" in text
    # services stop in reverse order, then S3, then NATS
    order = [line.split("stopped ")[1].split()[0] for line in lines if "| stopped " in line]
    assert order == ["gateway", "s3", "nats"]


@pytest.mark.timeout(60)
def test_dev_system_start_fails_cleanly_when_the_gateway_never_gets_ready(
    tmp_path: Path, fake_services: Path
) -> None:
    config = _config(tmp_path / "state", fake_services, FAKE_NEVER_READY="1")
    config.ready_timeout = 3
    system = DevSystem(config, sink=io.StringIO())
    with pytest.raises(DevRunError, match=r"readyz.*last answer: 503"):
        system.start()
    pids = [p.pid for p in system.processes()]
    assert len(pids) == 4
    assert not _wait_gone(pids, 5)
    assert not system.run_file.exists()


async def _nats_sign_in(url: str, user: str | None = None, password: str | None = None) -> None:
    nc = await nats.connect(
        url, user=user, password=password, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
    )
    await nc.close()


@pytest.mark.timeout(90)
def test_secrets_are_generated_on_first_start_and_reused_and_every_client_signs_in(
    tmp_path: Path, fake_services: Path
) -> None:
    state = tmp_path / "state"
    config = _config(state, fake_services)
    config.access_key = config.secret_key = None  # as `make run`: generated, not given
    lines: list[str] = []
    with DevSystem(config, sink=lines) as system:
        secrets_file = state / "secrets.json"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        first = secrets_file.read_bytes()
        generated = json.loads(first)
        access, secret = generated["s3"]["access_key"], generated["s3"]["secret_key"]
        assert system.s3_keys == (access, secret)
        # rclone serves with the generated keys, and no longer with the old fixed ones
        assert _minio(system.s3_endpoint, access_key=access, secret=secret).bucket_exists(config.bucket)
        with pytest.raises(S3Error):
            _minio(system.s3_endpoint, access_key="vidsage", secret="vidsage-secret").bucket_exists(
                config.bucket
            )
        # NATS takes no anonymous client, and each user with its own password only
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            asyncio.run(_nats_sign_in(system.nats_url))
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            asyncio.run(_nats_sign_in(system.nats_url, "subscriber", generated["nats"]["gateway"]))
        asyncio.run(_nats_sign_in(system.nats_url, "subscriber", generated["nats"]["subscriber"]))
        run_json = system.run_file.read_text()
        assert json.loads(run_json)["secrets_file"] == str(secrets_file)
        _wait_printed(lines, "worker signing secret")
    text = "\n".join(lines)
    # the service known to the permissions gets its own NATS user (and the gateway the signing secret)
    assert "gateway nats user gateway" in text
    assert "gateway signing secret True" in text
    assert "worker nats user None" in text
    assert "worker signing secret False" in text
    assert "stream and KV buckets provisioned" in text
    values = [v for group in generated.values() for v in group.values()]
    assert not [v for v in values if v in text or v in run_json]

    with DevSystem(_config(state, fake_services), sink=io.StringIO()) as again:  # the second start
        assert (state / "secrets.json").read_bytes() == first
        assert _minio(again.s3_endpoint, access_key=ACCESS_KEY).bucket_exists(config.bucket)  # env keys win
    config = _config(state, fake_services)
    config.access_key = config.secret_key = None
    with DevSystem(config, sink=io.StringIO()) as third:
        assert (state / "secrets.json").read_bytes() == first
        assert _minio(third.s3_endpoint, access_key=access, secret=secret).bucket_exists(config.bucket)


def test_the_runner_can_run_nats_open(tmp_path: Path, fake_services: Path) -> None:
    config = _config(tmp_path / "state", fake_services)
    config.nats_auth = False
    lines: list[str] = []
    with DevSystem(config, sink=lines) as system:
        asyncio.run(_jetstream_roundtrip(system.nats_url))
        _wait_printed(lines, "worker nats user")
    assert "worker nats user None" in "\n".join(lines)
    assert "gateway nats user None" in "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# the runner as a command


@pytest.fixture
def runners() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Runner subprocesses started by a test; SIGINTed (then killed) at teardown if still running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for runner in started:
        if runner.poll() is None:
            runner.send_signal(signal.SIGINT)
            try:
                runner.wait(timeout=20)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()


def _start_runner(
    runners: list[subprocess.Popen[bytes]], state: Path, log: Path
) -> tuple[subprocess.Popen[bytes], dict]:
    """``python -m vidsage_dev --services ''`` on free ports; wait for its run.json."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_SRC), env.get("PYTHONPATH")) if p)
    env["VIDSAGE_S3__ACCESS_KEY"] = ACCESS_KEY
    env["VIDSAGE_S3__SECRET_KEY"] = SECRET_KEY
    argv = [
        sys.executable, "-m", "vidsage_dev", "--services", "",
        "--state-dir", str(state),
        "--nats-port", str(free_port()), "--nats-monitor-port", str(free_port()),
        "--s3-port", str(free_port()), "--gateway-port", str(free_port()),
    ]  # fmt: skip
    with log.open("wb") as out:
        runner = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    runners.append(runner)
    run_file = state / "run.json"
    deadline = time.monotonic() + 30
    while True:
        try:
            info = json.loads(run_file.read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("runner_pid") == runner.pid:  # not a stale file of an earlier runner
            break
        if runner.poll() is not None or time.monotonic() > deadline:
            runner.kill()
            runner.wait()
            pytest.fail(f"runner did not become ready (exit {runner.returncode}):\n{log.read_text()}")
        time.sleep(0.05)
    return runner, info


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_runner_stops_cleanly_on_signal(
    tmp_path: Path, signum: signal.Signals, runners: list[subprocess.Popen[bytes]]
) -> None:
    runner, info = _start_runner(runners, tmp_path / "state", tmp_path / "runner.log")
    children = [info["nats"]["pid"], info["s3"]["pid"]]
    assert info["services"] == {}
    assert all(not _gone(pid) for pid in children)
    assert {psutil.Process(pid).ppid() for pid in children} == {runner.pid}

    runner.send_signal(signum)
    assert runner.wait(timeout=30) == 0, (tmp_path / "runner.log").read_text()

    assert not _wait_gone(children, 5)
    assert not (tmp_path / "state" / "run.json").exists()
    output = (tmp_path / "runner.log").read_text()
    assert "vidsage is running" in output
    assert "stopped nats" in output
    assert "stopped s3" in output


@pytest.mark.timeout(60)
def test_runner_killed_with_sigkill_leaves_no_orphans(
    tmp_path: Path, runners: list[subprocess.Popen[bytes]]
) -> None:
    runner, info = _start_runner(runners, tmp_path / "state", tmp_path / "runner.log")
    children = [info["nats"]["pid"], info["s3"]["pid"]]
    assert all(not _gone(pid) for pid in children)

    runner.kill()
    runner.wait(timeout=10)

    # PR_SET_PDEATHSIG: the kernel sends each child SIGTERM when the runner dies
    assert not _wait_gone(children, 5), f"orphans left: {children}"
    # the next run finds the stale run.json and replaces it
    runner2, info2 = _start_runner(runners, tmp_path / "state", tmp_path / "runner2.log")
    assert "removing stale" in (tmp_path / "runner2.log").read_text()
    runner2.send_signal(signal.SIGINT)
    assert runner2.wait(timeout=30) == 0
    assert not _wait_gone([info2["nats"]["pid"], info2["s3"]["pid"]], 5)


# ------------------------------------------------------------------------------------------------
# the clustered bus and competing workers


@pytest.mark.timeout(120)
def test_a_three_server_jetstream_cluster_keeps_acknowledged_events_when_the_leader_dies(
    tmp_path: Path,
) -> None:
    from tests.support.chaos import observe, stream_leader
    from vidsage.bus import connect
    from vidsage.contracts import names
    from vidsage.settings import NatsSettings

    config = DevConfig(
        nats_port=0, nats_monitor_port=0, nats_cluster_port=0, s3_port=0, state_dir=tmp_path / "state",
        services=(), access_key=ACCESS_KEY, secret_key=SECRET_KEY, nats_cluster=3,
    )  # fmt: skip
    system = DevSystem(config, sink=io.StringIO())
    system.start()
    try:
        assert [s.name for s in system.nats_servers] == ["nats-n1", "nats-n2", "nats-n3"]
        assert len(system.nats_urls.split(",")) == 3
        assert system.service_env()["VIDSAGE_NATS__REPLICAS"] == "3"
        assert json.loads(system.run_file.read_text())["nats"]["servers"][2]["name"] == "nats-n3"
        # NATS auth on, as make run has it: the runner's provisioner made the stream and the shared
        # buckets; the gateway's user publishes and writes, the observer reads the outcome
        credentials = system.nats_credentials("gateway")
        gateway = NatsSettings(
            url=system.nats_urls,
            user=credentials["VIDSAGE_NATS__USER"],
            password=credentials["VIDSAGE_NATS__PASSWORD"],
        )

        async def retried(call: Callable[[], Awaitable[T]]) -> T:
            # while the survivors elect a new leader (a few seconds), requests find no responder:
            # a client retries; what was acknowledged before stays
            deadline = time.monotonic() + 20
            while True:
                try:
                    return await call()
                except (
                    nats.errors.NoRespondersError,
                    nats.errors.TimeoutError,
                    nats.js.errors.NoStreamResponseError,
                ):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.25)

        async def publish_and_count(first: int, count: int) -> tuple[list[int], int]:
            nc = await connect(gateway, "devrun-test", wait_s=10)
            try:
                js = nc.jetstream(timeout=10)
                kv = await retried(lambda: js.key_value(names.VIDEOS_BUCKET))
                for i in range(first, first + count):
                    headers = {"Nats-Msg-Id": f"m{i}"}
                    ack = await retried(lambda: js.publish("vidsage.video.uploaded", b"{}", headers=headers))  # noqa: B023
                    assert not ack.duplicate
                await retried(lambda: kv.put("k", str(first).encode()))
            finally:
                await nc.close()
            async with observe(system) as seen:
                info = await retried(lambda: seen.stream_info(names.STREAM))
                assert info.cluster is not None
                replicas = [info.config.num_replicas or 0]
                for bucket in (names.VIDEOS_BUCKET, names.CACHE_BUCKET):
                    kv_info = await retried(lambda: seen.stream_info(names.kv_stream(bucket)))  # noqa: B023
                    replicas.append(kv_info.config.num_replicas or 0)
                return replicas, info.state.messages

        # python -m vidsage.provision made the stream and every shared bucket at 3 replicas
        assert asyncio.run(publish_and_count(0, 20)) == ([3, 3, 3], 20)
        leader = stream_leader(system)
        system.process(f"nats-{leader}").signal(signal.SIGKILL)
        system.process(f"nats-{leader}").wait(5)
        # two of three still form a majority: writes are acknowledged, nothing acknowledged is lost
        assert asyncio.run(publish_and_count(20, 20)) == ([3, 3, 3], 40)
        assert stream_leader(system) != leader
        system.restart(f"nats-{leader}")
        assert all(s.alive for s in system.nats_servers)
    finally:
        system.stop()


@pytest.fixture
def fake_workers(fake_services: Path) -> Path:
    package = fake_services / "vidsage_ingest"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(_FAKE_SERVICE.format(name="ingest"))
    return fake_services


@pytest.mark.timeout(60)
def test_replicas_run_as_processes_of_their_own_and_restart_alone(tmp_path: Path, fake_workers: Path) -> None:
    config = _config(tmp_path / "state", fake_workers)
    config.services = ("gateway", "ingest")
    config.replicas = {"ingest": 2}
    lines: list[str] = []
    system = DevSystem(config, sink=lines)
    system.start()
    try:
        assert list(system.services) == ["gateway", "ingest", "ingest-2"]
        tmpdirs = {system.services[n].env["TMPDIR"] for n in ("ingest", "ingest-2")}  # type: ignore[index]
        assert len(tmpdirs) == 2  # each its own temp folder, as each pod its own /tmp
        # both share the consumer: its max_ack_pending is sized for two processes
        assert {system.services[n].env["VIDSAGE_INGEST__PROCESSES"] for n in ("ingest", "ingest-2")} == {"2"}  # type: ignore[index]
        info = json.loads(system.run_file.read_text())
        assert set(info["services"]) == {"gateway", "ingest", "ingest-2"}
        log = system.logs_dir / "ingest-2.log"

        def started(times: int) -> bool:
            deadline = time.monotonic() + 10
            while log.read_text().count("ingest nats user") < times and time.monotonic() < deadline:
                time.sleep(0.05)
            return log.read_text().count("ingest nats user") == times

        assert started(1)
        old = system.services["ingest-2"]
        old.signal(signal.SIGKILL)
        old.wait(5)
        new = system.restart("ingest-2")
        assert new.alive
        assert new.pid != old.pid
        assert system.services["ingest-2"] is new
        assert system.services["ingest"].alive
        assert started(2)  # the same log, appended
    finally:
        system.stop()
    assert not system.processes()[0].alive
