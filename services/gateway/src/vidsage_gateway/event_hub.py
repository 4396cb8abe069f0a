"""The gateway's live event feed: ONE consumer of the ``VIDSAGE`` stream and ONE subscription to the
progress subjects per gateway process, fanned out in memory to the open SSE streams
(:mod:`vidsage_gateway.event_stream`), each filtered by owner (and video) at the source.

- **Events** come from a named ephemeral pull consumer (:func:`vidsage.contracts.names.event_feed_consumer`,
  ack none, in memory) that starts after the stream's last message when the gateway starts. The
  feed keeps the stream sequence it has dispatched (:attr:`EventHub.position`); a lost consumer (NATS
  restarted, the consumer expired while the gateway was cut off) or a gap in the consumer's
  sequence is made up by a new consumer from the next sequence, so no event is skipped.
- **Status frames** read the video's record once per event (for every stream at once), so
  ``status`` is the record's status after the event (:mod:`vidsage.contracts.live_events`).
- **Progress** (``vidsage.progress.<video_id>``, core NATS) carries no owner: the owner comes from
  a small cache filled by the events seen, the per-video streams (once the catalog has shown the
  video is the caller's: a refused one teaches it nothing) and, on a miss, one catalog look-up
  (:meth:`vidsage.catalog.Catalog.find`) whose answer is cached; until it is known the frame is
  not sent to anybody (progress is ephemeral: the next one, a second later, is).
- **Replay** (:meth:`EventHub.replay`): a stream that resumes from sequence N reads N+1 up to the
  feed's position with a short-lived consumer of its own, filtered to the caller by the events'
  ``owner`` field (the subjects carry none), while live frames queue behind it; frames of a
  sequence already sent are skipped, so the client sees each event once, in order.
- **Slow clients**: each stream has a bounded queue (``sse.queue_frames``); one that overflows is
  cut loose (its stream ends; the browser reconnects with ``Last-Event-ID`` and replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api

from vidsage.contracts import names
from vidsage.contracts.events import Event, EventError, EventType, Progress, parse_event
from vidsage.contracts.live_events import EVENT_STATUS, LiveEvent
from vidsage.contracts.names import ANY_OWNER
from vidsage.contracts.reasons import public_reason
from vidsage.contracts.record import VideoRecord
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage.settings import EventStreamSettings

log = get_logger("vidsage.gateway.events")

FETCH_WAIT_S = 5.0
"""How long one pull request of the live feed waits for an event (then it asks again)."""
CONSUMER_TTL_S = 30.0
"""A feed consumer nobody fetched from for this long is removed by the server (a dead gateway
leaves nothing behind)."""
OWNER_CACHE_SIZE = 10_000
UNKNOWN_OWNER_TTL_S = 30.0
"""A video whose owner could not be found (deleted, or never existed) is not looked up again for
this long."""
REPLAY_BATCH = 256


@dataclass(frozen=True)
class Frame:
    """One SSE message, encoded once for every stream it goes to."""

    seq: int | None
    """The stream sequence behind it (None: a progress frame)."""
    kind: str
    data: str
    video_id: str | None = None
    wire: bytes = field(init=False, repr=False, compare=False)
    """The message as sent (``id:`` when there is a sequence, ``event:``, ``data:``), encoded once."""

    def __post_init__(self) -> None:
        head = f"id: {self.seq}\n" if self.seq is not None else ""
        object.__setattr__(self, "wire", f"{head}event: {self.kind}\ndata: {self.data}\n\n".encode())


def frame_of(live: LiveEvent, seq: int | None) -> Frame:
    return Frame(seq, live.type, live.to_json(), live.video_id)


def record_status(record: VideoRecord, *, event: str | None, at: datetime) -> LiveEvent:
    """The ``status`` frame of ``record`` (``event``: the stream event behind it, None in the
    snapshot a per-video stream opens with), its failure's reason as clients may read it."""
    error = record.error
    return LiveEvent(
        type="status",
        video_id=record.id,
        event=event,
        status=record.status,
        stage=error.stage if error is not None else None,
        reason=public_reason(error.reason) if error is not None else None,
        at=at,
    )


