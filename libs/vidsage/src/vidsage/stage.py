"""The skeleton of a pipeline stage (ingest, transcribe, index): what every worker does around its
own work, written once.

For each delivery of its event, :meth:`Stage.__call__` (addressing the record with the event's
``owner``, as every catalog access does):

1. begins the stage on the record for this delivery (compare-and-set; a redelivery counts its
   attempt);
2. skips a video that was deleted (calling :meth:`Stage.discard` with no output) or has failed;
3. on a redelivery of a stage that is already done, re-publishes the done event built from the
   record (JetStream drops the duplicate within its window) and changes nothing else;
4. runs :meth:`Stage.work`, which writes the artifacts and returns a :class:`StageOutput`;
5. finishes the stage with the output's fields, objects and timings (compare-and-set);
6. if the video was deleted meanwhile, :meth:`Stage.discard` removes what the work wrote; if it
   failed meanwhile, nothing is published;
7. publishes the done event (:meth:`Stage.done_event`; a re-run of a retried or repaired video
   under a message id of its own) and logs ``<stage>_done``.

An exception from the work goes back to the :class:`~vidsage.bus.Worker`, which retries it and,
once the deliveries are exhausted (or at once for a :class:`~vidsage.bus.PermanentError`), gives
up: :func:`vidsage.runtime.run_worker` then records the failure with
:meth:`~vidsage.runtime.Runtime.fail_video` at this stage. A worker supplies only its work, its
done event and, where it writes something, its cleanup.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar, cast

from vidsage.bus import publish_event
from vidsage.contracts.events import Event
from vidsage.contracts.record import Status, VideoRecord
from vidsage.logging import get_logger
from vidsage.runtime import Runtime

log = get_logger("vidsage.stage")

EventT = TypeVar("EventT", bound=Event)
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class StageOutput(Generic[ResultT]):
    """What a stage's work produced."""

    result: ResultT
    """Whatever :meth:`Stage.done_event` and :meth:`Stage.discard` need from the work."""
    fields: dict[str, Any] = field(default_factory=dict)
    """Record fields set when the stage finishes (``duration_s``, ``language``...)."""
    objects: dict[str, str] = field(default_factory=dict)
    """Object keys by kind, added to the record's ``objects``."""
    log: dict[str, Any] = field(default_factory=dict)
    """Fields of the ``<stage>_done`` log line."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per step of the work (``download``, ``decode``...): kept in the stage's state on the
    record (``stages.<stage>.timings``) and logged with ``<stage>_done``."""


class Stage(ABC, Generic[EventT, ResultT]):
    """One stage of the pipeline; an instance is the :data:`~vidsage.bus.Handler` of a worker."""

    stage: ClassVar[str]
    """The record's stage (``ingest``, ``transcribe``, ``index``); also the prefix of the logs."""
    event_type: ClassVar[type[Event]]
    """The event this stage consumes."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @abstractmethod
    async def work(self, event: EventT, record: VideoRecord) -> StageOutput[ResultT]:
        """Do the stage's work for ``record`` (begun for this delivery); raise to retry."""

    @abstractmethod
    async def done_event(self, record: VideoRecord, result: ResultT | None) -> Event:
        """The event that says the stage is done; ``result`` is None on a redelivery of a stage that
        is already done (build it from the record and what the stage stored)."""

    async def discard(self, event: EventT, output: StageOutput[ResultT] | None) -> None:
        """The video was deleted: remove what this stage holds for it (``output`` is None when it
        was deleted before the work began). Nothing by default."""

    async def __call__(self, event: Event, attempt: int) -> None:
        assert isinstance(event, self.event_type), f"{self.stage} does not handle {event.type}"
        await self.run(cast(EventT, event), attempt)

    async def run(self, event: EventT, attempt: int) -> None:
        """The skeleton (see the module's documentation)."""
        rt, stage = self.rt, self.stage
        record, _ = await rt.catalog.update(event.owner, event.video_id, lambda r: r.begin(stage, attempt))
        if record is None:
            log.info("stage_skipped_deleted", stage=stage)
            await self.discard(event, None)
            return
        if record.status is Status.FAILED or record.stages[stage].state == "done":
            log.info("stage_skipped", stage=stage, status=record.status.value)
            if record.stages[stage].state == "done":
                await _publish_done(rt, record, await self.done_event(record, None))
            return

        output = await self.work(event, record)

        timings = {step: round(seconds, 4) for step, seconds in output.timings.items()} or None

        def finish(r: VideoRecord) -> VideoRecord | None:
            return r.finish(stage, timings=timings, **output.fields, objects={**r.objects, **output.objects})

        record, changed = await rt.catalog.update(event.owner, event.video_id, finish)
        if record is None:  # deleted while we worked (the delete's sweep may have run already)
            await self.discard(event, output)
            log.info(f"{stage}_discarded_deleted")
            return
        if record.status is Status.FAILED:
            return
        await _publish_done(rt, record, await self.done_event(record, output.result))
        log.info(f"{stage}_done", **output.log, timings=timings, changed=changed)


async def _publish_done(rt: Runtime, record: VideoRecord, event: Event) -> None:
    """Publish a stage's done event; a re-run (``record.retries``: a retry or a repair) under a
    message id of its own, else JetStream drops it as a duplicate of the first run's within its
    de-duplication window and the next stage waits for its reconciler. Redeliveries of one run
    keep one id, so they stay de-duplicated."""
    await publish_event(
        rt.js, event, msg_id=f"{event.msg_id}:run-{record.retries}" if record.retries else None
    )
