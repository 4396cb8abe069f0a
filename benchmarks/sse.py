"""Live status over Server-Sent Events: how fast a status change reaches a client, and what idle
streams cost the gateway.

The gateway runs as its own process (``python -m vidsage_gateway``, as in ``make run``) over a real
nats-server and S3 server, so its RSS and CPU are its own; this process plays the worker (it
updates the record and publishes the event on the stream, as a worker does) and the clients.

1. **Latency**: the time from ``js.publish`` of a status event to its frame at an SSE client
   (p50/p95 over ``EVENTS`` events), beside the raw bus: the same publish to a plain core NATS
   subscriber in this process (what any relay over NATS costs at least). Measured with one stream
   open; with ``STREAMS`` idle streams of another tenant open (filtered out at the source: they
   must cost the one that listens next to nothing); and with ``STREAMS`` streams of the same tenant
   (``/api/events``), which get every one of those frames too: the fan-out to a thousand listeners,
   whose last one waits for the 999 writes before it.
2. **Idle streams**: the gateway's RSS and CPU% over ``IDLE_WINDOW_S`` with no stream, then with
   ``STREAMS`` open streams (one key, one tenant, ``/api/events``), heartbeats every
   ``HEARTBEAT_S`` s: memory per stream, CPU% idle, and the CPU each heartbeat costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import psutil

from benchmarks._servers import gateway_process, local_servers, wait_ready
from tests.support.auth import ADMIN_KEY, bearer
from tests.support.events import ingested
from vidsage.bus import connect, publish_event
from vidsage.catalog import Catalog
from vidsage.contracts import names
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import VideoRecord
from vidsage.provision import open_shared
from vidsage_client.sse import read_sse
from vidsage_dev.processes import ManagedProcess

EVENTS = 200
STREAMS = 1000
HEARTBEAT_S = 2.0
IDLE_WINDOW_S = 10.0
OWNER = "local"  # the bootstrap admin key's tenant
OTHER = "others"  # the tenant of the idle streams (the admin key acts for it)
KEY_VARIABLE = "VIDSAGE_BENCH_KEY"


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


class Gateway:
    def __init__(self, process: ManagedProcess, base: str) -> None:
        self.process = process
        self.base = base
        self.ps = psutil.Process(process.pid)

    def rss_mib(self) -> float:
        return float(self.ps.memory_info().rss) / 2**20

    async def cpu_percent(self, seconds: float) -> float:
        """The gateway's CPU% (of one core) over ``seconds``."""
        before = self.ps.cpu_times()
        await asyncio.sleep(seconds)
        after = self.ps.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        return 100.0 * used / seconds


