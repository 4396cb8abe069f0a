"""What every service does at startup and shutdown: settings → logging → resources → serve.

:func:`open_runtime` opens the process's compute pool (:mod:`vidsage.compute`), NATS (and
provisions the stream, the KV buckets and this service's own consumer), S3 (creating the bucket if
needed) and the catalog, and closes them in reverse order. :func:`service_main` wraps a service
body with signal handling: SIGTERM or SIGINT set ``stop``; the body stops taking work, finishes
what it holds and returns. A service's ``main()`` is ``return service_main(name, serve)``.

With ``settings.health_file`` set, a :class:`~vidsage.health.Heartbeat` keeps that file fresh
from :meth:`Runtime.ready` (by default as soon as the runtime is open; a service that loads a model
opens it with ``ready=False`` and calls it once the model is loaded) until the runtime closes,
which removes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from pydantic import ValidationError

from vidsage.bus import (
    CONSUMERS,
    Handler,
    Worker,
    connect,
    provision_consumer,
    provision_kv,
    provision_stream,
    publish_event,
)
from vidsage.cache import Cache
from vidsage.catalog import Catalog
from vidsage.compute import ComputePool, ModelUnavailable
from vidsage.contracts import names
from vidsage.contracts.events import VideoFailed
from vidsage.contracts.record import VideoRecord
from vidsage.contracts.transcript import Transcript
from vidsage.health import Heartbeat, remove_heartbeat
from vidsage.logging import get_logger, setup_logging
from vidsage.settings import Settings, WorkerSettings
from vidsage.storage import ObjectNotFound, Storage, StorageError, StorageUnavailable

log = get_logger("vidsage.runtime")

T = TypeVar("T")


@dataclass
class Runtime:
    """The resources of one service process."""

    name: str
    settings: Settings
    nc: NATS
    js: JetStreamContext
    storage: Storage
    catalog: Catalog
    cache: Cache
    stop: asyncio.Event
    compute: ComputePool = field(repr=False)
    heartbeat: Heartbeat | None = field(default=None, repr=False)

    def ready(self) -> None:
        """This service is ready to work: start the heartbeat (with ``settings.health_file``).

        :func:`open_runtime` calls it once everything is open unless told ``ready=False``; a
        service that still has to load something after that calls it itself. Idempotent.
        """
        if self.heartbeat is not None and not self.heartbeat.started:
            self.heartbeat.start()
            log.info("heartbeat_started", path=str(self.heartbeat.path), interval_s=self.heartbeat.interval_s)

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the process's compute pool (never on the event loop)."""
        return await self.compute.run(fn, *args, **kwargs)

    async def load_transcript(self, record: VideoRecord) -> Transcript | None:
        """The video's JSON transcript through the shared cache (24 h), or None if it is not made
        yet or its object is gone. Raises :class:`StorageUnavailable` when S3 is down."""
        key = record.objects.get("transcript")
        if key is None:
            return None

        async def load() -> dict[str, Any] | None:
            try:
                data: dict[str, Any] = json.loads(await self.storage.get_bytes(key))
                return data
            except ObjectNotFound:
                return None

        data = await self.cache.get_or_load(names.video_cache_key(record.id, "transcript"), load)
        return None if data is None else Transcript.model_validate(data)

    async def fail_video(
        self, video_id: str, stage: str, reason: str, attempts: int, *, owner: str | None = None
    ) -> None:
        """Mark the video failed at ``stage`` and publish ``vidsage.video.failed``.

        ``owner`` is the video's (the event's); without it (a message that could not be decoded, an
        advisory) the catalog finds it. Idempotent: a second call changes nothing and re-publishes
        the same event (JetStream drops the duplicate), so a publish lost after the record changed
        is made up on retry. A stage that is already done is never failed.
        """
        owner = owner or await self.catalog.find(video_id)
        if owner is None:
            return
        record, changed = await self.catalog.update(
            owner, video_id, lambda r: r.fail(stage, reason, attempts)
        )
        if record is None:
            return
        if not changed:
            if record.error is None or record.error.stage != stage:
                return
            reason, attempts = record.error.reason, record.stages[stage].attempts
        await publish_event(
            self.js,
            VideoFailed(video_id=video_id, owner=record.owner, stage=stage, reason=reason, attempts=attempts),
        )
        log.warning("video_failed", video_id=video_id, stage=stage, reason=reason, attempts=attempts)


