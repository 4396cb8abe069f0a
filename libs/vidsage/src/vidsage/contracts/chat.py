"""The chat protocol: WebSocket frames (client ↔ gateway) and NATS messages (gateway ↔ chat).

WebSocket (``/ws/chat/<video_id>`` or ``/ws/chat`` for the whole library), JSON text frames:

- client → ``{"type": "message", "content": "...", "conversation_id"?: "..."}`` or ``{"type": "cancel"}``
- server → ``{"type": "token", "content": "..."}`` (repeated), then ``{"type": "done", ...}``
  (:class:`DoneFrame`); a problem is ``{"type": "error", "code": "...", "message": "..."}``
  (:class:`ErrorFrame`) and the connection stays usable.

NATS: the gateway publishes a :class:`ChatRequest` on ``chat.subject`` (queue group ``chat``) with
a reply inbox; the chat service answers on that inbox with numbered :class:`ChatChunk` messages:
``accepted``, ``token``..., then exactly one ``done`` or ``error`` (and ``alive`` whenever nothing
else was sent for ``chat.alive_interval_s``). A gap in ``seq`` is a lost chunk. The gateway
publishes on ``<subject>.cancel.<request_id>`` when the client goes away. The subjects and the
queue group are named in :mod:`vidsage.contracts.names`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vidsage.contracts.keys import OWNER_PATTERN

CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Mode = Literal["llm", "extractive"]

ERROR_CODES: dict[str, str] = {
    "bad_request": "The frame is not valid JSON, has an unknown type or misses a field.",
    "message_too_long": "The question is longer than the limit (`chat.max_message_chars`).",
    "rate_limited": "Too many messages on this connection; `retry_after_s` says when to try again.",
    "busy": "An answer is still streaming on this connection (send `cancel` first), or the chat "
    "service is at its concurrency limit.",
    "not_found": "The video does not exist (or was deleted, or is another tenant's).",
    "not_ready": "The video is not `ready` yet; `status` is its current status.",
    "chat_unavailable": "No chat service answered; try again.",
    "search_unavailable": "The search service (library-wide chat and extractive mode) is not running.",
    "storage_unavailable": "Object storage is unavailable, so the transcript cannot be read.",
    "timeout": "The chat service stopped sending the answer (not even its keep-alive came for "
    "`chat.chunk_timeout_s`: it died or hangs); try again.",
    "stream_broken": "A chunk of the answer was lost between the services; the answer is incomplete.",
    "llm_auth": "The language model server refused the API key (401/403).",
    "llm_rate_limited": "The language model server is rate limiting (429); try again later.",
    "llm_timeout": "The language model server did not answer in time.",
    "llm_unavailable": "The language model server cannot be reached (connection refused, DNS, TLS).",
    "llm_stream_interrupted": "The language model server dropped the stream mid-answer.",
    "llm_bad_request": "The language model server rejected the request (400/404/422: model name, "
    "context length).",
    "llm_error": "The language model server failed (5xx or an unexpected answer).",
    "cancelled": "The answer was cancelled by the client.",
    "internal": "An unexpected error; the logs have the details.",
    "auth_unavailable": "The key could not be checked just now (the key store is unreachable); the "
    "message was not sent; try again.",
    "unauthorized": "The key or session of this connection stopped working (revoked, expired, signed "
    "out); the connection closes (1008). `reason` is the authentication code (`revoked_key`...).",
}


class Citation(BaseModel):
    """A moment an answer relies on; its text exists at that time in the transcript."""

    video_id: str
    filename: str | None = Field(default=None, description="The cited video's file name (its title).")
    start: float = Field(description="Seconds from the start of the video.")
    end: float
    text: str = Field(description="The transcript text at that time.")
    supported: bool | None = Field(
        default=None,
        description="Whether the cited text supports the answer sentence that cites it (meaning and "
        "shared content words; see the gateway README). Extractive answers quote the text itself: "
        "always true. Null: not checked.",
    )
    support_score: float | None = Field(
        default=None, description="0..1; `supported` is `support_score >= chat.support_threshold`."
    )


# ---- client → gateway ---------------------------------------------------------------------------


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["message"]
    content: str = Field(min_length=1)
    conversation_id: str | None = Field(default=None, pattern=CONVERSATION_ID_PATTERN)


class ClientCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["cancel"]


# ---- gateway → client ---------------------------------------------------------------------------


class TokenFrame(BaseModel):
    type: Literal["token"] = "token"
    content: str


class DoneFrame(BaseModel):
    type: Literal["done"] = "done"
    message_id: str
    conversation_id: str = Field(description="Send it back to continue this conversation later.")
    citations: list[Citation]
    unsupported: int = Field(
        default=0,
        description="How many of the answer's citations were found unsupported by the text they cite "
        "(those dropped by `chat.drop_unsupported` included).",
    )
    mode: Mode = Field(description="`llm`, or `extractive` when no language model is configured.")


class ErrorFrame(BaseModel):
    type: Literal["error"] = "error"
    code: str = Field(description="One of the documented error codes.")
    message: str
    message_id: str | None = None
    status: str | None = Field(default=None, description="The video's status (`not_ready`).")
    retry_after_s: float | None = Field(default=None, description="When to try again (`rate_limited`).")
    reason: str | None = Field(
        default=None,
        description="Why the connection is no longer authorized (`unauthorized`): `revoked_key`...",
    )


# ---- gateway ↔ chat over NATS -------------------------------------------------------------------


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    message_id: str = Field(min_length=1, max_length=64)
    conversation_id: str = Field(pattern=CONVERSATION_ID_PATTERN)
    video_id: str | None = Field(default=None, description="None: the whole library.")
    owner: str = Field(
        pattern=OWNER_PATTERN,
        description="The tenant asking: the video, the library searched and the conversation are its.",
    )
    content: str = Field(min_length=1)


ChunkType = Literal["accepted", "alive", "token", "done", "error"]
"""``accepted`` first; ``alive`` while the answer is being made and nothing else was sent for
``chat.alive_interval_s`` (so the gateway tells a dead chat service from a slow answer within
``chat.chunk_timeout_s``); the gateway forwards ``token``, ``done`` and ``error``."""


class ChatChunk(BaseModel):
    seq: int = Field(ge=0, description="0, 1, 2... per request; a gap is a lost chunk.")
    type: ChunkType
    content: str | None = None
    citations: list[Citation] | None = None
    unsupported: int | None = None
    mode: Mode | None = None
    code: str | None = None
    message: str | None = None
    status: str | None = None
