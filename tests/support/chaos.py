"""The chaos tier's harness: a workload of uploads (and chats) against the whole system, faults
injected into its processes, a client-side history of what was acknowledged and observed, and a
checker that turns the history and the system's own records into a Jepsen-style verdict.

Everything is observed from outside, as a user or an operator would: the public API (uploads,
``/status`` polls, listing, media, transcript, search, the chat WebSocket), the JetStream stream
(every event ever published, read back message by message as the read-only NATS user
``observer``) and the services' JSON logs (which process finished which job). Nothing inside the
system is patched.

Verdict per scenario:

- **acknowledged**: uploads answered 201 (the system promised to keep them);
- **ok**: acknowledged and ``ready`` with their media and transcript readable;
- **lost**: acknowledged but gone (404), or ``ready`` with the source or the transcript missing;
- **duplicated**: work done twice — a stage's event published twice for one video (a second
  transcript, a second indexing), a job finished by two processes, duplicate passages in search, or
  a status seen moving backwards;
- **stuck**: acknowledged and not finished (``ready``/``failed``) within the settle time after the
  fault ended;
- **failed**: acknowledged and ``failed``;
- **phantom**: a record nobody was told was kept (its upload was refused or broke off);
- recovery times after the fault ended: the API answering again, the first status change, and every
  video of the scenario finished.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import itertools
import json
import random
import signal
import statistics
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.js.errors
import psutil
from nats.js import JetStreamContext

from vidsage.bus import connect
from vidsage.contracts import names
from vidsage.settings import NatsSettings
from vidsage_dev.system import DevSystem

ORDER = ["uploaded", "ingesting", "ingested", "transcribing", "transcribed", "indexing", "ready"]
FINISHED = ("ready", "failed")
STAGE_EVENTS = ("ingested", "transcribed", "indexed")
"""Events a stage publishes once per video: a second one means the stage's work was done twice."""
POLL_S = 0.3


def _rank(status: str) -> int:
    return ORDER.index(status) if status in ORDER else len(ORDER)


@dataclass
class VideoHistory:
    """One upload as the client saw it."""

    label: str
    started: float
    http_status: int | None = None
    error: str | None = None
    video_id: str | None = None
    observed: list[tuple[float, str]] = field(default_factory=list)
    """Distinct consecutive statuses seen by the polls, with their time."""
    final: str | None = None
    failure: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        return self.http_status == 201 and self.video_id is not None

    def see(self, at: float, status: str) -> None:
        if not self.observed or self.observed[-1][1] != status:
            self.observed.append((at, status))

    def backwards(self) -> list[tuple[str, str]]:
        """Transitions seen moving back (``failed`` is final; a poll never sees it undone)."""
        seen = [s for _, s in self.observed]
        return [(a, b) for a, b in itertools.pairwise(seen) if _rank(b) < _rank(a)]


