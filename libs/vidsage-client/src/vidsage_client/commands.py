"""The client commands of ``vidsage`` (upload, ls, status, transcript, search, chat, rm, keys).

Each command is an async function that talks to the gateway through a
:class:`~vidsage_client.client.Client`, writes through an :class:`~vidsage_client.render.Output` and
returns an exit code (:class:`Exit`).
:func:`run` dispatches a parsed command line and turns every :class:`GatewayError` into its
message and exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from vidsage.auth.keys import generate_key
from vidsage.contracts.chat import DoneFrame, ErrorFrame, TokenFrame
from vidsage_client import Exit, TranscriptFormat
from vidsage_client.client import (
    CannotConnect,
    ChatSession,
    Client,
    Forbidden,
    GatewayError,
    NotFound,
    Record,
    Unauthorized,
    VideoPage,
)
from vidsage_client.config import missing_key_hint
from vidsage_client.render import (
    Output,
    StageDisplay,
    UploadProgress,
    citation_line,
    failure_text,
    format_bytes,
    hit_lines,
    keys_table,
    status_lines,
    videos_table,
)

_DRAW_INTERVAL_S = 0.1
_POLL_INTERVAL_S = 0.25
_RATE_LIMIT_ATTEMPTS = 3


_AUTH_HINTS = {
    "revoked_key": "ask an admin for a new key: vidsage keys create",
    "expired_key": "ask an admin for a new key: vidsage keys create",
    "unknown_key": "check --key, $VIDSAGE_API_KEY or the config file",
    "malformed_key": "check --key, $VIDSAGE_API_KEY or the config file",
}


def exit_code_of(error: GatewayError) -> Exit:
    if isinstance(error, CannotConnect):
        return Exit.CANNOT_CONNECT
    if isinstance(error, NotFound):
        return Exit.NOT_FOUND
    if isinstance(error, Unauthorized | Forbidden):
        return Exit.UNAUTHORIZED
    return Exit.FAILED


def describe(error: GatewayError, *, has_key: bool = True) -> str:
    """The server's message, with the useful extra fields in words."""
    if error.code == "missing_credentials" and not has_key:
        return missing_key_hint()
    message = error.message
    if error.code in _AUTH_HINTS:
        message += f" ({_AUTH_HINTS[error.code]})"
    if error.code == "not_ready" and "status" in error.extra and str(error.extra["status"]) not in message:
        message += f" (status: {error.extra['status']})"
    if "retry_after_s" in error.extra:
        message += f" (try again in {float(error.extra['retry_after_s']):.0f} s)"
    return message


def _report(out: Output, error: GatewayError, prefix: str = "", **context: Any) -> Exit:
    out.error(f"{prefix}{describe(error, has_key=out.has_key)}", {**context, **error.to_json()})
    return exit_code_of(error)


def _first_failure(codes: Sequence[int]) -> int:
    return next((c for c in codes if c != Exit.OK), Exit.OK)


