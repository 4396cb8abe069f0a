"""Webhook delivery latency: from an event's publish on the bus to its signed POST at the receiver.

Real nats-server and S3 server; the gateway (to register the endpoints), the notifier (``serve``:
its durable consumer, the endpoint listing, the delivery record written before the ack, its HTTP
client) and an aiohttp receiver answering 204 run in this one process, so both ends read the same
clock. Events are published one at a time (each waits for its deliveries), as the pipeline makes
them:

1. one endpoint: p50 / p95 from publish to arrival;
2. fan-out: ten endpoints of the same tenant: p50 / p95 until the last of the ten has it.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time

import aiohttp
from aiohttp import web
from vidsage_notifier.__main__ import serve

from benchmarks._servers import local_servers
from tests.support.auth import bearer, create_accepted_key, gateway_auth_settings
from tests.support.gateway import running_gateway
from tests.support.local_http import serving
from vidsage.bus import publish_event
from vidsage.contracts.events import EventType, VideoIndexed
from vidsage.contracts.ids import new_id
from vidsage.contracts.webhooks import webhook_event_type
from vidsage.logging import setup_logging

INDEXED = webhook_event_type(EventType.INDEXED)
ROUNDS = 200
FANOUT = 10
FANOUT_ROUNDS = 100
WARMUP = 10


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


async def run() -> dict[str, float]:
    setup_logging("warning", "console")
    arrivals: dict[str, list[float]] = {}
    waiters: dict[str, tuple[int, asyncio.Event]] = {}

    async def receive(request: web.Request) -> web.Response:
        event_id = request.headers["Vidsage-Event-Id"]
        await request.read()
        arrivals.setdefault(event_id, []).append(time.perf_counter())
        want = waiters.get(event_id)
        if want is not None and len(arrivals[event_id]) >= want[0]:
            want[1].set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{hook}", receive)
    out: dict[str, float] = {}
    overrides = {
        "gateway": gateway_auth_settings(),
        "webhooks": {
            "allow_loopback": True,
            "max_per_owner": FANOUT + 1,
            "secret_key": secrets.token_urlsafe(32),
        },
        "notifier": {"concurrency": 8, "fetch_timeout_s": 1},
    }
    async with serving(app) as receiver:
        with local_servers(**overrides) as settings:
            stop = asyncio.Event()
            async with running_gateway(settings) as gw, aiohttp.ClientSession() as session:
                notifier = asyncio.create_task(serve(settings, stop))

                async def tenant(owner: str, endpoints: int) -> None:
                    key, _ = await create_accepted_key(session, gw.url, owner)
                    for i in range(endpoints):
                        hook = {"url": f"{receiver}/{owner}-{i}", "events": [INDEXED]}
                        async with session.post(
                            f"{gw.url}/api/webhooks", json=hook, headers=bearer(key)
                        ) as resp:
                            assert resp.status == 201, await resp.text()

                async def measure(owner: str, endpoints: int, rounds: int) -> list[float]:
                    took: list[float] = []
                    for i in range(rounds + WARMUP):
                        event = VideoIndexed(video_id=new_id(), owner=owner, passage_count=1)
                        done = asyncio.Event()
                        waiters[event.event_id] = (endpoints, done)
                        t0 = time.perf_counter()
                        await publish_event(gw.rt.js, event)
                        await asyncio.wait_for(done.wait(), 30)
                        if i >= WARMUP:
                            took.append((max(arrivals[event.event_id]) - t0) * 1000)
                    return took

                await tenant("bench-one", 1)
                await tenant("bench-fan", FANOUT)
                one = await measure("bench-one", 1, ROUNDS)
                fan = await measure("bench-fan", FANOUT, FANOUT_ROUNDS)
                stop.set()
                await asyncio.wait_for(notifier, 30)
            for name, took in (("one", one), ("fan", fan)):
                out.update({f"{name}_p50": statistics.median(took), f"{name}_p95": pct(took, 95)})
    return out


def main() -> int:
    r = asyncio.run(run())
    print(
        f"\nwebhooks benchmark (event published → signed POST at a local receiver; {ROUNDS} events to one "
        f"endpoint, {FANOUT_ROUNDS} to {FANOUT}; one process, a shared 2-core machine)"
    )
    rows = [
        ("one endpoint, p50 / p95", r["one_p50"], r["one_p95"]),
        (f"{FANOUT} endpoints (the last to receive), p50 / p95", r["fan_p50"], r["fan_p95"]),
    ]
    for name, p50, p95 in rows:
        print(f"  {name:<50} {p50:6.1f} / {p95:6.1f} ms")
    print(f"  fan-out cost: p50 {r['fan_p50'] / r['one_p50']:.2f}x one endpoint's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