@dataclass
class Verdict:
    """The checked outcome of one scenario."""

    scenario: str
    fault: str
    acknowledged: int = 0
    ok: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    failed: int = 0
    phantom: int = 0
    refused: int = 0
    """Uploads not acknowledged (an error answer or a broken connection): allowed during a fault."""
    redelivered: int = 0
    """Videos with a stage run more than once (the fault hit a job in progress)."""
    api_recovery_s: float | None = None
    progress_recovery_s: float | None = None
    settle_s: float | None = None
    chats_ok: int | None = None
    chats_failed: int | None = None
    chats_unanswered: int | None = None
    """Chats in flight that ended with neither ``done`` nor an ``error`` frame: the client gave
    up, or the socket closed, before the gateway told it anything."""
    chat_recovery_s: float | None = None
    spread: dict[str, int] = field(default_factory=dict)
    """Jobs finished per process (the competing workers)."""
    details: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Failure reasons as clients see them."""

    def target_met(self, *, allow_failed: bool = False) -> bool:
        """lost 0, duplicated 0, stuck 0, phantom 0 and (for an outage within the retry window)
        failed 0."""
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.stuck == 0
            and self.phantom == 0
            and (allow_failed or self.failed == 0)
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class Client:
    """The public API as the workload uses it (admin key, every tenant)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def upload(
        self, history: VideoHistory, data: bytes, filename: str, *, hold: asyncio.Event | None = None
    ) -> None:
        """POST the file; with ``hold``, send the first half of the body, wait for ``hold``, then
        the rest (the request is authenticated and being read when the fault strikes)."""
        form: Any
        headers = {}
        if hold is None:
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("file", data, filename=filename, content_type="application/octet-stream")
        else:
            boundary = "chaos-held-upload"
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            body = head + data + f"\r\n--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"

            async def held() -> AsyncIterator[bytes]:
                yield body[: len(body) // 2]
                await hold.wait()
                yield body[len(body) // 2 :]

            form = held()
        try:
            url = f"{self.base}/api/videos/upload"
            async with self.session.post(url, data=form, headers=headers) as resp:
                history.http_status = resp.status
                body = await resp.json(content_type=None)
                if resp.status == 201:
                    history.video_id = body["id"]
                else:
                    history.error = json.dumps(body)[:300]
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            history.error = f"{type(exc).__name__}: {exc}"[:300]

    async def status(self, video_id: str) -> tuple[int | None, dict[str, Any] | None]:
        try:
            async with self.session.get(f"{self.base}/api/videos/{video_id}/status") as resp:
                body = await resp.json(content_type=None)
                return resp.status, body if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None, None

    async def get_status(self, path: str) -> int | None:
        try:
            async with self.session.get(f"{self.base}{path}") as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def listing(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            url = f"{self.base}/api/videos?limit=200&owner=*" + (f"&cursor={cursor}" if cursor else "")
            async with self.session.get(url) as resp:
                assert resp.status == 200, await resp.text()
                page = await resp.json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def passages(self, video_id: str, query: str) -> list[dict[str, Any]] | None:
        url = f"{self.base}/api/search"
        try:
            params = {"q": query, "video_id": video_id, "limit": "50", "owner": "*"}
            async with self.session.get(url, params=params) as resp:
                if resp.status != 200:
                    return None
                hits: list[dict[str, Any]] = (await resp.json())["hits"]
                return hits
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def chat(self, video_id: str, question: str, *, timeout_s: float = 30) -> tuple[bool, str]:
        """One question on the video's chat WebSocket: (answered with ``done``, what happened and
        after how long)."""
        started = time.monotonic()
        ok, what = await self._chat(video_id, question, timeout_s)
        return ok, f"{what} after {time.monotonic() - started:.0f} s"

    async def _chat(self, video_id: str, question: str, timeout_s: float) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(timeout_s):
                async with self.session.ws_connect(f"{self.base}/ws/chat/{video_id}") as ws:
                    await ws.send_json({"type": "message", "content": question})
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            return False, f"socket {msg.type.name}"
                        frame = json.loads(msg.data)
                        if frame["type"] == "done":
                            return True, "done"
                        if frame["type"] == "error":
                            return False, f"error {frame.get('code')}"
                    return False, "closed"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return False, type(exc).__name__


# -- faults -----------------------------------------------------------------------------------------


@dataclass
class FaultWindow:
    """When a fault was active (monotonic times)."""

    began: float
    ended: float
    note: str = ""
    bus: bool = False
    """The fault took (a member of) the bus down: what it held in memory, acks included, is gone."""

    def ended_at(self) -> float:
        """The end as wall-clock time (the services' log lines carry wall-clock timestamps)."""
        return time.time() - (time.monotonic() - self.ended)


Fault = Callable[[DevSystem, random.Random], Awaitable[FaultWindow]]


def stream_leader(system: DevSystem) -> str:
    """The server name (``n1``…) leading the events stream, read from a live member's monitoring."""
    for server in system.nats_servers:
        if not server.alive:
            continue
        with contextlib.suppress(OSError, ValueError):
            url = f"{server.monitor_url}/jsz?accounts=true&streams=true"
            with urllib.request.urlopen(url, timeout=2) as resp:
                info = json.loads(resp.read())
            for account in info.get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    leader = (detail.get("cluster") or {}).get("leader")
                    if detail.get("name") == names.STREAM and leader:
                        return str(leader)
    raise AssertionError("no live nats-server knows the stream's leader")


def busiest(system: DevSystem, service: str, sample_s: float = 0.3) -> str:
    """The process of ``service`` using the most CPU right now (the replica holding a job)."""
    procs = {name: psutil.Process(system.process(name).pid) for name in system.config.processes_of(service)}
    for proc in procs.values():
        proc.cpu_percent(None)
    time.sleep(sample_s)
    return max(procs, key=lambda name: procs[name].cpu_percent(None))


def kill(name: str, *, down_s: float = 1.0) -> Fault:
    """SIGKILL process ``name`` (and its group), keep it down ``down_s``, start it again.

    ``nats-leader``: the nats-server leading the events stream; ``busy:<service>``: the replica of
    ``service`` that is working (most CPU)."""

    async def fault(system: DevSystem, rng: random.Random) -> FaultWindow:
        target = name
        if name == "nats-leader":
            target = f"nats-{stream_leader(system)}"
        elif name.startswith("busy:"):
            target = busiest(system, name.removeprefix("busy:"))
        began = time.monotonic()
        system.process(target).signal(signal.SIGKILL)
        system.process(target).wait(5)
        await asyncio.sleep(down_s)
        system.restart(target)
        note = f"SIGKILL {target}, down {down_s:.0f} s"
        return FaultWindow(began, time.monotonic(), note, bus=target.startswith("nats"))

    return fault


def stop(name: str, *, down_s: float) -> Fault:
    """Stop process ``name`` cleanly (SIGTERM), keep it down ``down_s``, start it again."""

    async def fault(system: DevSystem, rng: random.Random) -> FaultWindow:
        began = time.monotonic()
        system.process(name).stop(10)
        await asyncio.sleep(down_s)
        system.restart(name)
        note = f"stop {name}, down {down_s:.0f} s"
        return FaultWindow(began, time.monotonic(), note, bus=name.startswith("nats"))

    return fault


def freeze(name: str, *, seconds: float, duty: float = 1.0, period_s: float = 1.0) -> Fault:
    """SIGSTOP process ``name``: ``duty`` 1 hangs it for ``seconds``; below 1 it runs only
    ``1 - duty`` of every ``period_s`` (a slow server), then SIGCONT."""

    async def fault(system: DevSystem, rng: random.Random) -> FaultWindow:
        proc = system.process(name)
        began = time.monotonic()
        end = began + seconds
        try:
            while time.monotonic() < end:
                proc.signal(signal.SIGSTOP)
                await asyncio.sleep(min(period_s * duty if duty < 1 else seconds, end - time.monotonic()))
                if duty < 1:
                    proc.signal(signal.SIGCONT)
                    await asyncio.sleep(period_s * (1 - duty))
        finally:
            proc.signal(signal.SIGCONT)
        what = "hang" if duty >= 1 else f"slow ({1 - duty:.0%} of the time running)"
        return FaultWindow(began, time.monotonic(), f"{what} {name} for {seconds:.0f} s")

    return fault


# -- triggers ---------------------------------------------------------------------------------------


Trigger = Callable[[list[VideoHistory]], bool]


def when_status(*statuses: str) -> Trigger:
    """Fire once any acknowledged video was seen in one of ``statuses``."""
    return lambda videos: any(s in statuses for v in videos for _, s in v.observed)


def when_uploading() -> Trigger:
    """Fire while the uploads are being sent."""
    return lambda videos: bool(videos)


@dataclass
class Scenario:
    name: str
    fault: Fault | None
    trigger: Trigger = field(default=when_uploading())
    jitter_s: float = 0.5
    """The fault fires at a random time within this many seconds after the trigger."""
    uploads: int = 3
    held: int = 0
    """Uploads whose body is half sent before the fault and finished once it struck."""
    chats: int = 0
    """Chats started just before the fault (on a video made ready first)."""
    system: str = "single"
    """Which system it runs on: ``single`` (as ``make run``) or ``cluster`` (3 nats-servers,
    replicas of the workers)."""
    allow_failed: bool = False
    """True for an outage longer than the configured retry window (failing cleanly is right)."""
    description: str = ""


@dataclass
class Workload:
    video: bytes
    filename: str
    query: str
    """Words of the video's speech, to find its passages."""
    question: str


class Run:
    """Runs one scenario against a running system and checks it."""

    def __init__(
        self,
        system: DevSystem,
        session: aiohttp.ClientSession,
        workload: Workload,
        *,
        rng: random.Random,
        settle_s: float,
        known_ids: set[str],
    ) -> None:
        self.system = system
        self.client = Client(session, system.gateway_url)
        self.workload = workload
        self.rng = rng
        self.settle_s = settle_s
        self.known_ids = known_ids
        self.videos: list[VideoHistory] = []
        self._api_ok_at: list[float] = []
        self._changes: list[float] = []

    async def _poll(self, done: asyncio.Event) -> None:
        while not done.is_set():
            for video in [v for v in self.videos if v.acknowledged and v.final is None]:
                assert video.video_id is not None
                code, body = await self.client.status(video.video_id)
                now = time.monotonic()
                if code == 200 and body is not None:
                    self._api_ok_at.append(now)
                    before = len(video.observed)
                    video.see(now, body["status"])
                    if len(video.observed) != before:
                        self._changes.append(now)
                    if body["status"] in FINISHED:
                        video.final = body["status"]
                        video.failure = body.get("failure") or body.get("error")
            await asyncio.sleep(POLL_S)

    async def _ready_video(self) -> str:
        """A video to chat about: uploaded and waited for before the fault."""
        history = VideoHistory("chat-video", time.monotonic())
        await self.client.upload(history, self.workload.video, "chat-" + self.workload.filename)
        assert history.video_id is not None, history.error
        self.known_ids.add(history.video_id)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            code, body = await self.client.status(history.video_id)
            if code == 200 and body is not None and body["status"] in FINISHED:
                assert body["status"] == "ready", body
                return history.video_id
            await asyncio.sleep(POLL_S)
        raise AssertionError("the chat video did not become ready")

    async def run(self, scenario: Scenario) -> Verdict:
        verdict = Verdict(scenario.name, "none")
        chat_video = await self._ready_video() if scenario.chats else None
        done = asyncio.Event()
        poller = asyncio.create_task(self._poll(done))
        struck = asyncio.Event()
        uploads = [self._upload(scenario) for _ in range(scenario.uploads)]
        uploads += [self._upload(scenario, hold=struck) for _ in range(scenario.held)]
        chats: list[asyncio.Task[tuple[bool, str]]] = []
        window = None
        recovery: asyncio.Task[float | None] | None = None
        try:
            if scenario.fault is not None:
                deadline = time.monotonic() + 120
                while not scenario.trigger(self.videos):
                    assert time.monotonic() < deadline, "the fault's trigger never fired"
                    await asyncio.sleep(0.05)
                await asyncio.sleep(self.rng.uniform(0, scenario.jitter_s))
                if chat_video is not None:
                    # a patient client, 60 s: an answer the dead chat service never finishes must
                    # end in an error frame from the gateway (within its chunk timeout, 10 s), not
                    # in the client giving up
                    chats = [
                        asyncio.create_task(
                            self.client.chat(chat_video, self.workload.question, timeout_s=60)
                        )
                        for _ in range(scenario.chats)
                    ]
                    await asyncio.sleep(0.2)
                faulted = asyncio.Event()
                during = asyncio.create_task(self._upload_during(scenario, faulted, struck))
                try:
                    window = await scenario.fault(self.system, self.rng)
                finally:
                    faulted.set()
                    uploads += await during
                verdict.fault = window.note
                if chat_video is not None:
                    recovery = asyncio.create_task(self._chat_recovery(chat_video, window.ended))
            await asyncio.gather(*uploads)
            ended = window.ended if window else time.monotonic()
            settle_deadline = ended + self.settle_s
            while time.monotonic() < settle_deadline:
                if all(v.final is not None for v in self.videos if v.acknowledged):
                    break
                await asyncio.sleep(POLL_S)
            else:
                pass
            if all(v.final is not None for v in self.videos if v.acknowledged):
                last = max((t for v in self.videos for t, _ in v.observed), default=ended)
                verdict.settle_s = round(max(last - ended, 0.0), 1)
            if window is not None:
                after = [t for t in self._api_ok_at if t >= window.ended]
                verdict.api_recovery_s = round(after[0] - window.ended, 1) if after else None
                changes = [t for t in self._changes if t >= window.ended]
                verdict.progress_recovery_s = round(changes[0] - window.ended, 1) if changes else None
            if chats:
                results = await asyncio.gather(*chats)
                verdict.chats_ok = sum(ok for ok, _ in results)
                verdict.chats_failed = len(results) - verdict.chats_ok
                verdict.chats_unanswered = sum(not what.startswith(("done", "error")) for _, what in results)
                verdict.details += sorted({f"chat in flight: {what}" for ok, what in results if not ok})
                verdict.chat_recovery_s = await recovery if recovery is not None else None
        finally:
            done.set()
            await poller
        await self._check(verdict, window)
        return verdict

    def _upload(self, scenario: Scenario, *, hold: asyncio.Event | None = None) -> asyncio.Task[None]:
        """Start one upload under a file name of its own (the record's ``filename`` names it)."""
        video = VideoHistory(f"{scenario.name}-{len(self.videos)}", time.monotonic())
        self.videos.append(video)
        name = f"{video.label}-{self.workload.filename}"
        return asyncio.create_task(self.client.upload(video, self.workload.video, name, hold=hold))

    async def _upload_during(
        self, scenario: Scenario, faulted: asyncio.Event, struck: asyncio.Event
    ) -> list[asyncio.Task[None]]:
        """While the fault lasts, a user keeps uploading: one at once, then one every 5 s. Runs from
        the fault's first pause, so it also tells the held uploads that the fault has struck."""
        struck.set()
        started = []
        while not faulted.is_set():
            started.append(self._upload(scenario))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(faulted.wait(), 5.0)
        return started

    async def _chat_recovery(self, video_id: str, since: float) -> float | None:
        deadline = time.monotonic() + self.settle_s
        while time.monotonic() < deadline:
            ok, _ = await self.client.chat(video_id, self.workload.question, timeout_s=10)
            if ok:
                return round(time.monotonic() - since, 1)
            await asyncio.sleep(0.5)
        return None

    async def _check(self, verdict: Verdict, window: FaultWindow | None) -> None:
        acked = [v for v in self.videos if v.acknowledged]
        verdict.acknowledged = len(acked)
        verdict.refused = len(self.videos) - len(acked)
        verdict.details += sorted(
            {f"upload refused: {v.http_status} {v.error}" for v in self.videos if not v.acknowledged}
        )
        duplicated: set[str] = set()
        for video in acked:
            assert video.video_id is not None
            self.known_ids.add(video.video_id)
            code, body = await self.client.status(video.video_id)
            if code == 404:
                verdict.lost += 1
                verdict.details.append(f"lost: {video.video_id} (404 after 201)")
                continue
            status = body["status"] if body else video.final
            if body and any(stage.get("attempts", 0) > 1 for stage in body.get("stages", {}).values()):
                verdict.redelivered += 1
            if status == "ready":
                media = await self.client.get_status(f"/api/videos/{video.video_id}")
                transcript = await self.client.get_status(f"/api/videos/{video.video_id}/transcript")
                if media != 200 or transcript != 200:
                    verdict.lost += 1
                    verdict.details.append(
                        f"lost: {video.video_id} ready, media {media}, transcript {transcript}"
                    )
                    continue
                verdict.ok += 1
                hits = await self.client.passages(video.video_id, self.workload.query)
                if hits is not None:
                    spans = collections.Counter((h["start"], h["end"], h["text"]) for h in hits)
                    if any(n > 1 for n in spans.values()):
                        duplicated.add(video.video_id)
                        verdict.details.append(f"duplicate passages: {video.video_id}")
            elif status == "failed":
                verdict.failed += 1
                reason = (body or {}).get("failure") or (body or {}).get("error") or video.failure
                verdict.failures.append(json.dumps(reason)[:300])
            else:
                verdict.stuck += 1
                verdict.details.append(f"stuck: {video.video_id} in {status}")
            if video.backwards():
                duplicated.add(video.video_id)
                verdict.details.append(f"status backwards: {video.video_id} {video.backwards()}")
        ids = {v.video_id for v in acked}
        for video_id, event, count in await stage_event_counts(self.system, ids):
            duplicated.add(video_id)
            verdict.details.append(f"{count} {event} events: {video_id}")
        done_by, spread = jobs_done(self.system.logs_dir, ids)
        verdict.spread = spread
        bus_back = window.ended_at() if window is not None and window.bus else None
        for (video_id, service, event), runs in done_by.items():
            if len(runs) < 2:
                continue
            what = f"{service}'s {event} job done {len(runs)} times ({', '.join(r.label for r in runs)})"
            if redone_after_bus_loss(runs, bus_back):
                verdict.details.append(f"{what}, again after the bus came back: {video_id}")
                continue
            duplicated.add(video_id)
            verdict.details.append(f"{what}: {video_id}")
        verdict.duplicated = len(duplicated)
        # a phantom: a record in the catalog that no 201 announced, although its upload got a
        # definite answer (an error status); an upload that timed out or broke off may or may not
        # have been kept (indeterminate, as Jepsen says), so its record is no phantom
        by_name = {f"{v.label}-{self.workload.filename}": v for v in self.videos}
        for item in await self.client.listing():
            if item["id"] in self.known_ids:
                continue
            self.known_ids.add(item["id"])  # reported once
            upload = by_name.get(item["filename"])
            if upload is not None and upload.http_status is None:
                verdict.details.append(f"kept after an indeterminate upload: {item['id']} ({item['status']})")
                continue
            verdict.phantom += 1
            answer = f"answered {upload.http_status}" if upload is not None else "unknown upload"
            verdict.details.append(f"phantom record: {item['id']} in {item['status']} ({answer})")


def observer_settings(system: DevSystem) -> NatsSettings:
    """How a checker connects to ``system``'s NATS: as the ``observer``, which may only look (the
    stream's messages one by one, the stream's and buckets' info); openly when NATS runs open."""
    credentials = system.nats_credentials(names.OBSERVER_USER)
    return NatsSettings(
        url=system.nats_urls,
        user=credentials.get("VIDSAGE_NATS__USER"),
        password=credentials.get("VIDSAGE_NATS__PASSWORD"),
        request_timeout_s=10,
    )


@contextlib.asynccontextmanager
async def observe(system: DevSystem) -> AsyncIterator[JetStreamContext]:
    """JetStream of ``system`` as the observer (see :func:`observer_settings`)."""
    settings = observer_settings(system)
    nc = await connect(settings, "vidsage-chaos-observer", wait_s=10)
    try:
        yield nc.jetstream(timeout=settings.request_timeout_s)
    finally:
        await nc.close()


async def stage_event_counts(system: DevSystem, ids: Iterable[str]) -> list[tuple[str, str, int]]:
    """(video_id, event, count) for every stage event published more than once for one of ``ids``
    (the stream read back message by message: the observer may create no consumer)."""
    wanted = set(ids)
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    async with observe(system) as js:
        info = await js.stream_info(names.STREAM)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(names.STREAM, seq)
            except nats.js.errors.NotFoundError:  # removed (limits): nothing to count
                continue
            event = (msg.subject or "").rsplit(".", 1)[-1]
            if event in STAGE_EVENTS:
                video_id = json.loads(msg.data or b"{}").get("video_id")
                if video_id in wanted:
                    counts[(video_id, event)] += 1
    return [(v, e, n) for (v, e), n in sorted(counts.items()) if n > 1]


@dataclass(frozen=True)
class JobRun:
    """One finished run of a job, from its ``job_done`` log line."""

    proc: str
    attempt: object
    """The delivery count the bus gave (1 for a message it thinks it never delivered)."""
    at: float
    """Wall-clock time of the line."""

    @property
    def label(self) -> str:
        return f"{self.proc} attempt {self.attempt}"


def redone_after_bus_loss(runs: list[JobRun], bus_back: float | None) -> bool:
    """A job done more than once only because the bus went down (``bus_back``: when it was back).

    A job whose ack the bus lost when it died (or whose delivery it forgot: the redelivery then
    says attempt 1) is delivered again once the bus is back: the at-least-once contract, which the
    handlers meet by being idempotent (the checker counts duplicated effects apart: an event, a
    passage, a status going backwards). So a run again is no duplicate when every earlier run
    finished before the bus came back; any other second run is (two workers held the job)."""
    return bus_back is not None and all(r.at <= bus_back for r in runs[:-1])


def jobs_done(
    logs_dir: Path, ids: Iterable[str]
) -> tuple[dict[tuple[str, str, str], list[JobRun]], dict[str, int]]:
    """From the services' JSON logs: the runs that finished each (video, service, event) job, in
    time order, and how many jobs each process finished (for ``ids``). Keyed by the service too:
    ingest and the transcriber both take ``uploaded``, each its own job."""
    wanted = set(ids)
    done_by: dict[tuple[str, str, str], list[JobRun]] = collections.defaultdict(list)
    spread: collections.Counter[str] = collections.Counter()
    for log in sorted(logs_dir.glob("*.log")):
        proc = log.stem
        with log.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if '"job_done"' not in line:
                    continue
                with contextlib.suppress(ValueError, KeyError):
                    entry = json.loads(line)
                    if entry.get("event") == "job_done" and entry.get("video_id") in wanted:
                        job = (entry["video_id"], entry.get("service", proc), entry.get("event_type", "?"))
                        at = datetime.datetime.fromisoformat(entry["timestamp"]).timestamp()
                        done_by[job].append(JobRun(proc, entry.get("attempt", "?"), at))
                        spread[proc] += 1
    in_order = {job: sorted(runs, key=lambda r: r.at) for job, runs in done_by.items()}
    return in_order, dict(sorted(spread.items()))


# -- the summary ------------------------------------------------------------------------------------

COLUMNS = ("acknowledged", "ok", "lost", "duplicated", "stuck", "failed", "phantom", "refused", "redelivered")


def summary(verdicts: list[Verdict], *, title: str = "vidsage chaos summary") -> str:
    """A Jepsen-style table: one row per scenario, the totals, the recovery times, the notes."""
    head = ["scenario", *COLUMNS, "api s", "progress s", "settle s", "chat"]
    rows = []
    for v in verdicts:
        chat = "" if v.chats_ok is None else f"{v.chats_ok}/{v.chats_ok + (v.chats_failed or 0)}"
        if v.chat_recovery_s is not None:
            chat += f" ({v.chat_recovery_s} s)"
        times = [_secs(v.api_recovery_s), _secs(v.progress_recovery_s), _secs(v.settle_s)]
        rows.append([v.scenario, *(str(getattr(v, c)) for c in COLUMNS), *times, chat])
    totals = ["total", *(str(sum(getattr(v, c) for v in verdicts)) for c in COLUMNS), "", "", "", ""]
    widths = [max(len(r[i]) for r in [head, *rows, totals]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [title, line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out += [line(["-" * w for w in widths]), line(totals)]
    settles = [v.settle_s for v in verdicts if v.settle_s is not None]
    if settles:
        out.append(
            f"settle after the fault: median {statistics.median(settles):.1f} s, max {max(settles):.1f} s"
        )
    out.append("")
    for v in verdicts:
        notes = [f"fault: {v.fault}"]
        if v.spread:
            notes.append("jobs per process: " + ", ".join(f"{p} {n}" for p, n in v.spread.items()))
        notes += v.details[:8]
        notes += [f"failure shown: {f}" for f in sorted(set(v.failures))[:3]]
        out.append(f"{v.scenario}: " + "; ".join(notes))
    return "\n".join(out)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