async def _ensure_bucket(storage: Storage, wait_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            await storage.ensure_bucket()
            return
        except StorageUnavailable as exc:
            if loop.time() >= deadline:
                raise
            log.warning("s3_not_ready_retry", endpoint=storage.settings.endpoint, error=str(exc))
            await asyncio.sleep(1)


@contextlib.asynccontextmanager
async def open_runtime(
    name: str,
    settings: Settings,
    stop: asyncio.Event,
    *,
    worker: WorkerSettings | None = None,
    wait_s: float = 30.0,
    ready: bool = True,
) -> AsyncIterator[Runtime]:
    """Open the compute pool, NATS, S3, catalog and cache for service ``name``; close them in
    reverse order.

    ``ready``: call :meth:`Runtime.ready` (start the heartbeat) as soon as all is open; False
    leaves that to the service. The heartbeat stops and its file goes before anything closes.
    """
    async with contextlib.AsyncExitStack() as opened:  # closes in reverse order of opening
        compute = ComputePool(settings.compute_threads)
        opened.callback(compute.close)
        nc = await connect(settings.nats, f"vidsage-{name}", wait_s=wait_s)
        opened.push_async_callback(_drain, nc)
        js = nc.jetstream(timeout=settings.nats.request_timeout_s)
        await provision_stream(js, settings.nats)
        replicas = settings.nats.replicas
        videos = await provision_kv(js, settings.nats.videos_bucket, history=8, replicas=replicas)
        catalog = Catalog(videos)
        await catalog.migrate()  # records from before tenancy, before this service takes work
        cache_kv = await provision_kv(
            js, settings.nats.cache_bucket, ttl_s=settings.cache.ttl_s, replicas=replicas
        )
        if worker is not None:
            await provision_consumer(js, settings.nats.stream, CONSUMERS[name], worker)
        storage = Storage(settings.s3)
        opened.callback(storage.close)
        await _ensure_bucket(storage, wait_s)
        cache = Cache(nc, cache_kv, lru_size=settings.cache.lru_size, lru_ttl_s=settings.cache.lru_ttl_s)
        await cache.start()
        opened.push_async_callback(cache.close)
        heartbeat = None
        if settings.health_file is not None:
            heartbeat = Heartbeat(
                settings.health_file, name, settings.health_interval_s, lambda: nc.is_connected
            )
            opened.push_async_callback(heartbeat.stop)
        rt = Runtime(name, settings, nc, js, storage, catalog, cache, stop, compute, heartbeat)
        if ready:
            rt.ready()
        yield rt


async def _drain(nc: NATS) -> None:
    try:
        await nc.drain()
    except Exception:  # NATS unreachable (reconnecting): close, or the client would keep reconnecting
        with contextlib.suppress(Exception):
            await nc.close()


def service_main(name: str, body: Callable[[Settings, asyncio.Event], Awaitable[None]]) -> int:
    """Run a service: settings (validated) → logging → ``body(settings, stop)`` until a signal.

    Exit codes: 0 after a clean stop; 1 when NATS or S3 cannot be used; 2 for invalid settings or a
    model that cannot be loaded (:class:`~vidsage.compute.ModelUnavailable`), the reason on stderr.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(f"vidsage-{name}: invalid settings (VIDSAGE_* environment):\n{exc}\n")
        return 2
    setup_logging(settings.log_level, settings.log_format, service=name)
    if settings.health_file is not None:
        # A restarted container finds the previous one's file in its /tmp emptyDir: it must not
        # pass the probes while this process is still loading its model.
        remove_heartbeat(settings.health_file)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await body(settings, stop)

    try:
        asyncio.run(run())
    except (ConnectionError, StorageError) as exc:  # NATS or S3 down, or S3 refusing (credentials)
        log.error("startup_failed", error=str(exc))
        return 1
    except ModelUnavailable as exc:
        sys.stderr.write(f"vidsage-{name}: {exc}\n")
        return 2
    return 0


async def run_worker(rt: Runtime, stage: str, handler: Handler, worker: WorkerSettings) -> None:
    """Run this service's pull consumer until ``rt.stop``; exhausted jobs fail the video at ``stage``."""

    async def on_failure(video_id: str, reason: str, attempts: int) -> None:
        await rt.fail_video(video_id, stage, reason, attempts)

    await Worker(
        rt.js,
        stream=rt.settings.nats.stream,
        spec=CONSUMERS[rt.name],
        settings=worker,
        handler=handler,
        on_failure=on_failure,
        nc=rt.nc,
    ).run(rt.stop)