async def _open(session: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientResponse, AsyncIterator]:  # type: ignore[type-arg]
    resp = await session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
    assert resp.status == 200, await resp.text()
    messages = read_sse(resp)
    first = await anext(messages)
    assert first.event in ("open", "status"), first
    return resp, messages


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read an idle stream (its heartbeats) until it is closed."""
    try:
        async for _ in resp.content.iter_any():
            pass
    except (aiohttp.ClientError, asyncio.CancelledError):
        pass


async def latency(js: object, catalog: Catalog, session: aiohttp.ClientSession, base: str) -> list[float]:
    """Seconds from publish to the frame, per event, on one per-video stream."""
    record = VideoRecord(
        id=new_id(), owner=OWNER, filename="b.mp4", size=1, mime="video/mp4", format="mp4", duration_s=1
    )
    await catalog.create(record)
    resp, messages = await _open(session, f"{base}/api/videos/{record.id}/events")
    seconds = []
    try:
        for i in range(EVENTS):
            event = ingested(record.id, OWNER)
            t0 = time.perf_counter()
            await publish_event(js, event, msg_id=f"{record.id}:bench:{i}")  # type: ignore[arg-type]
            message = await anext(messages)
            seconds.append(time.perf_counter() - t0)
            assert json.loads(message.data)["video_id"] == record.id
    finally:
        resp.close()
    return seconds


async def raw_latency(nc: object, js: object) -> list[float]:
    """Seconds from ``js.publish`` of an event to a core NATS subscriber of its subject."""
    got: asyncio.Queue[float] = asyncio.Queue()

    async def on_msg(_: object) -> None:
        got.put_nowait(time.perf_counter())

    sub = await nc.subscribe(names.event_subject("ingested"), cb=on_msg)  # type: ignore[attr-defined]
    seconds = []
    video_id = new_id()
    try:
        for i in range(EVENTS):
            event = ingested(video_id, "raw")
            t0 = time.perf_counter()
            await publish_event(js, event, msg_id=f"{video_id}:raw:{i}")  # type: ignore[arg-type]
            seconds.append(await got.get() - t0)
    finally:
        await sub.unsubscribe()
    return seconds


async def run() -> dict[str, float]:
    with (
        local_servers() as settings,
        gateway_process(
            settings,
            VIDSAGE_GATEWAY__REQUESTS_PER_MINUTE="100000",
            VIDSAGE_SSE__HEARTBEAT_S=str(HEARTBEAT_S),
            VIDSAGE_SSE__MAX_PER_OWNER=str(STREAMS + 10),
        ) as (process, base),
    ):
        gateway = Gateway(process, base)
        nc = await connect(settings.nats, "bench", wait_s=10)
        results: dict[str, float] = {}
        try:
            js = nc.jetstream()
            shared = await open_shared(js, settings)
            catalog = Catalog(shared.videos)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector, headers=bearer(ADMIN_KEY)) as session:
                await wait_ready(session, base)
                raw = await raw_latency(nc, js)
                alone = await latency(js, catalog, session, base)
                await asyncio.sleep(1)
                results["rss_idle_MiB"] = gateway.rss_mib()
                results["cpu_idle_pct"] = await gateway.cpu_percent(IDLE_WINDOW_S)
                # the idle clients live in a process of their own: their reading is not this one's;
                # first another tenant's (an admin's ?owner=), then this tenant's (they get every frame)
                t0 = time.perf_counter()
                async with holding(base, f"/api/events?owner={OTHER}"):
                    results["open_s"] = time.perf_counter() - t0
                    await asyncio.sleep(HEARTBEAT_S * 2)
                    results["rss_streams_MiB"] = gateway.rss_mib()
                    results["cpu_streams_pct"] = await gateway.cpu_percent(IDLE_WINDOW_S)
                    among = await latency(js, catalog, session, base)
                async with holding(base, "/api/events"):
                    crowded = await latency(js, catalog, session, base)
        finally:
            await nc.close()
    for name, values in (("raw", raw), ("alone", alone), ("among", among), ("crowded", crowded)):
        results[f"{name}_p50_ms"] = pct(values, 50) * 1000
        results[f"{name}_p95_ms"] = pct(values, 95) * 1000
    return results


@contextlib.asynccontextmanager
async def holding(base: str, path: str) -> AsyncIterator[None]:
    """``STREAMS`` streams of ``path`` held open (and read) by a child process."""
    holder = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "benchmarks.sse", "hold", base + path, str(STREAMS)),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, KEY_VARIABLE: ADMIN_KEY},  # drawn per process: pass this one on
    )
    assert holder.stdout is not None
    try:
        line = await holder.stdout.readline()
        assert line.strip() == b"open", line
        yield
    finally:
        holder.terminate()
        await holder.wait()


async def hold(url: str, count: int) -> None:
    """Open ``count`` streams of ``url``, say ``open`` on stdout, read them until killed."""
    connector = aiohttp.TCPConnector(limit=0)
    key = os.environ[KEY_VARIABLE]
    async with aiohttp.ClientSession(connector=connector, headers=bearer(key)) as session:
        streams = [await _open(session, url) for _ in range(count)]
        sys.stdout.write("open\n")
        sys.stdout.flush()
        await asyncio.gather(*(_drain(resp) for resp, _ in streams))


def main() -> int:
    if sys.argv[1:2] == ["hold"]:  # the idle clients' process (see run())
        asyncio.run(hold(sys.argv[2], int(sys.argv[3])))
        return 0
    r = asyncio.run(run())
    per_stream_kib = (r["rss_streams_MiB"] - r["rss_idle_MiB"]) * 1024 / STREAMS
    heartbeats_per_s = STREAMS / HEARTBEAT_S
    cpu_added = max(r["cpu_streams_pct"] - r["cpu_idle_pct"], 0.0)
    us_per_heartbeat = cpu_added / 100 / heartbeats_per_s * 1e6
    ratio = r["alone_p50_ms"] / r["raw_p50_ms"] if r["raw_p50_ms"] else float("inf")
    rows = [
        (
            "status event → SSE frame, 1 stream (p50 / p95)",
            f"{r['alone_p50_ms']:.2f} / {r['alone_p95_ms']:.2f} ms",
            "p95 <= 50 ms",
            r["alone_p95_ms"] <= 50,
        ),
        (
            "  the same publish → a core NATS subscriber (p50 / p95)",
            f"{r['raw_p50_ms']:.2f} / {r['raw_p95_ms']:.2f} ms ({ratio:.1f}x)",
            "",
            True,
        ),
        (
            f"status event → SSE frame, {STREAMS} other tenants' streams idle",
            f"{r['among_p50_ms']:.2f} / {r['among_p95_ms']:.2f} ms",
            "p95 <= 50 ms",
            r["among_p95_ms"] <= 50,
        ),
        (
            f"status event → SSE frame, fanned out to {STREAMS} more streams",
            f"{r['crowded_p50_ms']:.2f} / {r['crowded_p95_ms']:.2f} ms",
            "p50 <= 100 ms",
            r["crowded_p50_ms"] <= 100,
        ),
        (
            f"gateway RSS: no stream → {STREAMS} idle streams",
            f"{r['rss_idle_MiB']:.0f} → {r['rss_streams_MiB']:.0f} MiB ({per_stream_kib:.1f} KiB/stream)",
            "<= 64 KiB/stream",
            per_stream_kib <= 64,
        ),
        (
            f"gateway CPU idle: no stream → {STREAMS} streams (heartbeat {HEARTBEAT_S:g} s)",
            f"{r['cpu_idle_pct']:.1f} → {r['cpu_streams_pct']:.1f} % of a core",
            "<= 10 %",
            r["cpu_streams_pct"] <= 10,
        ),
        (
            "  CPU per heartbeat (ping + auth re-check)",
            f"{us_per_heartbeat:.0f} µs ({heartbeats_per_s:.0f}/s)",
            "",
            True,
        ),
        (f"opening {STREAMS} streams one after the other", f"{r['open_s']:.1f} s", "", True),
    ]
    print(f"\nlive status (SSE) benchmark ({EVENTS} events per latency run, gateway in its own process)")
    for name, value, target, ok in rows:
        status = ("ok" if ok else "MISSED") if target else ""
        print(f"  {name:<62} {value:<40} {('target ' + target) if target else '':<20} {status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
