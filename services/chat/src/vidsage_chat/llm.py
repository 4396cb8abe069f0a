"""The language model: the ``openai`` library's async client, streaming, against any
OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp).

Every failure becomes a :class:`ChatFailure` with one of the protocol's codes, so the client can
tell a bad key from a rate limit, a timeout, an unreachable server and a stream dropped midway.
The client's own retries (``llm_max_retries``) apply before the first token; once text has
been streamed to a user, a retry would repeat it, so a dropped stream is reported instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from vidsage.settings import ChatSettings
from vidsage_chat.prompt import Message


class ChatFailure(Exception):
    """An answer that cannot be given; ``code`` is one of ``vidsage.contracts.chat.ERROR_CODES``."""

    def __init__(self, code: str, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def failure_from(exc: openai.OpenAIError, *, streaming_started: bool) -> ChatFailure:
    """Map an ``openai`` exception to a protocol error.

    The upstream server's own words (its error message, the URL it was reached at) never reach
    the client or the log: an error body may echo the request, the API key included. The message
    names the kind of failure and the HTTP status only."""
    if isinstance(exc, openai.APITimeoutError):  # a subclass of APIConnectionError: test it first
        return ChatFailure("llm_timeout", "the language model did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        if streaming_started:
            return ChatFailure("llm_stream_interrupted", "the language model server dropped the stream")
        return ChatFailure("llm_unavailable", "the language model server cannot be reached")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ChatFailure("llm_auth", "the language model server refused the API key")
    if isinstance(exc, openai.RateLimitError):
        return ChatFailure("llm_rate_limited", "the language model server is rate limiting; try again later")
    if isinstance(exc, openai.BadRequestError | openai.NotFoundError | openai.UnprocessableEntityError):
        return ChatFailure(
            "llm_bad_request", f"the language model server rejected the request ({exc.status_code})"
        )
    if isinstance(exc, openai.APIStatusError):
        return ChatFailure("llm_error", f"the language model server failed ({exc.status_code})")
    return ChatFailure(
        "llm_error", f"unexpected answer from the language model server ({type(exc).__name__})"
    )


class LLM:
    """One shared async client (connection pool) per chat process."""

    def __init__(self, cfg: ChatSettings) -> None:
        assert cfg.llm_api_key is not None, "LLM needs chat.llm_api_key; without one chat is extractive"
        self.cfg = cfg
        self.client = openai.AsyncOpenAI(
            base_url=cfg.llm_base_url,
            api_key=cfg.llm_api_key.get_secret_value(),
            timeout=cfg.llm_timeout_s,
            max_retries=cfg.llm_max_retries,
        )

    async def stream(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        """The answer's text, piece by piece as the server streams it."""
        started = False
        try:
            stream = await self.client.chat.completions.create(
                model=self.cfg.llm_model,
                # role/content dicts with the roles system, user and assistant: valid message params
                messages=cast(list[ChatCompletionMessageParam], list(messages)),
                stream=True,
                temperature=self.cfg.llm_temperature,
                max_tokens=self.cfg.llm_max_tokens,
            )
            async with stream:
                async for chunk in stream:
                    started = True
                    if chunk.choices and (text := chunk.choices[0].delta.content):
                        yield text
        except openai.OpenAIError as exc:
            raise failure_from(exc, streaming_started=started) from exc

    async def close(self) -> None:
        await self.client.close()
