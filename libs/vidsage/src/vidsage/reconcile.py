"""The reconciler: what no operator should have to do after a crash, done by the service that owns
each stage.

Every worker service runs one for its stage next to its consumer (:func:`vidsage.runtime.run_worker`):

- **Stuck records.** Every ``interval_s`` it lists the records waiting for or running its stage
  (:meth:`VideoRecord.awaits`: the stage not done and the stages it needs done; ingest and
  transcribe both start from the upload, so both re-drive ``uploaded``, index ``transcribed``).
  One that has not changed for ``idle_grace_s`` while the stage's consumer has nothing pending and
  nothing in flight has no live work (its event was never published, or its message was dropped): it
  is re-driven (:mod:`vidsage.redrive`). While the consumer is busy, its backlog may hold the
  record's event, so only a record unchanged for ``busy_stuck_s`` is re-driven. A redundant re-drive
  costs one delivery that the idempotent stage turns into a no-op; the message id of a re-drive is
  derived from the record's state, so replicas that see the same record re-drive it once.
- **Orphans** (the ingest service only, every ``orphan_interval_s``), judging only what is older
  than ``orphan_grace_s``: objects under ``videos/<id>/`` with no record are deleted (what a
  delete or a refused upload left behind); a record whose source object is gone is failed
  (``the source file is gone``: nothing can re-make it); a ready record whose thumbnail or
  transcript files are gone is re-run from the stage that makes them (its source is there).
  Anything else (a ready video without its source) is only logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from vidsage.bus import ConsumerSpec
from vidsage.contracts import names
from vidsage.contracts.events import utcnow
from vidsage.contracts.ids import is_valid_id
from vidsage.contracts.names import ANY_OWNER
from vidsage.contracts.record import Status, VideoRecord
from vidsage.logging import get_logger
from vidsage.redrive import redrive, redrive_awaited
from vidsage.settings import ReconcileSettings

if TYPE_CHECKING:
    from vidsage.runtime import Runtime

log = get_logger("vidsage.reconcile")

_MADE_BY = {"thumbnail": "ingest", "transcript": "transcribe", "srt": "transcribe", "vtt": "transcribe"}
"""Artifacts a ready video can have re-made, by the stage that makes them (``audio`` is only the
transcriber's input: a ready video does not need it)."""
SOURCE_GONE = "the source file is gone"


@dataclass
class SweepReport:
    """What one sweep did, by video id."""

    redriven: list[str] = field(default_factory=list)
    orphan_objects_deleted: list[str] = field(default_factory=list)
    failed_source_gone: list[str] = field(default_factory=list)
    rerun: list[str] = field(default_factory=list)


class Reconciler:
    """The reconciler of one stage (see the module's documentation)."""

    def __init__(
        self, rt: Runtime, stage: str, spec: ConsumerSpec, settings: ReconcileSettings, *, orphans: bool
    ) -> None:
        self.rt = rt
        self.stage = stage
        self.spec = spec
        self.settings = settings
        self.orphans = orphans
        self._redriven: set[tuple[str, datetime]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep until ``stop``; a failed sweep (NATS or S3 down) is logged and tried next time."""
        loop = asyncio.get_running_loop()
        next_orphans = loop.time()
        while not stop.is_set():
            pause = self.settings.interval_s * random.uniform(0.8, 1.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            if stop.is_set():
                return
            try:
                await self.sweep_stuck()
                if self.orphans and loop.time() >= next_orphans:
                    next_orphans = loop.time() + self.settings.orphan_interval_s
                    await self.sweep_orphans()
            except Exception as exc:
                log.warning("reconcile_failed", stage=self.stage, error=f"{type(exc).__name__}: {exc}")

    async def _records(self) -> list[VideoRecord]:
        return await self.rt.catalog.records(ANY_OWNER)

    async def sweep_stuck(self) -> SweepReport:
        """Re-drive the records of this stage that have no live work."""
        rt, report = self.rt, SweepReport()
        info = await rt.js.consumer_info(rt.settings.nats.stream, self.spec.durable)
        idle = not info.num_pending and not info.num_ack_pending
        limit = timedelta(seconds=self.settings.idle_grace_s if idle else self.settings.busy_stuck_s)
        now = utcnow()
        seen: set[tuple[str, datetime]] = set()
        for record in await self._records():
            if not record.awaits(self.stage) or now - record.updated_at < limit:
                continue
            state = (record.id, record.updated_at)
            seen.add(state)
            if state in self._redriven:  # re-driven already in this state: its delivery is pending
                continue
            tag = f"redrive-{int(record.updated_at.timestamp() * 1000)}"
            try:
                await redrive(rt.js, rt.storage, record, self.stage, tag)
            except KeyError as exc:  # the record lacks an object its stage needs
                log.error("reconcile_cannot_redrive", video_id=record.id, missing=str(exc))
                continue
            self._redriven.add(state)
            report.redriven.append(record.id)
            log.warning(
                "record_redriven",
                video_id=record.id,
                stage=self.stage,
                status=record.status.value,
                unchanged_s=round((now - record.updated_at).total_seconds()),
                consumer_idle=idle,
            )
        self._redriven &= seen
        return report

    async def sweep_orphans(self) -> SweepReport:
        """Repair orphans both ways (see the module's documentation)."""
        rt, report = self.rt, SweepReport()
        cutoff = utcnow() - timedelta(seconds=self.settings.orphan_grace_s)
        objects: dict[str, dict[str, datetime | None]] = {}
        for info in await rt.storage.list_objects(names.VIDEOS_PREFIX):
            video_id = info.key[len(names.VIDEOS_PREFIX) :].split("/", 1)[0]
            objects.setdefault(video_id, {})[info.key] = info.last_modified
        records = {r.id: r for r in await self._records()}  # listed after the objects

        for video_id, keys in objects.items():
            if video_id in records or not is_valid_id(video_id):
                continue
            if any(modified is None or modified > cutoff for modified in keys.values()):
                continue
            if await rt.catalog.find(video_id) is not None:  # created since the listing
                continue
            await rt.storage.delete_prefix(names.objects_prefix(video_id))
            await rt.cache.invalidate_prefix(names.cache_prefix(video_id))
            report.orphan_objects_deleted.append(video_id)
            log.warning("orphan_objects_deleted", video_id=video_id, objects=len(keys))

        for record in records.values():
            if record.updated_at > cutoff or record.status is Status.FAILED:
                continue
            present = objects.get(record.id, {})
            missing = sorted(kind for kind, key in record.objects.items() if key not in present)
            if not missing:
                continue
            if "source" in missing:
                if record.status is Status.READY:
                    log.error("ready_video_source_gone", video_id=record.id)
                    continue
                stage = record.stage or "ingest"
                await rt.fail_video(
                    record.id, stage, SOURCE_GONE, record.stages[stage].attempts, owner=record.owner
                )
                report.failed_source_gone.append(record.id)
                continue
            remake = [kind for kind in missing if kind in _MADE_BY]
            if record.status is not Status.READY or not remake:
                log.warning("record_objects_gone", video_id=record.id, missing=missing)
                continue
            stages = sorted({_MADE_BY[kind] for kind in remake}, key=("ingest", "transcribe").index)
            rerun, changed = await rt.catalog.update(
                record.owner,
                record.id,
                lambda r, stages=stages: r.rewind(*stages) if r.status is Status.READY else None,  # type: ignore[misc]
            )
            if rerun is None or not changed:
                continue
            await redrive_awaited(rt.js, rt.storage, rerun, f"repair-{rerun.retries}")
            report.rerun.append(record.id)
            log.warning("record_rerun_objects_gone", video_id=record.id, stages=stages, missing=remake)
        return report
