"""The transcriber's progress reporter always stops, even when a cancellation is lost, and its
progress never goes back.

On Python 3.11, ``asyncio.wait_for`` (used by every NATS request) can drop a cancel that lands as
the reply arrives; the reporter's best-effort publish then swallows whatever follows. Before the
fix, its loop ran forever and the transcription job hung at 100 %.
"""

from __future__ import annotations

import asyncio

from vidsage.contracts.events import Progress
from vidsage_transcriber.worker import ProgressReporter


class LosesCancellation(ProgressReporter):
    """A publish whose cancellation comes out as an ordinary error, as a lost cancel does."""

    def __init__(self) -> None:
        super().__init__(None, "local", "video", interval_s=0.01)  # type: ignore[arg-type]
        self.published: list[float] = []
        self.publishing = asyncio.Event()

    async def publish(self, percent: float) -> None:
        self.published.append(percent)
        self.publishing.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("the cancellation was lost") from None


async def test_the_reporter_stops_even_if_the_cancel_is_lost() -> None:
    reporter = LosesCancellation()
    async with reporter:
        reporter.update(100.0)
        await asyncio.wait_for(reporter.publishing.wait(), 5)
    # reaching this line is the test: __aexit__ returned (pytest-timeout would fail a hang)
    assert reporter.published == [100.0]
    assert reporter._task is not None
    await asyncio.wait_for(reporter._task, 1)


class Records(ProgressReporter):
    """What the reporter would send (the bus and the record stay out of it)."""

    def __init__(self) -> None:
        super().__init__(None, "local", "video", interval_s=0.01)  # type: ignore[arg-type]
        self.sent: list[float] = []

    async def _send(self, message: Progress) -> None:
        self.sent.append(message.percent)


async def test_progress_never_goes_back_after_the_final_100() -> None:
    reporter = Records()
    async with reporter:
        reporter.update(95.7)  # the last segment's update, which the loop has not published yet
        await reporter.publish(100.0)  # the end, published directly
        await asyncio.sleep(0.1)  # the loop wakes and finds 95.7 unpublished
    assert reporter.sent == [100.0]
