"""Reading a Server-Sent Events stream (the gateway's live status streams) from an aiohttp response,
as the HTML standard's parser reads one: lines ending in LF, CRLF or CR; ``field: value``; a blank
line dispatches the message; ``:`` starts a comment (the gateway's heartbeats); ``id:`` persists
until the next one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class SseMessage:
    """One dispatched message, or a comment (``event == ""`` and ``comment`` set)."""

    event: str
    data: str
    id: str | None
    """The last event id seen so far on this stream (what a reconnect sends as ``Last-Event-ID``)."""
    retry_ms: int | None = None
    comment: str | None = None


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    buffer = b""
    async for chunk in content.iter_any():
        buffer += chunk
        while True:
            cut = min((i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0), default=-1)
            if cut < 0:
                break
            if buffer[cut : cut + 2] == b"\r\n":
                line, buffer = buffer[:cut], buffer[cut + 2 :]
            elif buffer[cut : cut + 1] == b"\r" and cut + 1 == len(buffer):
                break  # a CR at the end of a chunk: an LF may follow in the next
            else:
                line, buffer = buffer[:cut], buffer[cut + 1 :]
            yield line.decode("utf-8", errors="replace")
    if buffer.endswith(b"\r"):  # the stream ended on a CR: no LF is coming
        yield buffer[:-1].decode("utf-8", errors="replace")


async def read_sse(response: aiohttp.ClientResponse, *, comments: bool = False) -> AsyncIterator[SseMessage]:
    """The messages of ``response`` until it ends (and, with ``comments``, every comment line)."""
    event, last_id, retry = "", None, None
    data: list[str] = []
    async for line in _lines(response.content):
        if not line:
            if data:
                yield SseMessage(event or "message", "\n".join(data), last_id, retry)
            event, data = "", []
            continue
        if line.startswith(":"):
            if comments:
                yield SseMessage("", "", last_id, retry, comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
