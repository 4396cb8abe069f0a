"""JetStream helpers: connect, provision (idempotently), publish with ``Nats-Msg-Id``, and a
pull-consumer worker loop with explicit ack, heartbeats, bounded redelivery and a terminal
failure callback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, BucketNotFoundError
from nats.js.kv import KeyValue

from vidsage.contracts import names
from vidsage.contracts.events import Event, EventError, EventType, parse_event
from vidsage.logging import get_logger, redact_url, scrub
from vidsage.settings import NatsSettings, WorkerSettings
from vidsage.transient import dependency_of, is_transient

log = get_logger("vidsage.bus")

TRACE_HEADER = "Vidsage-Trace-Id"
MSG_ID_HEADER = "Nats-Msg-Id"


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer owned by one service (the consumer is named after it)."""

    durable: str
    events: tuple[EventType, ...]


# One durable consumer per worker service, by service; the names match the services (STYLE.md).
CONSUMERS: dict[str, ConsumerSpec] = {
    spec.durable: spec
    for spec in (
        ConsumerSpec(names.INGEST_CONSUMER, (EventType.UPLOADED,)),
        ConsumerSpec(names.TRANSCRIBER_CONSUMER, (EventType.UPLOADED,)),
        ConsumerSpec(names.INDEXER_CONSUMER, (EventType.TRANSCRIBED, EventType.DELETED)),
        ConsumerSpec(names.NOTIFIER_CONSUMER, tuple(EventType)),  # webhooks: every event
    )
}


async def _on_nats_error(exc: Exception) -> None:
    """nats-py's asynchronous errors as log lines: a refused publish or subscription (this service
    tried a subject its NATS user may not use: a bug, or a permission missing from
    ``vidsage.contracts.permissions``) as an error; the rest (a failed reconnect, a slow consumer)
    as a warning."""
    text = str(exc) or type(exc).__name__
    if "permissions violation" in text.lower():
        log.error("nats_permission_violation", error=text)
    else:
        log.warning("nats_error", error=text)


