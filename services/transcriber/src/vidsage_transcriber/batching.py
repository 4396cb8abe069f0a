"""Feeding the inference workers: the windows of every video in flight, batch by batch.

Each video in flight (:meth:`Scheduler.transcribe`) is cut into units by
:meth:`~vidsage_transcriber.engine.Engine.units`: on CPU its windows shared out among the workers,
so one video keeps every core busy; when batching across videos (on by default on CUDA), all its
windows in order. Units wait in one first-in first-out queue. Each worker (a task that runs one
batch at a time on the process's compute pool, where CTranslate2 hands it to a free model replica)
takes the unit at the head; when batching across videos it keeps taking from
the following units, of other videos too, until the batch holds ``batch_size`` windows (the memory
bound), splitting the last unit if needed. A video is done when its last window is decoded; its
job then writes its own transcript and is acked, whatever the other videos of its batches do.

A failed batch fails the videos it held (their jobs retry as usual); the windows still queued for
them are dropped.

The batches go to the compute pool in queue order, like every other blocking call of the process
(downloads' audio decoding, VAD), so the process never runs more CPU-bound threads than its pool
holds, and a batch that waits for a video's language always runs after the batch that detects it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vidsage.logging import get_logger
from vidsage_transcriber.engine import Engine, Plan, Result, Unit

log = get_logger("vidsage.transcriber.batching")

RunBlocking = Callable[..., Awaitable[Any]]
"""``Runtime.run_blocking``: a blocking call on the process's compute pool."""


@dataclass(eq=False)
class _Job:
    plan: Plan
    done: asyncio.Future[None]
    on_progress: Callable[[float], None] | None
    submitted: float = field(default_factory=time.perf_counter)
    first_batch: float | None = None

    def fail(self, exc: BaseException) -> None:
        self.plan.fail(exc)
        if not self.done.done():
            self.done.set_exception(exc)


class Scheduler:
    """The inference workers of one process and the queue that feeds them (an async context
    manager: the workers run while it is open)."""

    def __init__(self, engine: Engine, run_blocking: RunBlocking) -> None:
        self.engine = engine
        self._run_blocking = run_blocking
        self._queue: collections.deque[tuple[_Job, Unit]] = collections.deque()
        self._work_ready = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self.batches = 0

    async def __aenter__(self) -> Scheduler:
        workers = self.engine.resolved.workers
        self._workers = [asyncio.create_task(self._work(), name=f"whisper-{n}") for n in range(workers)]
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for job, _unit in self._queue:
            job.fail(RuntimeError("the transcriber is stopping"))
        self._queue.clear()

    async def transcribe(self, plan: Plan, on_progress: Callable[[float], None] | None = None) -> Result:
        """The transcript of a prepared video, once its windows went through the workers."""
        units = self.engine.units(plan)
        job = _Job(plan, asyncio.get_running_loop().create_future(), on_progress)
        if units:
            self._queue.extend((job, unit) for unit in units)
            self._work_ready.set()
            try:
                await job.done
            except asyncio.CancelledError:
                job.fail(RuntimeError("the job was cancelled"))
                raise
            now = time.perf_counter()
            plan.add_time("queued", (job.first_batch or now) - job.submitted)
            plan.add_time("inference", now - (job.first_batch or now))
        result: Result = await self._run_blocking(self.engine.assemble, plan)
        return result

    async def _work(self) -> None:
        while True:
            batch = await self._take()
            unit: Unit = [item for _, part in batch for item in part]
            jobs = list(dict.fromkeys(job for job, _ in batch))
            started = time.perf_counter()
            for job in jobs:
                job.first_batch = job.first_batch or started
            try:
                outputs = await self._run_blocking(self.engine.run_batch, unit)
            except Exception as exc:
                log.warning("batch_failed", windows=len(unit), videos=len(jobs), error=str(exc))
                for job in jobs:
                    job.fail(exc)
                continue
            self.batches += 1
            for (plan, index), output in zip(unit, outputs, strict=True):
                if output is not None:
                    plan.outputs[index] = output
            for job in jobs:
                if job.done.done():
                    continue
                if job.on_progress is not None:
                    job.on_progress(100.0 * job.plan.done_s / max(job.plan.duration_s, 1e-9))
                if job.plan.done:
                    job.done.set_result(None)

    async def _take(self) -> list[tuple[_Job, Unit]]:
        """The next batch: the head unit, and with batching across videos the following ones too,
        up to ``batch_size`` windows. Units of failed videos are dropped."""
        while True:
            while self._queue and self._queue[0][0].plan.error is not None:
                self._queue.popleft()
            if self._queue:
                break
            self._work_ready.clear()
            await self._work_ready.wait()
        batch = [self._queue.popleft()]
        if self.engine.resolved.across_videos:
            room = self.engine.cfg.batch_size - len(batch[0][1])
            while room > 0 and self._queue:
                job, unit = self._queue[0]
                if job.plan.error is not None:
                    self._queue.popleft()
                    continue
                if job.plan.temperature != batch[0][0].plan.temperature:
                    break  # one decoding per batch: a job's sampling temperature waits for its own
                if len(unit) <= room:
                    self._queue.popleft()
                    batch.append((job, unit))
                    room -= len(unit)
                else:
                    batch.append((job, unit[:room]))
                    self._queue[0] = (job, unit[room:])
                    room = 0
        return batch
