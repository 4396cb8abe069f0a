"""What the services share on NATS — the event stream and the shared KV buckets — created and
brought to the settings by one party, and waited for by the others.

Under least privilege (each service its own NATS user, ``vidsage.contracts.permissions``) only
the ``provisioner`` user may create or update the stream and the shared buckets: ``make run``
provisions before it starts the services, the chart runs ``python -m vidsage.provision`` in an
init container of the gateway. A service with credentials only looks them up and waits
(:func:`open_shared`, up to ``nats.provision_wait_s``); without credentials (an open server, the
integration tests) it provisions them itself, as every service always did. Each worker creates or
updates its own durable consumer either way (:func:`vidsage.bus.provision_consumer`).

``python -m vidsage.provision`` reads the ``VIDSAGE_*`` settings (``VIDSAGE_NATS__USER=provisioner``
and its password), retries the connection for ``nats.provision_wait_s`` and exits 0 once the
stream and buckets are there, 1 when NATS cannot be reached or refuses, 2 for invalid settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from vidsage.bus import connect, provision_jobs_stream, provision_kv, provision_stream
from vidsage.contracts import names
from vidsage.logging import get_logger, setup_logging
from vidsage.settings import Settings

log = get_logger("vidsage.provision")

WAIT_LOG_INTERVAL_S = 10.0


@dataclass(frozen=True)
class BucketSpec:
    """A shared KV bucket and the configuration it is created with."""

    bucket: str
    history: int = 1
    ttl_s: float | None = None


def shared_buckets(settings: Settings) -> tuple[BucketSpec, BucketSpec]:
    """The catalog (``videos``, 8 revisions kept) and the shared cache (its TTL the cache's)."""
    return (
        BucketSpec(settings.nats.videos_bucket, history=8),
        BucketSpec(settings.nats.cache_bucket, ttl_s=settings.cache.ttl_s),
    )


@dataclass(frozen=True)
class Shared:
    """The shared buckets, opened."""

    videos: KeyValue
    cache: KeyValue


async def provision(js: JetStreamContext, settings: Settings) -> Shared:
    """Create (or bring to the settings) the stream, and create the shared buckets if missing,
    all at ``nats.replicas`` copies."""
    await provision_stream(js, settings.nats)
    # the transcription jobs (POST /v1/audio/transcriptions)
    await provision_jobs_stream(js, replicas=settings.nats.replicas)
    videos, cache = [
        await provision_kv(
            js, spec.bucket, history=spec.history, ttl_s=spec.ttl_s, replicas=settings.nats.replicas
        )
        for spec in shared_buckets(settings)
    ]
    return Shared(videos, cache)


async def wait_provisioned(js: JetStreamContext, settings: Settings, wait_s: float) -> Shared:
    """Look the shared buckets up, waiting up to ``wait_s`` for the provisioner to create them
    (it creates the stream first, so once they exist, so does the stream); :class:`ConnectionError`
    (the service exits 1) when they never appear."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    logged_at: float | None = None
    while True:
        missing: list[str] = []
        opened: list[KeyValue] = []
        for spec in shared_buckets(settings):
            try:
                opened.append(await js.key_value(spec.bucket))
            except BucketNotFoundError:
                missing.append(f"bucket {spec.bucket}")
        if not missing:
            return Shared(*opened)
        now = loop.time()
        if now >= deadline:
            raise ConnectionError(
                f"KV {', '.join(missing)} not found on NATS after {wait_s:.0f} s: run the provisioner "
                f"(python -m vidsage.provision as the provisioner user)"
            )
        if logged_at is None or now - logged_at >= WAIT_LOG_INTERVAL_S:
            log.info("waiting_for_provisioner", missing=missing)
            logged_at = now
        await asyncio.sleep(0.5)


async def open_shared(js: JetStreamContext, settings: Settings) -> Shared:
    """Provision (``settings.nats.provisions``) or wait for the provisioner, then open the buckets."""
    if settings.nats.provisions:
        return await provision(js, settings)
    return await wait_provisioned(js, settings, settings.nats.provision_wait_s)


async def run(settings: Settings) -> list[str]:
    """Connect as ``settings.nats.user``, provision, disconnect; what now exists, in words."""
    nc = await connect(settings.nats, "vidsage-provision", wait_s=settings.nats.provision_wait_s)
    try:
        await provision(nc.jetstream(timeout=settings.nats.request_timeout_s), settings)
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
    return [
        f"stream {settings.nats.stream}",
        f"stream {names.JOBS_STREAM}",
        *(f"bucket {b.bucket}" for b in shared_buckets(settings)),
    ]


def main() -> int:
    """``python -m vidsage.provision``."""
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(f"vidsage-provision: invalid settings (VIDSAGE_* environment):\n{exc}\n")
        return 2
    setup_logging(settings.log_level, settings.log_format, service="provision", settings=settings)
    try:
        done = asyncio.run(run(settings))
    except Exception as exc:  # NATS unreachable, or the user may not do this: say which, exit 1
        log.error("provision_failed", error=str(exc) or type(exc).__name__)
        return 1
    log.info("provisioned", what=done)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
