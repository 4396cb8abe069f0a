"""Authentication and tenancy: what they add to a request, measured against the same requests with
authentication turned off (``gateway.auth_disabled``, for benchmarks only), in the same run.

Two gateways run in-process on the same nats-server and S3 server: one as deployed (a tenant's
member key, the watched key copy, the per-tenant request counter in KV), one with authentication
off (every request an admin of the same tenant, no counter). Requests alternate between them, so
both see the same machine at the same moment.

1. ``GET /api/videos/<id>/status`` — the median and p95 of each, and the difference (target:
   at most 1 ms added to the median);
2. search at 10,000 passages in Qdrant Edge through each gateway and the real indexer (the query
   embedded by the real model; the stored passages carry random unit vectors and real BM25 terms,
   which the engine searches as it would embedded ones): p95 with authentication within 50 ms;
3. revocation: the time until a second gateway refuses a key revoked through the first.

Logging is at ``warning`` here (the request lines of both gateways would bury the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections.abc import AsyncIterator

import aiohttp
import numpy as np

from benchmarks._servers import local_servers
from benchmarks.search import WORDS
from tests.support.auth import ADMIN_KEY, bearer, create_key, gateway_auth_settings, revoke_key
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.paths import MODELS
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import VideoRecord
from vidsage.logging import setup_logging
from vidsage.runtime import open_runtime
from vidsage.settings import Settings
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.indexer import Indexer
from vidsage_indexer.store import Passage, open_store, passage_id
from vidsage_indexer.store.sparse import encode_document

OWNER = "bench"
STATUS_ROUNDS = 2000
QUERIES = 200
VIDEOS, PER_VIDEO = 50, 200  # 10,000 passages
REVOCATIONS = 20


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


@contextlib.asynccontextmanager
async def two_gateways(settings: Settings) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    """The gateway as deployed, and the same with authentication off (loopback only)."""
    off = settings.model_copy(
        update={"gateway": settings.gateway.model_copy(update={"auth_disabled": True, "owner": OWNER})}
    )
    async with running_gateway(settings) as on, running_gateway(off) as without:
        yield on, without


async def timed_get(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    async with session.get(url, headers=headers) as resp:
        await resp.read()
        assert resp.status == 200, resp.status
    return (time.perf_counter() - t0) * 1000


async def run() -> dict[str, float]:
    setup_logging("warning", "console")
    rng = random.Random(11)
    out: dict[str, float] = {}
    embedder = Embedder(Settings(_env_file=None).indexer, MODELS)
    embedder.load()
    # the benchmark's tenant may send as many requests as it likes; the counter still runs
    limits = {OWNER: {"requests_per_minute": 0}}
    with local_servers(gateway=gateway_auth_settings(tenant_limits=limits)) as settings:
        store = open_store(settings.indexer, settings.state_dir)
        store.ensure(embedder.dim)
        video_ids = [new_id() for _ in range(VIDEOS)]
        vectors = (
            np.random.default_rng(3).standard_normal((VIDEOS * PER_VIDEO, embedder.dim)).astype(np.float32)
        )
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        passages = [
            Passage(
                id=passage_id(vid, i),
                video_id=vid,
                owner=OWNER,
                filename=f"{vid}.mp4",
                start=i * 4.0,
                end=i * 4.0 + 4,
                text=" ".join(rng.choice(WORDS) for _ in range(40)),
                segment_ids=[i],
            )
            for vid in video_ids
            for i in range(PER_VIDEO)
        ]
        store.upsert(passages, vectors, [encode_document(p.text) for p in passages])
        stop = asyncio.Event()
        async with (
            open_runtime("indexer", settings, stop) as irt,
            two_gateways(settings) as (on, off),
            running_gateway(settings) as replica,
            aiohttp.ClientSession() as session,
        ):
            indexer = Indexer(irt, embedder, store)
            searches = await indexer.serve_search()
            for vid in video_ids:
                await on.rt.catalog.create(
                    VideoRecord(
                        id=vid,
                        owner=OWNER,
                        filename="b.mp4",
                        size=1,
                        mime="video/mp4",
                        format="mp4",
                        duration_s=800,
                    )
                )
            key, _ = await create_key(session, on.url, OWNER)
            member = bearer(key)

            # 1. the status request, alternating between the two gateways
            status = f"/api/videos/{video_ids[0]}/status"
            for _ in range(200):  # warm-up: connections, caches, the counter's revision
                await timed_get(session, on.url + status, member)
                await timed_get(session, off.url + status, {})
            with_auth, without = [], []
            for _ in range(STATUS_ROUNDS):
                with_auth.append(await timed_get(session, on.url + status, member))
                without.append(await timed_get(session, off.url + status, {}))
            out["status_on_p50"], out["status_off_p50"] = (
                statistics.median(with_auth),
                statistics.median(without),
            )
            out["status_on_p95"], out["status_off_p95"] = pct(with_auth, 95), pct(without, 95)

            # 2. search at 10k passages, across the tenant's videos and within one
            for label, scoped in (("all", False), ("one", True)):
                on_ms, off_ms = [], []
                for _ in range(QUERIES):
                    query = f"/api/search?q={'+'.join(rng.sample(WORDS, 4))}&limit=10"
                    if scoped:
                        query += f"&video_id={rng.choice(video_ids)}"
                    on_ms.append(await timed_get(session, on.url + query, member))
                    off_ms.append(await timed_get(session, off.url + query, {}))
                out[f"search_{label}_on_p50"], out[f"search_{label}_on_p95"] = pct(on_ms, 50), pct(on_ms, 95)
                out[f"search_{label}_off_p50"], out[f"search_{label}_off_p95"] = (
                    pct(off_ms, 50),
                    pct(off_ms, 95),
                )

            # 3. revocation through one gateway, seen by another
            took = []
            for _ in range(REVOCATIONS):
                doomed, doomed_id = await create_key(session, on.url, OWNER)
                while True:  # until the replica knows the new key
                    async with session.get(f"{replica.url}/api/usage", headers=bearer(doomed)) as resp:
                        if resp.status == 200:
                            break
                await revoke_key(session, on.url, doomed_id, admin_key=ADMIN_KEY)
                t0 = time.perf_counter()
                while True:
                    async with session.get(f"{replica.url}/api/usage", headers=bearer(doomed)) as resp:
                        if resp.status == 401:
                            break
                took.append((time.perf_counter() - t0) * 1000)
            out["revocation_p50"], out["revocation_max"] = statistics.median(took), max(took)
            await searches.unsubscribe()
        store.close()
    return out


def main() -> int:
    r = asyncio.run(run())
    added = r["status_on_p50"] - r["status_off_p50"]
    rows = [
        (
            "status request, median: auth on / off",
            f"{r['status_on_p50']:.2f} / {r['status_off_p50']:.2f} ms = +{added:.2f} ms",
            "<= +1 ms",
            added <= 1.0,
        ),
        (
            "status request, p95: auth on / off",
            f"{r['status_on_p95']:.2f} / {r['status_off_p95']:.2f} ms",
            "-",
            True,
        ),
    ]
    for label, what in (("all", "the tenant's videos"), ("one", "one video")):
        on95, off95 = r[f"search_{label}_on_p95"], r[f"search_{label}_off_p95"]
        rows.append(
            (
                f"search, {what}, p50 / p95 with auth",
                f"{r[f'search_{label}_on_p50']:.1f} / {on95:.1f} ms (off: {r[f'search_{label}_off_p50']:.1f}"
                f" / {off95:.1f})",
                "p95 <= 50 ms",
                on95 <= 50,
            )
        )
    rows.append(
        (
            "revocation seen by another gateway, median / max",
            f"{r['revocation_p50']:.1f} / {r['revocation_max']:.1f} ms",
            "<= 2000 ms",
            r["revocation_max"] <= 2000,
        )
    )
    print(
        f"\nauth benchmark ({STATUS_ROUNDS} status requests each way, {QUERIES} searches at "
        f"{VIDEOS * PER_VIDEO} passages; a shared 2-core machine)"
    )
    for name, value, target, ok in rows:
        print(f"  {name:<50} {value:<44} target {target:<12} {'ok' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