async def _redraw(draw: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(_DRAW_INTERVAL_S)
        draw()


# ---- upload, status ---------------------------------------------------------------------------


async def upload(
    gateway: Client, out: Output, files: Sequence[Path], *, wait: bool, timeout_s: float | None
) -> int:
    unreadable = [f for f in files if not f.is_file() or not os.access(f, os.R_OK)]
    for path in unreadable:
        problem = f"{path}: not a readable file"
        out.error(problem, {"file": str(path), "error": {"code": "bad_file", "message": problem}})
    if unreadable:
        return Exit.USAGE
    codes: list[int] = []
    records: list[Record] = []
    for path in files:
        progress = UploadProgress(out, path.name, path.stat().st_size)
        drawer = asyncio.create_task(_redraw(progress.draw)) if out.live else None
        try:
            record = await gateway.upload_resumable(
                path, progress.update, on_resume=_resuming(out, path, progress.total)
            )
        except GatewayError as exc:
            progress.finish(None)
            codes.append(_report(out, exc, f"{path}: ", file=str(path)))
            continue
        finally:
            if drawer is not None:
                drawer.cancel()
        progress.finish(record["id"])
        records.append(record)
    if wait and records:
        codes += await _wait_and_show(gateway, out, records, timeout_s)
    else:
        for record in records:
            _show_record(out, record)
    return _first_failure(codes)


def _resuming(out: Output, path: Path, size: int) -> Callable[[int], None]:
    """Say that an upload an earlier run left is continued (``vidsage upload`` resumes with tus)."""

    def note(offset: int) -> None:
        out.note(f"resuming {path.name} at {format_bytes(offset)} of {format_bytes(size)}")

    return note


def _show_record(out: Output, record: Record) -> None:
    """An uploaded or finished video: the record in JSON mode, else ``<id>  <status>  <file name>``."""
    if out.json_mode:
        out.json(record)
    else:
        out.line(f"{record['id']}  {record['status']}  {record['filename']}")


async def _wait_and_show(
    gateway: Client,
    out: Output,
    records: Sequence[Record],
    timeout_s: float | None,
    show: Callable[[Output, Record], None] = _show_record,
) -> list[int]:
    """Wait for each video to be ``ready`` or ``failed`` with the stage display; print each final record."""
    display = StageDisplay(out, [r["id"] for r in records])
    for record in records:
        display.update(record)
    results = await asyncio.gather(
        *(
            gateway.wait(r["id"], on_update=display.update, interval_s=_POLL_INTERVAL_S, timeout_s=timeout_s)
            for r in records
        ),
        return_exceptions=True,
    )
    codes: list[int] = []
    for record, result in zip(records, results, strict=True):
        name = record["filename"]
        if isinstance(result, TimeoutError):
            message = f"{name} ({record['id']}): not ready after {timeout_s:g} s"
            out.error(message, {"id": record["id"], "error": {"code": "timeout", "message": message}})
            codes.append(Exit.TIMEOUT)
        elif isinstance(result, GatewayError):
            codes.append(_report(out, result, f"{name} ({record['id']}): ", id=record["id"]))
        elif isinstance(result, BaseException):
            raise result
        else:
            if result["status"] == "failed":
                out.note(f"vidsage: {name} ({record['id']}) {failure_text(result)}")
                codes.append(Exit.FAILED)
            show(out, result)
    return codes


async def status(gateway: Client, out: Output, video_id: str, *, wait: bool, timeout_s: float | None) -> int:
    record = await gateway.status(video_id)
    if wait and record["status"] not in ("ready", "failed"):
        return _first_failure(await _wait_and_show(gateway, out, [record], timeout_s, _show_status))
    _show_status(out, record)
    return Exit.FAILED if wait and record["status"] == "failed" else Exit.OK


def _show_status(out: Output, record: Record) -> None:
    if out.json_mode:
        out.json(record)
    else:
        for line in status_lines(record):
            out.line(line)


# ---- ls, transcript, search, rm -----------------------------------------------------------------


async def ls(gateway: Client, out: Output, *, limit: int, cursor: str | None, all_pages: bool) -> int:
    if all_pages:
        items = [record async for record in gateway.iter_videos()]
        page: VideoPage = {"items": items, "next_cursor": None}
    else:
        page = await gateway.list_videos(limit=limit, cursor=cursor)
    if out.json_mode:
        out.json(page)
        return Exit.OK
    if not page["items"]:
        out.note("no videos")
        return Exit.OK
    for line in videos_table(page["items"]):
        out.line(line)
    if page.get("next_cursor"):
        out.note(f"more: vidsage ls --cursor {page['next_cursor']} (or --all)")
    return Exit.OK


async def transcript(gateway: Client, out: Output, video_id: str, fmt: TranscriptFormat) -> int:
    body = await gateway.transcript(video_id, fmt)
    out.write(body if body.endswith("\n") or not body else body + "\n")
    return Exit.OK


async def search(gateway: Client, out: Output, query: str, *, video_id: str | None, limit: int | None) -> int:
    answer, hits = await gateway.search(query, video_id=video_id, limit=limit)
    if out.json_mode:
        out.json(answer)
    elif not hits:
        out.note(f"nothing found for {query!r}")
    else:
        for line in hit_lines(hits):
            out.line(line)
    return Exit.OK


async def rm(gateway: Client, out: Output, video_ids: Sequence[str]) -> int:
    codes: list[int] = []
    for video_id in video_ids:
        try:
            await gateway.delete(video_id)
        except GatewayError as exc:
            codes.append(_report(out, exc, f"{video_id}: ", id=video_id))
            continue
        out.json({"id": video_id, "deleted": True}) if out.json_mode else out.line(f"deleted {video_id}")
        codes.append(Exit.OK)
    return _first_failure(codes)


# ---- chat ---------------------------------------------------------------------------------------


async def _stdin_lines(stream: TextIO, prompt: Callable[[], None] | None) -> AsyncIterator[str]:
    """Lines of ``stream`` without blocking the event loop: a daemon thread reads them (so Ctrl-C or
    the end of the program never waits for a terminal read)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the program is ending
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        try:
            for line in stream:
                put(line)
        except (OSError, ValueError):
            pass
        finally:
            put(None)

    threading.Thread(target=pump, name="vidsage-stdin", daemon=True).start()
    while True:
        if prompt is not None:
            prompt()
        line = await queue.get()
        if line is None:
            return
        yield line


async def _listed(messages: Sequence[str]) -> AsyncIterator[str]:
    for message in messages:
        yield message


async def _answer(
    session: ChatSession, out: Output, question: str, names: Callable[[str], Awaitable[str]] | None = None
) -> int:
    """Ask one question; stream the answer's tokens to stdout, then its citations.

    ``rate_limited`` is waited out (``retry_after_s``, up to a minute) and the question asked again, so
    piped questions all get answers. ``names`` labels library-wide citations with their video.
    """
    for attempt in range(1, _RATE_LIMIT_ATTEMPTS + 1):
        code = await _answer_once(session, out, question, names, last=attempt == _RATE_LIMIT_ATTEMPTS)
        if code is not None:
            return code
    raise AssertionError("unreachable: the last attempt always returns a code")


async def _answer_once(
    session: ChatSession,
    out: Output,
    question: str,
    names: Callable[[str], Awaitable[str]] | None,
    *,
    last: bool,
) -> int | None:
    """One attempt of :func:`_answer`; None: rate limited, waited, ask again."""
    tokens: list[str] = []
    async with contextlib.aclosing(session.ask(question)) as frames:
        async for frame in frames:
            if isinstance(frame, TokenFrame):
                tokens.append(frame.content)
                if not out.json_mode:
                    out.write(frame.content)
            elif isinstance(frame, DoneFrame):
                if out.json_mode:
                    done = frame.model_dump(mode="json", exclude={"type"})
                    out.json({"question": question, "answer": "".join(tokens), **done})
                else:
                    out.write("\n")
                    if frame.citations:
                        out.line("citations:")
                    for citation in frame.citations:
                        name = citation.filename or (await names(citation.video_id) if names else None)
                        video = f"  ({name})" if names is not None and name else ""
                        out.line(citation_line(citation) + video)
                    if frame.unsupported:
                        out.note(f"{frame.unsupported} citation(s) do not seem to support the answer")
                return Exit.OK
            elif isinstance(frame, ErrorFrame):
                wait_s = frame.retry_after_s
                if frame.code == "rate_limited" and not last and wait_s is not None and wait_s <= 60:
                    out.note(f"vidsage: {frame.message}; asking again in {wait_s:.1f} s")
                    await asyncio.sleep(wait_s)
                    return None
                if tokens and not out.json_mode:
                    out.write("\n")
                extra = frame.model_dump(exclude_none=True, exclude={"type", "code", "message"})
                return _report(out, GatewayError(frame.code, frame.message, extra=extra), question=question)
    raise GatewayError("connection_closed", "the chat answer ended without a done or error frame")


async def chat(
    gateway: Client,
    out: Output,
    video_id: str | None,
    *,
    messages: Sequence[str],
    conversation_id: str | None,
    stdin: TextIO,
) -> int:
    """Questions from ``-m`` or from stdin lines (a terminal or a pipe); answers streamed as they come.

    Without a video id the chat is about the whole library, and each citation names its video.
    """
    names: Callable[[str], Awaitable[str]] | None = None
    if video_id is not None:
        await gateway.status(video_id)  # a clear "video not found" (exit 4) before the WebSocket
    else:
        known: dict[str, str] = {}

        async def name_of(cited: str) -> str:
            if cited not in known:
                try:
                    known[cited] = str((await gateway.status(cited)).get("filename") or cited)
                except GatewayError:
                    known[cited] = cited
            return known[cited]

        names = name_of
    interactive = not messages and stdin.isatty()
    if interactive:
        about = video_id or "the whole library"
        out.note(f"chat about {about}: one question per line; Ctrl-D or Ctrl-C to leave")

    def prompt() -> None:
        out.err.write("> ")
        out.err.flush()

    questions = _listed(messages) if messages else _stdin_lines(stdin, prompt if interactive else None)
    codes: list[int] = []
    async with gateway.chat(video_id) as session:
        session.conversation_id = conversation_id
        async for line in questions:
            question = line.strip()
            if question:
                codes.append(await _answer(session, out, question, names))
    if interactive:
        out.note("")  # Ctrl-D leaves the cursor after the prompt
    return _first_failure(codes)


# ---- keys (admin) --------------------------------------------------------------------------------


async def keys(gateway: Client, out: Output, args: argparse.Namespace) -> int:
    """``vidsage keys create|list|revoke``: the admin key routes; ``generate``: offline."""
    if args.action == "generate":
        key = generate_key()[1]
        out.json({"key": key}) if out.json_mode else out.line(key)
        return Exit.OK
    if args.action == "create":
        created = await gateway.create_key(
            args.owner, role=args.role, expires_in_days=args.expires_in, label=args.label
        )
        if out.json_mode:
            out.json(created.model_dump(mode="json"))
        else:
            out.line(created.key)  # stdout holds the key alone: KEY=$(vidsage keys create --owner x)
            expiry = f", expires {created.expires_at:%Y-%m-%d %H:%M} UTC" if created.expires_at else ""
            out.note(
                f"vidsage: created {created.role} key {created.id} for {created.owner}{expiry}; "
                "it is shown only this once"
            )
        return Exit.OK
    if args.action == "list":
        listed = await gateway.list_keys(owner=args.owner)
        if out.json_mode:
            out.json({"items": [k.model_dump(mode="json") for k in listed]})
        elif not listed:
            out.note("no keys")
        else:
            for line in keys_table(listed):
                out.line(line)
        return Exit.OK
    await gateway.revoke_key(args.key_id)
    out.json({"id": args.key_id, "revoked": True}) if out.json_mode else out.line(f"revoked {args.key_id}")
    return Exit.OK


# ---- dispatch -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace, out: Output, *, stdin: TextIO) -> int:
    """Run the parsed client command ``args.command`` against ``args.url`` with ``args.key``."""
    async with Client(args.url, api_key=args.key) as gateway:
        commands: dict[str, Callable[[], Awaitable[int]]] = {
            "upload": lambda: upload(gateway, out, args.files, wait=args.wait, timeout_s=args.timeout),
            "ls": lambda: ls(gateway, out, limit=args.limit, cursor=args.cursor, all_pages=args.all),
            "status": lambda: status(gateway, out, args.id, wait=args.wait, timeout_s=args.timeout),
            "transcript": lambda: transcript(gateway, out, args.id, args.format),
            "search": lambda: search(  # every word is the query (not a repeated q=, which keeps the first)
                gateway, out, " ".join(args.query), video_id=args.video, limit=args.limit
            ),
            "chat": lambda: chat(
                gateway, out, args.id, messages=args.message, conversation_id=args.conversation, stdin=stdin
            ),
            "rm": lambda: rm(gateway, out, args.ids),
            "keys": lambda: keys(gateway, out, args),
        }
        try:
            return await commands[args.command]()
        except GatewayError as exc:
            video_id = getattr(args, "id", None)
            prefix = f"{video_id}: " if video_id and not isinstance(exc, CannotConnect) else ""
            return _report(out, exc, prefix)