async def connect(
    settings: NatsSettings, name: str, *, wait_s: float = 30.0, reconnect_buffer: bool = True
) -> NATS:
    """Connect to NATS, retrying the first connection for up to ``wait_s`` seconds.

    With ``settings.user`` the connection authenticates as that user and its reply inboxes are
    ``settings.inbox`` (``_INBOX.<user>``), the only ones its permissions let it subscribe to.

    ``reconnect_buffer``: nats-py keeps what is published while it reconnects (2 MiB) and sends it
    after the reconnect, so a KV write whose caller already gave up (timed out) can still land
    later. False turns the buffer off: publishing while disconnected raises
    ``OutboundBufferLimitError`` at once, and nothing lands late. The gateway, which answers its
    clients from the outcome of each write, uses False."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    credentials: dict[str, Any] = {}
    if settings.user is not None and settings.password is not None:
        credentials = {"user": settings.user, "password": settings.password.get_secret_value()}
    where = redact_url(settings.url)
    while True:
        try:
            return await nats.connect(
                servers=[s.strip() for s in settings.url.split(",")],
                name=name,
                connect_timeout=settings.connect_timeout_s,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                inbox_prefix=settings.inbox,
                error_cb=_on_nats_error,
                **credentials,
                **({} if reconnect_buffer else {"pending_size": 0}),
            )
        except Exception as exc:  # nats raises several unrelated types for "cannot connect"
            reason = scrub(str(exc) or type(exc).__name__)
            if loop.time() >= deadline:
                raise ConnectionError(f"cannot connect to NATS at {where}: {reason}") from None
            log.warning("nats_connect_retry", url=where, error=reason)
            await asyncio.sleep(1)


async def provision_stream(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create or update the ``VIDSAGE`` stream (limits retention, file storage, 2 min dedup)."""
    config = api.StreamConfig(
        name=settings.stream,
        subjects=[names.EVENT_SUBJECTS],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        max_age=settings.stream_max_age_s,
        duplicate_window=settings.duplicate_window_s,
        discard=api.DiscardPolicy.OLD,
        num_replicas=settings.replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        # The stream exists with another configuration: bring it to this one.
        await js.update_stream(config)


async def provision_kv(
    js: JetStreamContext,
    bucket: str,
    *,
    history: int = 1,
    ttl_s: float | None = None,
    replicas: int = 1,
) -> KeyValue:
    """Open a KV bucket, creating it on first use (with ``replicas`` copies on a cluster)."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(
            api.KeyValueConfig(
                bucket=bucket, history=history, ttl=ttl_s, storage=api.StorageType.FILE, replicas=replicas
            )
        )
    except BadRequestError:
        # Another process created it between our two calls.
        return await js.key_value(bucket)


def consumer_config(spec: ConsumerSpec, worker: WorkerSettings) -> api.ConsumerConfig:
    subjects = [event.subject for event in spec.events]
    return api.ConsumerConfig(
        durable_name=spec.durable,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=worker.ack_wait_s,
        max_deliver=worker.max_deliver,
        max_ack_pending=worker.concurrency * worker.processes,
        filter_subject=subjects[0] if len(subjects) == 1 else None,
        filter_subjects=subjects if len(subjects) > 1 else None,
    )


async def provision_consumer(
    js: JetStreamContext, stream: str, spec: ConsumerSpec, worker: WorkerSettings
) -> api.ConsumerInfo:
    """Create the durable consumer, or update it to the current settings.

    One call does both: on nats-server ≥ 2.10, creating a durable consumer that exists with
    another configuration updates it.
    """
    return await js.add_consumer(stream, consumer_config(spec, worker))


async def publish_event(
    js: JetStreamContext, event: Event, *, trace_id: str | None = None, msg_id: str | None = None
) -> api.PubAck:
    """Publish an event with ``Nats-Msg-Id`` = ``<video_id>:<event>`` (or ``msg_id``: a re-drive's,
    see :mod:`vidsage.redrive`) so retries are deduplicated.

    The trace id defaults to the one bound in the logging context (the request's, or the one the
    consumed event carried), so a trace follows a video through every service.
    """
    headers = {MSG_ID_HEADER: msg_id or event.msg_id}
    trace_id = trace_id or structlog.contextvars.get_contextvars().get("trace_id")
    if trace_id:
        headers[TRACE_HEADER] = trace_id
    return await js.publish(event.subject, event.to_bytes(), headers=headers)


class PermanentError(Exception):
    """A job that can never succeed (bad input): fail the video now instead of retrying."""


FailureCallback = Callable[[str, str, int], Awaitable[None]]
"""Called with (video_id, reason, attempts) when a job has failed for good."""

Handler = Callable[[Event, int], Awaitable[None]]
"""Called with (event, attempt); attempt counts from 1. Raise to retry, or PermanentError to give up."""


def _stream_seq(msg: Msg) -> int | None:
    """The stream sequence of a JetStream delivery (None for a message without JetStream metadata)."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return None


class Worker:
    """A pull-consumer loop: fetch up to the free slots, run jobs concurrently, ack when done.

    - a heartbeat (``in_progress``) every third of ``ack_wait`` keeps long jobs, so ``ack_wait``
      can be short: a dead worker's job is redelivered within ``ack_wait`` of its last heartbeat;
    - a job failing because a dependency is unavailable (:func:`vidsage.transient.is_transient`)
      is retried in place with exponential backoff for up to ``transient_window_s``, the heartbeat
      holding the message, so an outage spends no delivery;
    - a job failing for real is redelivered after a growing delay until ``max_deliver``; then (or
      at once on :class:`PermanentError`) ``on_failure`` runs and the message is terminated;
    - a malformed message is terminated at once (it can never be decoded);
    - a message delivered again while this worker still runs it (the bus forgot the delivery: a
      nats-server SIGKILLed mid-job comes back without what it had not written, and sends the job
      as new) is not run a second time at once: it waits for the run and is settled like it;
    - :meth:`run` returns when ``stop`` is set: no more fetching, the jobs in flight finish.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        spec: ConsumerSpec,
        settings: WorkerSettings,
        handler: Handler,
        on_failure: FailureCallback,
        nc: NATS | None = None,
        retry_delay: Callable[[int], float] | None = None,
    ) -> None:
        """``retry_delay(attempt)``: the pause before the next delivery after ``attempt`` failed
        (default ``backoff_s`` × attempt)."""
        self._retry_delay = retry_delay or (lambda attempt: settings.backoff_s * attempt)
        self._js = js
        self._nc = nc
        self._stream = stream
        self._spec = spec
        self._settings = settings
        self._handler = handler
        self._on_failure = on_failure
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[bool]] = set()
        self._running: dict[int, asyncio.Task[bool]] = {}  # stream sequence → its run
        self._stop = asyncio.Event()
        self.processed = 0
        self.transient_retries = 0

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        sub = await self._js.pull_subscribe_bind(self._spec.durable, stream=self._stream)
        advisories = None
        if self._nc is not None:
            # A job whose last delivery was never settled (the worker died, the ack was lost) is
            # dropped by JetStream with this advisory: fail the video instead of leaving it stuck.
            advisories = await self._nc.subscribe(
                names.max_deliveries_advisory(self._stream, self._spec.durable),
                cb=self._on_max_deliveries,
            )
        log.info("worker_started", consumer=self._spec.durable, concurrency=self._settings.concurrency)
        try:
            while not stop.is_set():
                await self._slots.acquire()
                free = 1
                while free < self._settings.concurrency and not self._slots.locked():
                    await self._slots.acquire()
                    free += 1
                if stop.is_set():  # stopped while waiting for a free slot: take no new work
                    for _ in range(free):
                        self._slots.release()
                    break
                msgs: list[Msg] = []
                try:
                    msgs = await sub.fetch(free, timeout=self._settings.fetch_timeout_s)
                except (TimeoutError, nats.errors.TimeoutError):
                    pass
                except Exception as exc:  # bus trouble: keep the loop alive, back off a little
                    log.warning("fetch_failed", consumer=self._spec.durable, error=str(exc))
                    await asyncio.sleep(1)
                for _ in range(free - len(msgs)):
                    self._slots.release()
                for msg in msgs:
                    self._start(msg)
        finally:
            if self._tasks:
                log.info("worker_draining", consumer=self._spec.durable, in_flight=len(self._tasks))
                await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
                if advisories is not None:
                    await advisories.unsubscribe()
            log.info("worker_stopped", consumer=self._spec.durable, processed=self.processed)

    def _start(self, msg: Msg) -> None:
        """Run ``msg``, or join the run of the same stream message already in flight here."""
        seq = _stream_seq(msg)
        running = self._running.get(seq) if seq is not None else None
        task = asyncio.create_task(self._process(msg) if running is None else self._join(msg, running))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if seq is not None and running is None:
            self._running[seq] = task
            task.add_done_callback(lambda _: self._running.pop(seq, None))

    async def _join(self, msg: Msg, running: asyncio.Task[bool]) -> bool:
        """A second delivery of a message whose run is in flight: held by heartbeats until the run
        ends, then acked if the run was, else nak'ed (the message comes again, once)."""
        heartbeat = asyncio.create_task(self._heartbeat(msg))
        try:
            log.warning(
                "job_delivered_while_running",
                stream_seq=_stream_seq(msg),
                attempt=msg.metadata.num_delivered,
            )
            await asyncio.wait({running})
            if not running.cancelled() and running.exception() is None and running.result():
                await msg.ack()
                return True
            await msg.nak(delay=self._settings.backoff_s)
            return False
        except Exception as exc:  # ack/nak failed (bus gone): the message will be redelivered
            log.error("job_settle_failed", error=str(exc))
            return False
        finally:
            heartbeat.cancel()
            self._slots.release()

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        try:
            info = json.loads(advisory.data)
            raw = await self._js.get_msg(self._stream, int(info["stream_seq"]))
            video_id = json.loads(raw.data or b"{}").get("video_id")
            deliveries = int(info.get("deliveries", self._settings.max_deliver))
        except Exception as exc:  # the message may be gone (max age) or not JSON: nothing to fail
            log.warning("max_deliveries_advisory_unusable", error=str(exc))
            return
        if isinstance(video_id, str) and video_id:
            log.error("job_abandoned_deliveries_exhausted", video_id=video_id, deliveries=deliveries)
            try:
                await self._on_failure(video_id, f"no result after {deliveries} deliveries", deliveries)
            except Exception as exc:
                log.error("failure_record_failed", video_id=video_id, error=str(exc))

    async def _heartbeat(self, msg: Msg) -> None:
        interval = max(self._settings.ack_wait_s / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _process(self, msg: Msg) -> bool:
        """Run one delivery and settle it; True when it was acked."""
        try:
            attempt = msg.metadata.num_delivered or 1
            try:
                event = parse_event(msg.subject, msg.data)
            except EventError as exc:
                log.error("event_malformed", subject=msg.subject, error=str(exc), attempt=attempt)
                await self._fail_malformed(msg, str(exc), attempt)
                return False
            # Each job runs in its own task, so this binding stays with this message's log lines.
            structlog.contextvars.bind_contextvars(
                trace_id=(msg.headers or {}).get(TRACE_HEADER) or event.event_id,
                video_id=event.video_id,
                event_type=event.type.value,
                attempt=attempt,
            )
            heartbeat = asyncio.create_task(self._heartbeat(msg))
            try:
                await self._run_handler(event, attempt)
            except PermanentError as exc:
                log.warning("job_failed_permanently", reason=str(exc))
                await self._give_up(msg, event.video_id, str(exc), attempt)
            except Exception as exc:
                transient = is_transient(exc)
                reason = f"{dependency_of(exc)} unavailable" if transient else f"{type(exc).__name__}: {exc}"
                if transient and self._stop.is_set():  # stopping mid-outage: leave it to another worker
                    log.warning("job_released_on_stop", reason=reason)
                    await msg.nak(delay=self._settings.backoff_s)
                elif attempt >= self._settings.max_deliver:
                    log.error("job_failed_deliveries_exhausted", reason=reason)
                    await self._give_up(msg, event.video_id, reason, attempt)
                else:
                    delay = self._retry_delay(attempt)
                    log.warning("job_failed_will_retry", reason=reason, retry_in_s=delay)
                    await msg.nak(delay=delay)
            else:
                await msg.ack()
                self.processed += 1
                log.info("job_done")
                return True
            finally:
                heartbeat.cancel()
        except Exception as exc:  # ack/nak failed (bus gone): the message will be redelivered
            log.error("job_settle_failed", error=str(exc))
        finally:
            self._slots.release()
        return False

    async def _run_handler(self, event: Event, attempt: int) -> None:
        """The handler, retried in place while it fails with a transient error, for up to
        ``transient_window_s`` (pauses doubling from 0.5 s to ``transient_backoff_max_s``) and
        until the worker stops; the last error is raised."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.transient_window_s
        pause = 0.5
        while True:
            try:
                await self._handler(event, attempt)
                return
            except PermanentError:
                raise
            except Exception as exc:
                if not is_transient(exc) or self._stop.is_set() or loop.time() + pause > deadline:
                    raise
                self.transient_retries += 1
                log.warning(
                    "job_dependency_unavailable_will_retry",
                    dependency=dependency_of(exc),
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in_s=pause,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), pause)
            pause = min(pause * 2, self._settings.transient_backoff_max_s)

    async def _give_up(self, msg: Msg, video_id: str | None, reason: str, attempt: int) -> None:
        """Record the failure on the video (if any), then terminate; if recording fails (catalog
        down), let JetStream redeliver, so the failure is never lost."""
        if video_id:
            try:
                await self._on_failure(video_id, reason, attempt)
            except Exception as exc:
                log.error("failure_record_failed", video_id=video_id, error=str(exc))
                await msg.nak(delay=self._settings.backoff_s)
                return
        await msg.term()

    async def _fail_malformed(self, msg: Msg, reason: str, attempt: int) -> None:
        """A message that cannot be decoded: if it names a video, that video fails."""
        try:
            video_id = json.loads(msg.data).get("video_id")
        except (ValueError, AttributeError):
            video_id = None
        named = video_id if isinstance(video_id, str) and video_id else None
        await self._give_up(msg, named, f"malformed event: {reason}", attempt)


JOBS_MAX_AGE_S = 900.0
"""A job nobody took within 15 minutes is dropped: its requester gave up long before."""


async def provision_jobs_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create or update the ``VIDSAGE_JOBS`` work-queue stream (``vidsage.jobs.>``, at
    ``replicas`` copies): a job is removed when its worker acks it; each is deduplicated by its
    ``Nats-Msg-Id`` (the job id)."""
    config = api.StreamConfig(
        name=names.JOBS_STREAM,
        subjects=[names.JOBS_SUBJECTS],
        retention=api.RetentionPolicy.WORK_QUEUE,
        storage=api.StorageType.FILE,
        max_age=JOBS_MAX_AGE_S,
        duplicate_window=120,
        discard=api.DiscardPolicy.OLD,
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)
