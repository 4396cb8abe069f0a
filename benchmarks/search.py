"""Search: embedding throughput (indexer vs raw ``SentenceTransformer.encode``, same passages),
search latency through the gateway with 10,000 passages in Qdrant Edge (within one video and
across all), and the time from ``transcribed`` to ``ready`` for a 3-minute transcript."""

from __future__ import annotations

import asyncio
import random
import statistics
import time

import aiohttp

from benchmarks._servers import local_servers
from tests.support.auth import ADMIN_KEY, bearer, gateway_auth_settings
from tests.support.gateway import GatewayTestServer
from tests.support.paths import MODELS
from tests.support.stored_videos import announce_transcribed, transcribed, wait_status
from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord
from vidsage.contracts.transcript import Segment
from vidsage.runtime import open_runtime, run_worker
from vidsage.settings import Settings
from vidsage_gateway.app import create_app
from vidsage_indexer.embedder import Embedder
from vidsage_indexer.indexer import Indexer
from vidsage_indexer.store import Passage, open_store, passage_id
from vidsage_indexer.store.sparse import encode_document
from vidsage_indexer.worker import STAGE

WORDS = [
    "river",
    "harbour",
    "lantern",
    "engine",
    "balloon",
    "sourdough",
    "comet",
    "orbit",
    "sail",
    "anchor",
    "wind",
    "tide",
    "kitchen",
    "oven",
    "flour",
    "yeast",
    "starter",
    "crust",
    "island",
    "glacier",
    "volcano",
    "market",
    "bicycle",
    "mountain",
    "valley",
    "signal",
    "radio",
    "antenna",
    "telescope",
    "nebula",
    "planet",
    "moon",
    "storm",
    "rain",
    "sun",
    "garden",
    "tulip",
    "bee",
    "honey",
    "hive",
    "queen",
    "worker",
    "forest",
]
VIDEOS, PER_VIDEO = 50, 200  # 10,000 passages
SENTENCE_WORDS = 15
QUERIES = 200


def sentence(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def run() -> dict[str, float]:
    rng = random.Random(7)
    settings_base = Settings(_env_file=None, models_dir=MODELS, log_level="warning")
    embedder = Embedder(settings_base.indexer, MODELS)
    embedder.load()
    out: dict[str, float] = {}

    # 1. embedding throughput on the same 500 sentences (what a passage embeds: its focus sentence)
    texts = [sentence(rng, SENTENCE_WORDS) for _ in range(500)]
    raw_model = embedder._model
    raw_model.encode(texts[:64], batch_size=64)  # warm-up
    t0 = time.perf_counter()
    raw_model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    out["raw_per_s"] = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    embedder.encode(texts)
    out["indexer_per_s"] = len(texts) / (time.perf_counter() - t0)

    with local_servers(gateway=gateway_auth_settings()) as settings:
        store = open_store(settings.indexer, settings.state_dir)
        store.ensure(embedder.dim)
        # 2. 10,000 passages (each one's first sentence embedded for real, as the indexer embeds a
        # passage's focus sentence), then search through the gateway
        video_ids = [new_id() for _ in range(VIDEOS)]
        corpus = [sentence(rng, SENTENCE_WORDS * 3) for _ in range(VIDEOS * PER_VIDEO)]
        dense = embedder.encode([" ".join(text.split()[:SENTENCE_WORDS]) for text in corpus])
        passages = [
            Passage(
                id=passage_id(vid, i),
                video_id=vid,
                owner="b",
                filename=f"{vid}.mp4",
                start=i * 4.0,
                end=i * 4.0 + 4,
                text=corpus[v * PER_VIDEO + i],
                segment_ids=[i],
            )
            for v, vid in enumerate(video_ids)
            for i in range(PER_VIDEO)
        ]
        store.upsert(passages, dense, [encode_document(p.text) for p in passages])
        stop = asyncio.Event()
        async with open_runtime("indexer", settings, stop, worker=settings.indexer) as rt:
            indexer = Indexer(rt, embedder, store)
            sub = await indexer.serve_search()
            worker = asyncio.create_task(run_worker(rt, STAGE, indexer, settings.indexer))
            for vid in video_ids:  # the gateway checks that a filtered video exists
                await rt.catalog.create(
                    VideoRecord(
                        id=vid,
                        owner="b",
                        filename="b.mp4",
                        size=1,
                        mime="video/mp4",
                        format="mp4",
                        duration_s=800,
                    )
                )
            gateway = GatewayTestServer(create_app(settings), host="127.0.0.1")
            await gateway.start_server()
            try:
                async with aiohttp.ClientSession(headers=bearer(ADMIN_KEY)) as session:
                    for label, scoped in (("all", False), ("one", True)):
                        latencies = []
                        for _ in range(QUERIES):
                            # the admin key, in tenant b's library (the auth benchmark uses b's own key)
                            params = {"q": " ".join(rng.sample(WORDS, 4)), "limit": "10", "owner": "b"}
                            if scoped:
                                params["video_id"] = rng.choice(video_ids)
                            t0 = time.perf_counter()
                            async with session.get(gateway.make_url("/api/search"), params=params) as resp:
                                assert resp.status == 200, await resp.text()
                                body = await resp.json()
                            latencies.append((time.perf_counter() - t0) * 1000)
                            assert body["hits"]
                        out[f"{label}_p50"] = pct(latencies, 50)
                        out[f"{label}_p95"] = pct(latencies, 95)

                # 3. transcribed -> ready for a 3-minute transcript (45 segments of 4 s)
                segments = [
                    Segment(id=i, start=i * 4.0, end=i * 4.0 + 4, text=sentence(rng, 10)) for i in range(45)
                ]
                record = await transcribed(rt, segments, "b.mp4", owner="b", announce=False)
                t0 = time.perf_counter()
                await announce_transcribed(rt, record, len(segments))
                await wait_status(rt, record, Status.READY, every_s=0.005)
                out["to_ready_ms"] = (time.perf_counter() - t0) * 1000
            finally:
                await gateway.close()
                stop.set()
                await worker
                await sub.unsubscribe()
        store.close()
    return out


def main() -> int:
    r = asyncio.run(run())
    ratio = r["indexer_per_s"] / r["raw_per_s"]
    rows = [
        (
            "embedding: indexer / raw SentenceTransformer.encode",
            f"{r['indexer_per_s']:.0f} / {r['raw_per_s']:.0f} passages/s = {ratio:.2f}x",
            ">= 0.9x",
            ratio >= 0.9,
        ),
        (
            "search through the gateway, all videos, p50 / p95",
            f"{r['all_p50']:.1f} / {r['all_p95']:.1f} ms",
            "p95 <= 50 ms",
            r["all_p95"] <= 50,
        ),
        (
            "search through the gateway, one video, p50 / p95",
            f"{r['one_p50']:.1f} / {r['one_p95']:.1f} ms",
            "p95 <= 50 ms",
            r["one_p95"] <= 50,
        ),
        ("transcribed -> ready, 3-minute transcript", f"{r['to_ready_ms']:.0f} ms", "-", True),
    ]
    model = Embedder(Settings(_env_file=None, models_dir=MODELS).indexer, MODELS).model_name
    print(
        f"\nsearch benchmark ({VIDEOS * PER_VIDEO} passages in Qdrant Edge, {QUERIES} queries each, "
        f"model {model})"
    )
    for name, value, target, ok in rows:
        print(f"  {name:<54} {value:<34} target {target:<13} {'ok' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