@dataclass(eq=False)
class Listener:
    """One open stream: whose frames it wants, and the queue the feed fills."""

    owner: str
    """The owner whose videos it follows (:data:`ANY_OWNER`: an admin following every owner)."""
    video_id: str | None
    max_frames: int
    queue: asyncio.Queue[Frame] = field(init=False)
    overflowed: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the stream must end (the gateway stops, the client fell behind)."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when there is something for the stream to do (a frame queued, or closed)."""

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.max_frames)

    def wants(self, owner: str | None, video_id: str) -> bool:
        if self.video_id is not None and self.video_id != video_id:
            return False
        return self.owner == ANY_OWNER or self.owner == owner

    def offer(self, frame: Frame) -> bool:
        """Queue ``frame``; False (and the listener is closed) when the client fell too far behind."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()
            return False
        self.wake.set()
        return True

    def close(self) -> None:
        self.closed.set()
        self.wake.set()


class Overloaded(Exception):
    """Too many open streams: ``scope`` is ``owner`` or ``gateway``."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class EventHub:
    """The feed and its listeners (see the module's documentation)."""

    def __init__(self, rt: Runtime, cfg: EventStreamSettings) -> None:
        self._rt = rt
        self._cfg = cfg
        self._stream = rt.settings.nats.stream
        self._listeners: set[Listener] = set()
        self._per_owner: dict[str, int] = {}
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._unknown: dict[str, float] = {}
        self._finding: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.position = 0
        """The last stream sequence dispatched to the listeners."""
        self._feed_task: asyncio.Task[None] | None = None
        self._progress_sub: Subscription | None = None
        self._consumer: str | None = None
        self.closing = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        info = await self._rt.js.stream_info(self._stream)
        self.position = info.state.last_seq
        self._progress_sub = await self._rt.nc.subscribe(names.progress_subject("*"), cb=self._on_progress)
        self._feed_task = asyncio.create_task(self._feed(), name="sse-feed")

    def shutdown(self) -> None:
        """End every open stream (the gateway is stopping)."""
        self.closing = True
        for listener in list(self._listeners):
            listener.close()

    async def close(self) -> None:
        self.shutdown()
        if self._feed_task is not None:
            # The feed also stops by itself after its pull in flight (it checks `closing`): a
            # cancellation that lands as a pull times out can reach it as a TimeoutError (asyncio's
            # wait_for in Python 3.11), so it is never waited for without a bound.
            self._feed_task.cancel()
            await asyncio.wait({self._feed_task}, timeout=FETCH_WAIT_S + 2)
            if not self._feed_task.done():
                log.warning("sse_feed_did_not_stop")
            elif not self._feed_task.cancelled() and self._feed_task.exception() is not None:
                log.warning("sse_feed_failed", error=repr(self._feed_task.exception()))
        for task in list(self._tasks):
            task.cancel()
        if self._progress_sub is not None:
            with contextlib.suppress(Exception):
                await self._progress_sub.unsubscribe()
        await self._delete_consumer(self._consumer)

    # -- listeners ------------------------------------------------------------------------------
    @property
    def open_streams(self) -> int:
        return len(self._listeners)

    def add(self, owner: str, video_id: str | None) -> Listener:
        """A new listener, or :class:`Overloaded`. Synchronous: every event after
        :attr:`position` at this moment reaches it."""
        if len(self._listeners) >= self._cfg.max_streams:
            raise Overloaded("gateway")
        if self._per_owner.get(owner, 0) >= self._cfg.max_per_owner:
            raise Overloaded("owner")
        listener = Listener(owner, video_id, self._cfg.queue_frames)
        self._listeners.add(listener)
        self._per_owner[owner] = self._per_owner.get(owner, 0) + 1
        return listener

    def remove(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.discard(listener)
            left = self._per_owner.get(listener.owner, 1) - 1
            if left:
                self._per_owner[listener.owner] = left
            else:
                self._per_owner.pop(listener.owner, None)

    def _deliver(self, frame: Frame, owner: str | None, video_id: str) -> None:
        for listener in list(self._listeners):
            if listener.wants(owner, video_id) and not listener.offer(frame):
                log.info("sse_client_too_slow", owner=listener.owner, queued=listener.max_frames)
                self.remove(listener)

    # -- owners of videos (progress carries none) -----------------------------------------------
    def remember_owner(self, video_id: str, owner: str) -> None:
        self._owners[video_id] = owner
        self._owners.move_to_end(video_id)
        self._unknown.pop(video_id, None)
        while len(self._owners) > OWNER_CACHE_SIZE:
            self._owners.popitem(last=False)

    def _find_owner(self, video_id: str) -> None:
        loop = asyncio.get_running_loop()
        if video_id in self._finding or self._unknown.get(video_id, 0) > loop.time():
            return
        self._finding.add(video_id)

        async def find() -> None:
            try:
                owner = await self._rt.catalog.find(video_id)
            except Exception as exc:  # the bus is away: try again with a later frame
                log.warning("sse_owner_lookup_failed", video_id=video_id, error=type(exc).__name__)
                return
            finally:
                self._finding.discard(video_id)
            if owner is None:
                self._unknown[video_id] = loop.time() + UNKNOWN_OWNER_TTL_S
                if len(self._unknown) > OWNER_CACHE_SIZE:
                    self._unknown.clear()
            else:
                self.remember_owner(video_id, owner)

        task = asyncio.create_task(find())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_progress(self, msg: Msg) -> None:
        if not self._listeners:
            return
        video_id = msg.subject.rpartition(".")[2]
        if not any(listener.video_id in (None, video_id) for listener in self._listeners):
            return
        try:
            progress = Progress.model_validate_json(msg.data)
        except ValueError:
            return
        if progress.video_id != video_id:
            return
        owner = self._owners.get(video_id)
        if owner is None:
            self._find_owner(video_id)  # for the next frame; meanwhile only an admin following
            if not any(listener.owner == ANY_OWNER for listener in self._listeners):  # everyone hears it
                return
        live = LiveEvent(
            type="progress",
            video_id=video_id,
            stage=progress.stage,
            progress=progress.percent,
            at=progress.at,
        )
        self._deliver(frame_of(live, None), owner, video_id)

    # -- events ---------------------------------------------------------------------------------
    async def frame_for(self, event: Event, seq: int) -> Frame:
        """The frame of one stream event (a ``status`` frame reads the record)."""
        if event.type is EventType.DELETED:
            live = LiveEvent(
                type="deleted", video_id=event.video_id, event=event.type.value, at=event.occurred_at
            )
            return frame_of(live, seq)
        try:
            record = await self._rt.catalog.get(event.owner, event.video_id)
        except Exception as exc:  # the bus is away: the status this event means at least
            log.warning("sse_record_read_failed", video_id=event.video_id, error=type(exc).__name__)
            record = None
        if record is not None:
            return frame_of(record_status(record, event=event.type.value, at=event.occurred_at), seq)
        failed = event.type is EventType.FAILED
        live = LiveEvent(
            type="status",
            video_id=event.video_id,
            event=event.type.value,
            status=EVENT_STATUS[event.type],
            stage=getattr(event, "stage", None) if failed else None,
            reason=public_reason(getattr(event, "reason", "")) if failed else None,
            at=event.occurred_at,
        )
        return frame_of(live, seq)

    async def _dispatch(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        try:
            event = parse_event(msg.subject, msg.data)
        except EventError:
            self.position = max(self.position, seq)
            return
        self.remember_owner(event.video_id, event.owner)
        if any(listener.wants(event.owner, event.video_id) for listener in self._listeners):
            frame = await self.frame_for(event, seq)
            # no await from here on: a listener added now gets this frame or a later position
            self._deliver(frame, event.owner, event.video_id)
        self.position = max(self.position, seq)

    async def _create_consumer(self, start_seq: int, *, ttl_s: float = CONSUMER_TTL_S) -> str:
        name = names.event_feed_consumer(secrets.token_hex(8))
        config = api.ConsumerConfig(
            name=name,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(start_seq, 1),
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=ttl_s,
            mem_storage=True,
            num_replicas=1,
        )
        await self._rt.js.add_consumer(self._stream, config)
        return str(name)

    async def _delete_consumer(self, name: str | None) -> None:
        if name is None:
            return
        with contextlib.suppress(Exception):
            await self._rt.js.delete_consumer(self._stream, name)

    async def _feed(self) -> None:
        """Dispatch every event after :attr:`position`, in order, until closed."""
        while not self.closing:
            try:
                self._consumer = await self._create_consumer(self.position + 1)
                sub = await self._rt.js.pull_subscribe_bind(self._consumer, stream=self._stream)
                try:
                    async for msg in self._messages(sub):
                        await self._dispatch(msg)
                finally:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus is away, or the consumer was lost: start a new one
                log.warning("sse_feed_restart", error=f"{type(exc).__name__}: {exc}", position=self.position)
                old, self._consumer = self._consumer, None
                await self._delete_consumer(old)
                await asyncio.sleep(1)

    async def _messages(self, sub: JetStreamContext.PullSubscription) -> AsyncIterator[Msg]:
        """The consumer's messages; raises when one was skipped (its sequence jumps) or it is gone."""
        consumer_seq = 0
        while not self.closing:
            try:
                msgs = await sub.fetch(1, timeout=FETCH_WAIT_S)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            while msgs:
                pending = 0
                for msg in msgs:
                    meta = msg.metadata
                    if meta.sequence.consumer != consumer_seq + 1:
                        raise LookupError(f"the feed skipped from {consumer_seq} to {meta.sequence.consumer}")
                    consumer_seq = meta.sequence.consumer
                    pending = meta.num_pending
                    yield msg
                msgs = []
                if pending:
                    with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                        msgs = await sub.fetch(min(pending, REPLAY_BATCH), timeout=1)

    # -- replay ---------------------------------------------------------------------------------
    async def first_seq(self) -> tuple[int, int]:
        """(first, last) sequence the stream holds now."""
        info = await self._rt.js.stream_info(self._stream)
        return info.state.first_seq, info.state.last_seq

    async def replay(self, listener: Listener, after: int, until: int) -> AsyncGenerator[Frame, None]:
        """The frames ``listener`` wants of the events after ``after`` up to ``until``, read with a
        short-lived consumer of its own."""
        if until <= after:
            return
        name = await self._create_consumer(after + 1, ttl_s=10)
        subscribed: list[JetStreamContext.PullSubscription] = []
        try:
            sub = await self._rt.js.pull_subscribe_bind(name, stream=self._stream)
            subscribed.append(sub)
            seq = after
            while seq < until:
                try:
                    msgs = await sub.fetch(min(until - seq, REPLAY_BATCH), timeout=5)
                except (TimeoutError, nats.errors.TimeoutError):
                    break  # nothing more (the rest expired meanwhile): live frames carry on
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    if seq > until:
                        break
                    try:
                        event = parse_event(msg.subject, msg.data)
                    except EventError:
                        continue
                    if listener.wants(event.owner, event.video_id):
                        yield await self.frame_for(event, seq)
        finally:
            for sub in subscribed:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            await self._delete_consumer(name)
