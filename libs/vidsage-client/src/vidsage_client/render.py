"""How the ``vidsage`` command shows things: results on stdout, messages and live displays on stderr.

The formatting functions are pure (records in, text out). The live displays (an upload's byte
progress bar, the stage display while a video is processed) redraw in place only when stderr is a
terminal; otherwise they print a plain line when something changes, so logs and pipes get no
control characters.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from vidsage.contracts.chat import Citation
from vidsage.contracts.keys import KeyInfo
from vidsage.contracts.record import STAGES
from vidsage.contracts.search import SearchHit
from vidsage.contracts.transcript import clock

_BAR_WIDTH = 24


# ---- pure formatting ----------------------------------------------------------------------------


def format_bytes(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ``10.0 MiB``..."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def progress_bar(done: float, total: float, width: int = _BAR_WIDTH) -> str:
    """``[#########---------------]  37%`` (``total`` 0 counts as complete)."""
    fraction = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
    filled = round(fraction * width)
    return f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:3.0f}%"


def upload_line(name: str, sent: int, total: int, elapsed_s: float) -> str:
    rate = f"  {format_bytes(sent / elapsed_s)}/s" if elapsed_s > 0.2 else ""
    return f"{name}  {progress_bar(sent, total)}  {format_bytes(sent)} / {format_bytes(total)}{rate}"


def stage_text(stage: Mapping[str, Any] | None) -> str:
    """One stage's state in a word: ``done``, ``45%``, ``running``, ``failed``, ``pending``."""
    if not stage:
        return "pending"
    state = str(stage.get("state") or "pending")
    if state == "running":
        progress = stage.get("progress")
        return f"{float(progress):.0f}%" if isinstance(progress, int | float) else "running"
    return state


def stage_line(record: Mapping[str, Any]) -> str:
    """``talk.mp4  transcribing  ingest done, transcribe 45%, index pending``."""
    stages = record.get("stages") or {}
    parts = ", ".join(f"{name} {stage_text(stages.get(name))}" for name in STAGES)
    return f"{record.get('filename', record.get('id', '?'))}  {record.get('status', '?'):<12}  {parts}"


def failure_text(record: Mapping[str, Any]) -> str:
    """Why a ``failed`` video failed, in words."""
    error = record.get("error") or {}
    stage, reason = error.get("stage"), error.get("reason")
    if stage and reason:
        return f"failed during {stage}: {reason}"
    return f"failed: {reason or 'no reason recorded'}"


def format_duration(seconds: Any) -> str:
    return clock(float(seconds)) if isinstance(seconds, int | float) else "-"


