"""The chat service's NATS serving loop: chat requests on ``chat.subject`` (queue group ``chat``,
so replicas share the load) are answered by :class:`~vidsage_chat.answering.Answerer`, streaming
numbered chunks to each request's reply inbox.

Requests are handled concurrently (bounded by ``chat.concurrency``; beyond it the answer is
``busy``). A message on ``<subject>.cancel.<request_id>`` cancels that answer (the gateway sends
it when the WebSocket closes), which also closes the stream to the language model. On SIGTERM
the service stops taking requests and lets running answers finish for a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.msg import Msg
from pydantic import ValidationError

from vidsage.bus import TRACE_HEADER
from vidsage.contracts import names
from vidsage.contracts.chat import ChatRequest
from vidsage.logging import get_logger
from vidsage.runtime import Runtime
from vidsage_chat.answering import Answerer, Replier

log = get_logger("vidsage.chat")

DRAIN_GRACE_S = 10.0


class ChatService:
    """Serves chat requests until ``rt.stop`` (:meth:`run`); ``ready`` is set once subscribed."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cfg = rt.settings.chat
        self.answerer = Answerer(rt)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.stopping = False
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """The serving loop: subscribe to requests and cancels, answer until ``rt.stop``, drain."""
        nc, subject = self.rt.nc, self.cfg.subject
        requests = await nc.subscribe(subject, queue=names.CHAT_QUEUE, cb=self._on_request)
        cancels = await nc.subscribe(names.chat_cancel_subject(subject, "*"), cb=self._on_cancel)
        await nc.flush()
        self.ready.set()
        llm = self.answerer.llm is not None
        log.info(
            "chat_ready",
            subject=subject,
            mode=self.answerer.mode,
            model=self.cfg.llm_model if llm else None,
            base_url=self.cfg.llm_base_url if llm else None,
        )
        try:
            await self.rt.stop.wait()
        finally:
            self.stopping = True
            await requests.unsubscribe()
            if self.tasks:
                log.info("chat_draining", answers=len(self.tasks))
                await asyncio.wait(list(self.tasks.values()), timeout=DRAIN_GRACE_S)
            for task in list(self.tasks.values()):
                task.cancel()
            if self.tasks:
                await asyncio.wait(list(self.tasks.values()), timeout=2)
            await cancels.unsubscribe()
            await self.answerer.close()

    async def _on_request(self, msg: Msg) -> None:
        if not msg.reply:
            log.warning("chat_request_without_reply")
            return
        replier = Replier(self.rt.nc, msg.reply)
        try:
            request = ChatRequest.model_validate_json(msg.data)
        except ValidationError as exc:
            await replier.error("bad_request", f"invalid chat request: {exc.error_count()} error(s)")
            return
        if self.stopping or len(self.tasks) >= self.cfg.concurrency:
            await replier.error("busy", "the chat service is at its limit; try again in a moment")
            return
        trace_id = (msg.headers or {}).get(TRACE_HEADER) or request.request_id
        task = asyncio.create_task(self._answer(request, replier, trace_id))
        self.tasks[request.request_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(request.request_id, None))

    async def _on_cancel(self, msg: Msg) -> None:
        request_id = msg.subject.rsplit(".", 1)[-1]
        task = self.tasks.get(request_id)
        if task is not None:
            log.info("chat_cancelled", request_id=request_id)
            task.cancel()

    async def _answer(self, request: ChatRequest, replier: Replier, trace_id: str) -> None:
        try:
            await self.answerer.answer(request, replier, trace_id)
        except asyncio.CancelledError:
            if self.stopping:
                with contextlib.suppress(Exception):
                    await replier.error("chat_unavailable", "the chat service is restarting; ask again")
            raise
