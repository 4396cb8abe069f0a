"""The workers' exec probe (from the chart) run for real against loopback TCP connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.chart import DEFAULTS, container, render

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp (Linux)")


def probe_command() -> list[str]:
    command = container(render(DEFAULTS), "transcriber")["startupProbe"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    return [sys.executable, *command[1:]]


def run_probe(url: str) -> int:
    environment = {**os.environ, "VIDSAGE_NATS__URL": url}
    return subprocess.run(probe_command(), env=environment, timeout=30, check=False).returncode


def test_probe_passes_only_while_connected_to_a_nats_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        url = f"nats://127.0.0.1:{port}"
        assert run_probe(url) == 1  # listening, nobody connected
        with socket.create_connection(("127.0.0.1", port)) as client:
            peer, _ = server.accept()
            with peer:
                assert run_probe(url) == 0
                assert run_probe(f"nats://a:1, {url}") == 0  # any of several servers
                assert run_probe("nats://127.0.0.1:1") == 1  # another port
            client.close()