def videos_table(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``vidsage ls`` table: id, status, duration, size, created, file name."""
    header = ("ID", "STATUS", "LENGTH", "SIZE", "CREATED", "FILENAME")
    rows = [
        (
            str(r.get("id", "")),
            str(r.get("status", "")),
            format_duration(r.get("duration_s")),
            format_bytes(r["size"]) if isinstance(r.get("size"), int) else "-",
            str(r.get("created_at", ""))[:19].replace("T", " "),
            str(r.get("filename", "")),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
        for row in (header, *rows)
    ]


def status_lines(record: Mapping[str, Any]) -> list[str]:
    """``vidsage status ID``: the record as aligned ``key  value`` lines."""
    media = [record.get("format"), format_duration(record.get("duration_s"))]
    if record.get("width") and record.get("height"):
        media.append(f"{record['width']}x{record['height']}")
    size = format_bytes(record["size"]) if isinstance(record.get("size"), int) else None
    rows: list[tuple[str, str]] = [
        ("id", str(record.get("id", ""))),
        ("file", f"{record.get('filename', '')} ({', '.join(str(m) for m in [size, *media] if m)})"),
        ("status", str(record.get("status", ""))),
    ]
    stages = record.get("stages") or {}
    for name in STAGES:
        stage = stages.get(name) or {}
        text = stage_text(stage)
        if stage.get("error"):
            text += f": {stage['error']}"
        if (stage.get("attempts") or 0) > 1:
            text += f" (attempt {stage['attempts']})"
        rows.append((name, text))
    if record.get("status") == "failed":
        rows.append(("error", failure_text(record)))
    if record.get("language"):
        rows.append(("language", str(record["language"])))
    if record.get("created_at"):
        rows.append(("created", str(record["created_at"])))
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows]


MATCH_OPEN, MATCH_CLOSE = "»", "«"
"""Around the matching sentence of a search hit (plain text: pipes and logs get no escapes)."""


def matched_text(hit: SearchHit) -> str:
    """The hit's passage with its best-matching sentence between ``»`` and ``«``."""
    text = hit.text
    a, b = hit.match_chars
    a, b = max(0, min(a, len(text))), max(0, min(b, len(text)))
    if a >= b or (a == 0 and b == len(text)):
        return " ".join(text.split())
    before, match, after = text[:a].strip(), text[a:b].strip(), text[b:].strip()
    return " ".join(p for p in (before, f"{MATCH_OPEN}{match}{MATCH_CLOSE}", after) if p)


def hit_lines(hits: Iterable[SearchHit]) -> list[str]:
    """``vidsage search``: per hit ``talk.mp4 [00:05] <id>`` (the matching sentence's time: where
    to seek) and the passage, indented, with the matching sentence marked ``»…«``."""
    lines = []
    for hit in hits:
        lines.append(f"{hit.filename}  [{clock(hit.match_start)}]  {hit.video_id}")
        lines.append(f"    {matched_text(hit)}")
    return lines


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def keys_table(keys: Sequence[KeyInfo]) -> list[str]:
    """``id  owner  role  state  created  last used  expires  label`` per key (never the key)."""
    rows = [("ID", "OWNER", "ROLE", "STATE", "CREATED", "LAST USED", "EXPIRES", "LABEL")]
    for k in keys:
        state = "revoked" if k.revoked_at else "active"
        rows.append(
            (
                k.id,
                k.owner,
                k.role,
                state,
                _when(k.created_at),
                _when(k.last_used_at),
                _when(k.expires_at),
                k.label or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]


def citation_line(citation: Citation) -> str:
    """``[mm:ss] text`` — the moment an answer relies on; ``(not supported)`` when the support
    check found that the cited text does not back the answer."""
    mark = "  (not supported)" if citation.supported is False else ""
    return f"[{clock(citation.start)}] {citation.text.strip()}{mark}"


# ---- streams ------------------------------------------------------------------------------------


def is_live_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal that understands cursor movement (not ``TERM=dumb``)."""
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


class Output:
    """Where a command writes: results to ``out`` (stdout), words and live displays to ``err`` (stderr).

    With ``json_mode`` results are JSON documents, one per line; errors are also written to ``out``
    as ``{"error": {...}}`` documents (and in words to ``err``), so a script reads one stream.
    """

    def __init__(
        self,
        *,
        json_mode: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
        live: bool | None = None,
        has_key: bool = True,
    ) -> None:
        self.json_mode = json_mode
        self.has_key = has_key
        """Whether the command had an API key (a 401 ``missing_credentials`` then says how to give one)."""
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.live = is_live_terminal(self.err) if live is None else live

    def line(self, text: str = "") -> None:
        """A line of human-readable result (ignored in JSON mode)."""
        if not self.json_mode:
            self.out.write(text + "\n")
            self.out.flush()

    def write(self, text: str) -> None:
        """Raw result text (a transcript, streamed tokens)."""
        self.out.write(text)
        self.out.flush()

    def json(self, document: Any) -> None:
        self.out.write(json.dumps(document, ensure_ascii=False) + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """A message for the person at the terminal (stderr)."""
        self.err.write(text + "\n")
        self.err.flush()

    def error(self, message: str, document: Mapping[str, Any] | None = None) -> None:
        """``vidsage: <message>`` on stderr; the JSON document on stdout in JSON mode."""
        self.note(f"vidsage: {message}")
        if self.json_mode and document is not None:
            self.json(document)


class LiveLines:
    """A block of lines on a terminal, redrawn in place (cursor up, clear line)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._drawn = 0
        self._last: list[str] = []

    def draw(self, lines: Sequence[str]) -> None:
        if list(lines) == self._last:
            return
        self._last = list(lines)
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        text = f"\x1b[{self._drawn}F" if self._drawn else ""
        text += "".join(f"\r{line[:width]}\x1b[K\n" for line in lines)
        self._drawn = len(lines)
        self._stream.write(text)
        self._stream.flush()


class UploadProgress:
    """The byte progress bar of one upload (redrawn on a terminal; one summary line otherwise)."""

    def __init__(self, output: Output, name: str, total: int) -> None:
        self._output = output
        self._name = name
        self.total = total
        self.sent = 0
        self._started = time.monotonic()
        self._live = LiveLines(output.err) if output.live else None

    def update(self, sent: int) -> None:
        """Called from aiohttp's reader thread; only stores the figure (:meth:`draw` shows it)."""
        self.sent = sent

    def draw(self) -> None:
        if self._live is not None:
            self._live.draw(
                [upload_line(self._name, self.sent, self.total, time.monotonic() - self._started)]
            )

    def finish(self, video_id: str | None) -> None:
        elapsed = time.monotonic() - self._started
        if self._live is not None:
            self._live.draw([upload_line(self._name, self.sent, self.total, elapsed)])
        if video_id is not None:
            self._output.note(
                f"uploaded {self._name} ({format_bytes(self.total)}, {elapsed:.1f} s): {video_id}"
            )


class StageDisplay:
    """The stages of the videos being waited for: one line per video, redrawn while they change.

    Not on a terminal: one line per status change (``talk.mp4: transcribing``).
    """

    def __init__(self, output: Output, video_ids: Sequence[str]) -> None:
        self._output = output
        self._order = list(video_ids)
        self._records: dict[str, Mapping[str, Any]] = {}
        self._live = LiveLines(output.err) if output.live else None

    def update(self, record: Mapping[str, Any]) -> None:
        video_id = str(record.get("id"))
        previous = self._records.get(video_id)
        self._records[video_id] = record
        if self._live is not None:
            self._live.draw(
                [stage_line(self._records[v]) if v in self._records else f"{v}  ..." for v in self._order]
            )
        elif previous is None or previous.get("status") != record.get("status"):
            self._output.note(f"{record.get('filename', video_id)}: {record.get('status')}")
