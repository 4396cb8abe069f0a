"""``python -m vidsage_notifier``: deliver the video events to the tenants' webhooks.

Opens the runtime with its durable consumer (``notifier``, every event), waits for the
``webhooks`` bucket (the gateway creates it), creates the deliveries bucket, then consumes until
SIGTERM: no more fetching, the attempts in flight finish (each bounded by ``notifier.timeout_s``).
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from vidsage.bus import CONSUMERS, Worker, provision_kv
from vidsage.contracts import names
from vidsage.logging import get_logger
from vidsage.runtime import open_runtime, service_main
from vidsage.settings import Settings
from vidsage.webhook_store import DeliveryLog, WebhookStore
from vidsage.webhook_targets import TargetPolicy
from vidsage_notifier.deliveries import Notifier, retry_delay
from vidsage_notifier.sender import Sender

log = get_logger("vidsage.notifier")


async def wait_for_bucket(js: JetStreamContext, bucket: str, wait_s: float, stop: asyncio.Event) -> KeyValue:
    """The bucket another service creates, waited for up to ``wait_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            return await js.key_value(bucket)
        except BucketNotFoundError:
            if loop.time() >= deadline or stop.is_set():
                raise ConnectionError(
                    f"the {bucket} bucket does not exist (the gateway creates it)"
                ) from None
            log.info("waiting_for_bucket", bucket=bucket)
            await asyncio.sleep(0.5)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    cfg = settings.notifier
    if settings.webhooks.secret_key is None:
        raise SystemExit(
            "vidsage-notifier: VIDSAGE_WEBHOOKS__SECRET_KEY is not set (the gateway's, to sign with)"
        )
    secret_key = settings.webhooks.secret_key.get_secret_value()
    async with open_runtime("notifier", settings, stop, worker=cfg, ready=False) as rt:
        endpoints = WebhookStore(
            await wait_for_bucket(rt.js, names.WEBHOOKS_BUCKET, settings.nats.provision_wait_s, stop)
        )
        deliveries = DeliveryLog(
            await provision_kv(
                rt.js,
                names.WEBHOOK_DELIVERIES_BUCKET,
                ttl_s=settings.webhooks.deliveries_max_age_s,
                replicas=settings.nats.replicas,
            )
        )
        policy = TargetPolicy.of(settings.webhooks)
        async with Sender(cfg, policy) as sender:
            rt.ready()

            async def lost(video_id: str, reason: str, attempts: int) -> None:
                # a delivery the notifier died holding at its last attempt: it never fails the video
                log.error("webhook_event_abandoned", video_id=video_id, reason=reason, attempts=attempts)

            await Worker(
                rt.js,
                stream=settings.nats.stream,
                spec=CONSUMERS[names.NOTIFIER_CONSUMER],
                settings=cfg,
                handler=Notifier(cfg, secret_key, endpoints, deliveries, sender),
                on_failure=lost,
                nc=rt.nc,
                retry_delay=lambda attempt: retry_delay(cfg, attempt),
            ).run(rt.stop)


def main() -> int:
    return service_main("notifier", serve)


if __name__ == "__main__":
    raise SystemExit(main())
