"""A worker process whose jobs never finish, for the tests that SIGKILL a worker mid-job.

``python -m tests.support.stuck_worker`` runs the project's :class:`~vidsage.bus.Worker` on the
``ingest`` consumer with the settings of the environment (``VIDSAGE_*``, as a service reads them):
it prints ``started <video_id>`` for each job it takes, then holds it (heartbeats running) until
it is killed.
"""

from __future__ import annotations

import asyncio
import sys

from vidsage.bus import CONSUMERS, Worker, connect, provision_consumer, provision_stream
from vidsage.contracts.events import Event
from vidsage.settings import Settings


async def main() -> None:
    settings = Settings()
    nc = await connect(settings.nats, "stuck-worker", wait_s=5)
    js = nc.jetstream()
    await provision_stream(js, settings.nats)
    await provision_consumer(js, settings.nats.stream, CONSUMERS["ingest"], settings.ingest)

    async def hold(event: Event, attempt: int) -> None:
        sys.stdout.write(f"started {event.video_id}\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    async def on_failure(video_id: str, reason: str, attempts: int) -> None:
        return None

    worker = Worker(
        js, stream=settings.nats.stream, spec=CONSUMERS["ingest"], settings=settings.ingest,
        handler=hold, on_failure=on_failure,
    )  # fmt: skip
    await worker.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main())
