"""A resumable (tus) upload's throughput against the seed upload (``POST /api/videos/upload``) of the
same 100 MiB file, through the same gateway process, to the same S3 server.

The file is a real MP4 (10 s) padded by a trailing ``free`` box to 100 MiB (the upload cap), so the
gateway validates it like any upload. Three ways in, each timed from the first byte sent to the
stored, checked, recorded video:

- the seed upload (multipart form, one request);
- tus as ``vidsage upload`` sends it: creation, then one PATCH with the whole file
  (:func:`vidsage_client.tus.upload_resumable`);
- tus in 10 MiB PATCHes (as a browser client with a chunk size sends it): each PATCH ends with a
  tail below one S3 part, stored as a small object and read back by the next PATCH.

The gateway's peak RSS growth during each is sampled too (nothing is buffered whole).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import aiohttp

from benchmarks._servers import gateway_process, local_servers, wait_ready
from benchmarks.upload_stream import RssSampler, gateway_upload
from tests.support.auth import ADMIN_KEY, bearer
from tests.support.media import make_video, pad_mp4
from vidsage_client.client import Client
from vidsage_client.tus import UploadState, upload_resumable

SIZE = 100 * 1024 * 1024
CHUNK = 10 * 1024 * 1024
ROUNDS = 3
TUS = {"Tus-Resumable": "1.0.0"}


async def tus_in_chunks(session: aiohttp.ClientSession, base: str, path: Path) -> float:
    t0 = time.perf_counter()
    headers = {**TUS, "Upload-Length": str(SIZE), "Upload-Metadata": "filename YmVuY2gubXA0"}
    async with session.post(f"{base}/api/uploads/", headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        url = base + resp.headers["Location"]
    offset = 0
    with path.open("rb") as f:
        while offset < SIZE:
            chunk = f.read(CHUNK)
            patch = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
            async with session.patch(url, data=chunk, headers=patch) as resp:
                assert resp.status == 204, await resp.text()
            offset += len(chunk)
    assert "Vidsage-Video-Id" in resp.headers
    return time.perf_counter() - t0


async def run() -> dict[str, list[float]]:
    results: dict[str, list[float]] = {k: [] for k in ("seed", "tus", "tus_chunks", "rss_seed", "rss_tus")}
    with (
        local_servers() as settings,
        gateway_process(settings, VIDSAGE_GATEWAY__QUOTA_BYTES="0") as (gateway, base),
    ):
        root = settings.state_dir
        clip = make_video(root / "clip.mp4", "mp4", duration_s=10, width=640, height=360)
        path = pad_mp4(clip, root / "bench.mp4", SIZE)
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=300), headers=bearer(ADMIN_KEY)
            ) as session,
            Client(base, api_key=ADMIN_KEY) as client,
        ):
            await wait_ready(session, base)
            state = UploadState(root / "uploads.json")
            for _ in range(ROUNDS):
                with RssSampler(gateway.pid) as sampler:
                    seconds, _ = await gateway_upload(session, base, path)
                results["seed"].append(seconds)
                results["rss_seed"].append((sampler.peak - sampler.baseline) / 2**20)
                with RssSampler(gateway.pid) as sampler:
                    t0 = time.perf_counter()
                    await upload_resumable(client, path, state=state)
                    results["tus"].append(time.perf_counter() - t0)
                results["rss_tus"].append((sampler.peak - sampler.baseline) / 2**20)
                results["tus_chunks"].append(await tus_in_chunks(session, base, path))
    return results


def main() -> int:
    r = asyncio.run(run())
    mib = SIZE / 2**20
    seed, tus, chunks = (statistics.median(r[k]) for k in ("seed", "tus", "tus_chunks"))
    print(
        f"\ntus vs seed upload, {mib:.0f} MiB file (median of {ROUNDS} rounds, same gateway, same S3 server)"
    )
    print(f"  {'seed POST /api/videos/upload':<44} {seed:6.2f} s  {mib / seed:6.1f} MiB/s")
    for name, seconds in (("tus, one PATCH (vidsage upload)", tus), ("tus, 10 MiB PATCHes", chunks)):
        print(f"  {name:<44} {seconds:6.2f} s  {mib / seconds:6.1f} MiB/s  ratio {seed / seconds:.2f}x")
    print(f"  gateway peak RSS growth: seed {max(r['rss_seed']):.1f} MiB, tus {max(r['rss_tus']):.1f} MiB")
    print("  (ratio = tus throughput / seed throughput)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
