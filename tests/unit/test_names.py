"""Every wire name is spelled once, in :mod:`vidsage.contracts.names`: the sources of libs/,
services/ and benchmarks/ hold no literal subject, stream, bucket, consumer, queue group, object
key or cache key (docstrings and log names aside), and the names module says what the design does."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidsage.contracts import names
from vidsage.contracts.events import EventType, Progress

ROOT = Path(__file__).resolve().parents[2]
NAMES = ROOT / "libs/vidsage/src/vidsage/contracts/names.py"
SCANNED = ("libs", "services", "benchmarks")

SUBJECT = re.compile(r"(?<![\w.])vidsage\.(video|progress|search|chat|cache)\b")
OBJECT_KEY = re.compile(r"(?<![\w/])videos/")
CACHE_KEY = re.compile(r"^(video|chat\.library)\.")
ARTIFACT = re.compile(
    r"(?<![\w$])("
    + "|".join(
        re.escape(word)
        for word in (names.STREAM, *names.TRANSCRIPT_FILES.values(), names.THUMBNAIL_FILE, names.AUDIO_FILE)
    )
    + r")(?!\w)|\$JS\."
)
# keyword arguments, assignment targets and call arguments that hold a wire name
NAME_KEYWORDS = {"queue", "durable", "durable_name", "stream", "bucket", "subject", "filter_subject"}
NAME_TARGETS = re.compile(r"(^|_)(bucket|stream|subject|queue|queue_group|durable|consumer)s?$", re.I)
# what a subject or a name looks like ("no_video_stream" is an error code, not a stream)
NAME_VALUE = re.compile(r"^[A-Za-z0-9.>*$-]+$")
NAME_CALLS = {
    "ConsumerSpec",
    "provision_kv",
    "key_value",
    "create_key_value",
    "pull_subscribe",
    "pull_subscribe_bind",
    "consumer_info",
    "add_consumer",
    "delete_consumer",
    "stream_info",
    "subscribe",
    "publish",
    "request",
}


def sources() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".egg-info" not in str(path) and path != NAMES:
                yield path


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are statements of their own (docstrings, attribute docs)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def _logger_names(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in {
            "get_logger",
            "getLogger",
        }:
            found.update(id(arg) for arg in node.args)
    return found


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def literal_wire_names(path: Path) -> Iterator[tuple[int, str]]:
    """(line, what) for every wire name spelled out in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    fstring_parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    skip = _docstrings(tree) | _logger_names(tree) | fstring_parts
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, "{}" for the values
            text = "".join(_str(v) or "{}" for v in node.values)
            shown = f"f{text!r}"
        else:
            text, shown = _str(node), repr(_str(node))
            if id(node) in skip:
                text = None
        if text is not None and (
            SUBJECT.search(text) or OBJECT_KEY.search(text) or CACHE_KEY.match(text) or ARTIFACT.search(text)
        ):
            yield node.lineno, shown
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in NAME_KEYWORDS and _str(kw.value) is not None:
                    yield node.lineno, f"{kw.arg}={_str(kw.value)!r}"
            if _call_name(node) in NAME_CALLS and node.args and _str(node.args[0]) is not None:
                yield node.lineno, f"{_call_name(node)}({_str(node.args[0])!r}, ...)"
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value  # type: ignore[assignment]
        for target in targets:
            name = getattr(target, "id", getattr(target, "attr", ""))
            if NAME_TARGETS.search(name) and NAME_VALUE.match(_str(value) or ""):
                yield node.lineno, f"{name} = {_str(value)!r}"


def test_no_wire_name_is_spelled_outside_the_names_module() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sources()
        for line, what in literal_wire_names(path)
    ]
    assert not found, "spell these with vidsage.contracts.names:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('log = get_logger("vidsage.chat")', []),
        ('"""Publishes ``vidsage.video.indexed``."""', []),
        ('x = "vidsage.video.>"', ["'vidsage.video.>'"]),
        ('nc.subscribe(f"vidsage.chat.cancel.{rid}")', ["f'vidsage.chat.cancel.{}'"]),
        ('key = f"videos/{video_id}/source.mp4"', ["f'videos/{}/source.mp4'"]),
        ('nc.subscribe(subject, queue="indexer")', ["queue='indexer'"]),
        ('videos_bucket: str = "videos"', ["videos_bucket = 'videos'"]),
        ('k = f"video.{video_id}.transcript"', ["f'video.{}.transcript'"]),
        ('url = f"/api/videos/{video_id}"', []),
        ('stream = "VIDSAGE"', ["'VIDSAGE'", "stream = 'VIDSAGE'"]),
        ('sys.stderr.write(f"{name}: invalid settings (VIDSAGE_* environment)")', []),
        ('NO_VIDEO_STREAM = "no_video_stream"', []),
        ('thumb = work / "thumbnail.jpg"', ["'thumbnail.jpg'"]),
        (
            'sub = nc.subscribe(f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{s}.{d}")',
            ["f'$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{}.{}'"],
        ),
        ('memory = f"chat.library.{conversation_id}"', ["f'chat.library.{}'"]),
        ('ConsumerSpec("ingest", events)', ["ConsumerSpec('ingest', ...)"]),
        ('QUEUE_GROUP = "chat"', ["QUEUE_GROUP = 'chat'"]),
    ],
)
def test_the_check_sees_what_it_should(source: str, expected: list[str], tmp_path: Path) -> None:
    path = tmp_path / "example.py"
    path.write_text(source + "\n")
    assert sorted(what for _, what in literal_wire_names(path)) == sorted(expected)


def test_the_names_are_the_ones_the_design_documents() -> None:
    assert names.STREAM == "VIDSAGE"
    assert names.EVENT_SUBJECTS == "vidsage.video.>"
    assert [e.subject for e in EventType] == [f"vidsage.video.{e.value}" for e in EventType]
    assert Progress(video_id="v1", stage="transcribe", percent=5).subject == "vidsage.progress.v1"
    assert names.chat_cancel_subject(names.CHAT_SUBJECT, "r1") == "vidsage.chat.cancel.r1"
    assert (names.SEARCH_SUBJECT, names.SEARCH_QUEUE, names.CHAT_QUEUE) == (
        "vidsage.search",
        "indexer",
        "chat",
    )
    assert (names.VIDEOS_BUCKET, names.CACHE_BUCKET) == ("videos", "cache")
    assert names.source_key("v1", "mov") == "videos/v1/source.mov"
    assert names.thumbnail_key("v1") == "videos/v1/thumbnail.jpg"
    assert names.audio_key("v1") == "videos/v1/audio.wav"
    assert names.transcript_keys("v1") == {
        "transcript": "videos/v1/transcript.json",
        "srt": "videos/v1/transcript.srt",
        "vtt": "videos/v1/transcript.vtt",
    }
    assert names.objects_prefix("v1") == "videos/v1/"
    assert names.video_cache_key("v1", "transcript") == "video.v1.transcript"
    assert names.max_deliveries_advisory("VIDSAGE", "ingest") == (
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.VIDSAGE.ingest"
    )


def test_the_names_module_is_pure() -> None:
    tree = ast.parse(NAMES.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert imported <= {"__future__"}, imported
