"""Upload and download through the gateway vs the raw ``minio`` SDK, same file, same S3 server.

The gateway runs as its own process (as in ``make run``) so its RSS can be sampled while it
receives the upload. The file is a real MP4 (10 s) followed by a top-level ``free`` box that
pads it to 100 MB: valid for every demuxer, so the gateway validates it like any upload.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import struct
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from minio import Minio

from benchmarks._servers import ACCESS, SECRET, gateway_process, local_servers, wait_ready
from tests.support.auth import ADMIN_KEY, bearer
from tests.support.media import make_video
from vidsage.contracts import names

SIZE = 100_000_000
ROUNDS = 3


def make_file(path: Path) -> Path:
    clip = make_video(path.with_suffix(".clip.mp4"), "mp4", duration_s=10, width=640, height=360)
    data = clip.read_bytes()
    pad = SIZE - len(data)
    with path.open("wb") as f:
        f.write(data)
        f.write(struct.pack(">I4s", pad, b"free"))
        chunk = os.urandom(1 << 20)  # incompressible, like real video
        left = pad - 8
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    assert path.stat().st_size == SIZE
    return path


class RssSampler:
    """Peak RSS of a process, sampled every 5 ms on a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> RssSampler:
        self.baseline = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


async def gateway_upload(session: aiohttp.ClientSession, base: str, path: Path) -> tuple[float, str]:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("file", path.open("rb"), filename="bench.mp4", content_type="video/mp4")
    t0 = time.perf_counter()
    async with session.post(f"{base}/api/videos/upload", data=form) as resp:
        body = await resp.json()
        assert resp.status == 201, body
    return time.perf_counter() - t0, body["id"]


async def gateway_download(session: aiohttp.ClientSession, base: str, video_id: str) -> float:
    t0 = time.perf_counter()
    n = 0
    async with session.get(f"{base}/api/videos/{video_id}") as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(1 << 20):
            n += len(chunk)
    assert n == SIZE
    return time.perf_counter() - t0


def direct_put(client: Minio, bucket: str, path: Path, key: str) -> float:
    t0 = time.perf_counter()
    with path.open("rb") as f:
        client.put_object(bucket, key, f, SIZE, content_type="video/mp4")
    return time.perf_counter() - t0


def direct_get(client: Minio, bucket: str, key: str) -> float:
    t0 = time.perf_counter()
    resp = client.get_object(bucket, key)
    n = 0
    try:
        for chunk in resp.stream(1 << 20):
            n += len(chunk)
    finally:
        resp.close()
        resp.release_conn()
    assert n == SIZE
    return time.perf_counter() - t0


async def run() -> dict[str, float]:
    with local_servers() as settings, gateway_process(settings) as (gateway, base):
        path = make_file(settings.state_dir / "bench.mp4")
        client = Minio(settings.s3.endpoint.split("//")[1], ACCESS, SECRET, secure=False, region="us-east-1")
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=300), headers=bearer(ADMIN_KEY)
        ) as session:
            await wait_ready(session, base)
            bucket = names.S3_BUCKET
            loop = asyncio.get_running_loop()
            up_gw, up_raw, down_gw, down_raw, rss = [], [], [], [], []
            for i in range(ROUNDS):
                up_raw.append(await loop.run_in_executor(None, direct_put, client, bucket, path, f"raw/{i}"))
                with RssSampler(gateway.pid) as sampler:
                    seconds, video_id = await gateway_upload(session, base, path)
                up_gw.append(seconds)
                rss.append((sampler.peak - sampler.baseline) / 2**20)
                down_raw.append(await loop.run_in_executor(None, direct_get, client, bucket, f"raw/{i}"))
                down_gw.append(await gateway_download(session, base, video_id))
    mb = SIZE / 1e6
    return {
        "upload_gateway_s": statistics.median(up_gw),
        "upload_direct_s": statistics.median(up_raw),
        "download_gateway_MBps": mb / statistics.median(down_gw),
        "download_direct_MBps": mb / statistics.median(down_raw),
        "gateway_rss_growth_MiB": max(rss),
    }


def main() -> int:
    r = asyncio.run(run())
    up_ratio = r["upload_gateway_s"] / r["upload_direct_s"]
    down_ratio = r["download_gateway_MBps"] / r["download_direct_MBps"]
    rows = [
        (
            "upload 100 MB: gateway / direct put_object (time)",
            f"{r['upload_gateway_s']:.2f} s / {r['upload_direct_s']:.2f} s = {up_ratio:.2f}x",
            "<= 1.5",
            up_ratio <= 1.5,
        ),
        (
            "download 100 MB: gateway / direct get_object (throughput)",
            f"{r['download_gateway_MBps']:.0f} / {r['download_direct_MBps']:.0f} MB/s = {down_ratio:.2f}x",
            ">= 0.7",
            down_ratio >= 0.7,
        ),
        (
            "gateway peak RSS growth during upload",
            f"{r['gateway_rss_growth_MiB']:.1f} MiB",
            "<= 64 MiB",
            r["gateway_rss_growth_MiB"] <= 64,
        ),
    ]
    print(f"\nupload/download benchmark (median of {ROUNDS} rounds, same file, same S3 server)")
    for name, value, target, ok in rows:
        print(f"  {name:<58} {value:<34} target {target:<9} {'ok' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
