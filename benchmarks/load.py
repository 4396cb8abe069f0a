"""Load on the whole system as ``make run`` starts it: 10 concurrent uploads of a spoken clip until
every one is ready, then 50 concurrent chats about one of them (the offline extractive answerer),
counting errors; the same again with competing workers (``--replicas ingest=2,transcriber=2``) and
with ``--nats-sync always`` (every JetStream write fsynced before its ack). Also the raw cost of that
fsync: awaited JetStream publishes per second on one nats-server, default sync and ``always``.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import nats

from tests.support.auth import bearer
from tests.support.chaos import Client, VideoHistory
from tests.support.paths import MODELS
from tests.support.speech import SCRIPTS, make_speech_video
from vidsage.bus import provision_stream
from vidsage.contracts.events import EventType
from vidsage.settings import NatsSettings
from vidsage_dev.infra import start_nats
from vidsage_dev.ports import free_port
from vidsage_dev.system import DevConfig, DevSystem

UPLOADS = 10
CHATS = 50
PUBLISHES = 2000
CONFIGS: dict[str, dict[str, Any]] = {
    "make run": {},
    "replicas ingest=2,transcriber=2": {"replicas": {"ingest": 2, "transcriber": 2}},
    "nats sync always": {"nats_sync": "always"},
}


async def _uploads(client: Client, data: bytes) -> tuple[float, int, str]:
    videos = [VideoHistory(f"load-{i}", time.monotonic()) for i in range(UPLOADS)]
    started = time.perf_counter()
    await asyncio.gather(*(client.upload(v, data, f"{v.label}.mp4") for v in videos))
    pending = {v.video_id for v in videos if v.acknowledged}
    errors = UPLOADS - len(pending)
    first = next(iter(pending), "")
    while pending:
        for video_id in list(pending):
            assert video_id is not None
            code, body = await client.status(video_id)
            if code == 200 and body is not None and body["status"] in ("ready", "failed"):
                pending.discard(video_id)
                errors += body["status"] == "failed"
        await asyncio.sleep(0.25)
    return time.perf_counter() - started, errors, first or ""


async def _chats(client: Client, video_id: str) -> tuple[float, int]:
    started = time.perf_counter()
    results = await asyncio.gather(
        *(client.chat(video_id, f"How many lanterns? ({i})") for i in range(CHATS))
    )
    return time.perf_counter() - started, sum(not ok for ok, _ in results)


async def _measure(system: DevSystem, data: bytes) -> tuple[float, int, float, int]:
    assert system.admin_key is not None
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=120), headers=bearer(system.admin_key)
    ) as session:
        client = Client(session, system.gateway_url)
        up_s, up_errors, video_id = await _uploads(client, data)
        chat_s, chat_errors = await _chats(client, video_id)
    return up_s, up_errors, chat_s, chat_errors


async def _publish_rate(url: str) -> float:
    """Awaited publishes per second into vidsage's own stream (its configuration, a throwaway server)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await provision_stream(js, NatsSettings(url=url))
        subject = EventType.UPLOADED.subject
        started = time.perf_counter()
        for i in range(PUBLISHES):
            await js.publish(subject, b"x" * 512, headers={"Nats-Msg-Id": str(i)})
        return PUBLISHES / (time.perf_counter() - started)
    finally:
        await nc.close()


def _fsync_cost(root: Path) -> dict[str, float]:
    rates = {}
    for sync in (None, "always"):
        server = start_nats(
            root / f"sync-{sync}", "127.0.0.1", free_port(), free_port(), io.StringIO(), sync_interval=sync
        )
        try:
            rates[sync or "default"] = asyncio.run(_publish_rate(server.url))
        finally:
            server.stop()
    return rates


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="vidsage-bench-load-") as tmp:
        root = Path(tmp)
        data = make_speech_video(root / "speech.mp4", SCRIPTS["short"]).read_bytes()
        rates = _fsync_cost(root)
        print(
            f"load: {UPLOADS} concurrent uploads of a {len(data) / 1e6:.1f} MB, ~12 s spoken clip to ready, "
            f"then {CHATS} concurrent chats (extractive)"
        )
        failed = False
        for name, extra in CONFIGS.items():
            config = DevConfig(
                nats_port=0, nats_monitor_port=0, s3_port=0, gateway_port=0,
                state_dir=root / name.replace(" ", "-").replace(",", "-"),
                models_dir=MODELS,
                extra_env={"VIDSAGE_LOG_FORMAT": "json"},
                ready_timeout=120,
                **extra,
            )  # fmt: skip
            with DevSystem(config, sink=io.StringIO()) as system:
                up_s, up_errors, chat_s, chat_errors = asyncio.run(_measure(system, data))
            failed |= bool(up_errors or chat_errors)
            print(
                f"  {name:<32} uploads to ready {up_s:6.1f} s, errors {up_errors}; "
                f"chats {chat_s:5.2f} s, errors {chat_errors}"
            )
        print(
            f"  awaited JetStream publishes, one nats-server: default sync {rates['default']:,.0f}/s, "
            f"sync always {rates['always']:,.0f}/s ({rates['default'] / rates['always']:.1f}x slower)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
