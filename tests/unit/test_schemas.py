"""The exported event contract: docs/ in sync with the models, a well-formed AsyncAPI 3.0.0
document whose refs all resolve, and JSON Schemas that accept real events and reject bad ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

import vidsage
from tests.support.paths import ROOT
from vidsage.bus import CONSUMERS, MSG_ID_HEADER, TRACE_HEADER
from vidsage.contracts.events import EVENT_MODELS, Event, EventType, Progress
from vidsage.contracts.ids import new_id
from vidsage_client.cli import main
from vidsage_dev.schemas import (
    JSON_SCHEMA_DIALECT,
    asyncapi_document,
    check_schemas,
    component_schemas,
    event_schemas,
)

DOCS = ROOT / "docs"


def sample_events() -> list[BaseModel]:
    vid = new_id()
    common: dict[str, Any] = {"video_id": vid, "owner": "alice"}
    events: list[BaseModel] = [
        EVENT_MODELS[EventType.UPLOADED](
            **common,
            source_key=f"videos/{vid}/source.mp4",
            filename="clip.mp4",
            size=1234,
            mime="video/mp4",
            format="mp4",
            duration_s=2.5,
        ),
        EVENT_MODELS[EventType.INGESTED](
            **common,
            source_key=f"videos/{vid}/source.mp4",
            thumbnail_key=f"videos/{vid}/thumbnail.jpg",
            audio_key=None,
            duration_s=2.5,
            width=640,
            height=360,
            fps=None,
            video_codec="h264",
            audio_codec=None,
            has_audio=False,
        ),
        EVENT_MODELS[EventType.TRANSCRIBED](
            **common,
            transcript_key=f"videos/{vid}/transcript.json",
            srt_key=f"videos/{vid}/transcript.srt",
            vtt_key=f"videos/{vid}/transcript.vtt",
            language="en",
            segment_count=3,
            duration_s=2.5,
        ),
        EVENT_MODELS[EventType.INDEXED](**common, passage_count=3),
        EVENT_MODELS[EventType.FAILED](**common, stage="transcribe", reason="boom", attempts=4),
        EVENT_MODELS[EventType.DELETED](**common, prefix=f"videos/{vid}/"),
        Progress(video_id=vid, stage="transcribe", percent=42.5),
    ]
    return events


def test_samples_cover_every_event() -> None:
    kinds = {type(e) for e in sample_events()}
    assert kinds == set(EVENT_MODELS.values()) | {Progress}


# -- the committed files ----------------------------------------------------------------------------


def test_committed_docs_are_in_sync_with_the_models() -> None:
    problems = check_schemas(DOCS)
    assert problems == [], "docs/ is stale; run `make schemas`:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "command",
    [["vidsage_client.cli", "schemas"], ["vidsage_dev.schemas"]],
    ids=["vidsage schemas", "make schemas"],
)
def test_committed_docs_pass_the_cli_check(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *command, "check", str(DOCS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


def test_export_is_deterministic_and_check_catches_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "docs"
    assert main(["schemas", "export", str(out)]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    schema_files = sorted(f"events/{m.__name__}.schema.json" for m in [*EVENT_MODELS.values(), Progress])
    expected = ["asyncapi.json", *schema_files]
    assert files == expected
    first = {name: (out / name).read_bytes() for name in files}
    for name, data in first.items():
        text = data.decode()
        assert text.endswith("}\n"), name
        assert not text.endswith("\n\n"), name
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert main(["schemas", "export", str(out)]) == 0
    assert {name: (out / name).read_bytes() for name in files} == first
    assert main(["schemas", "check", str(out)]) == 0
    capsys.readouterr()

    # A hand edit, a missing file and a file no model produces are all reported.
    edited = out / "events" / "VideoUploaded.schema.json"
    edited.write_text(edited.read_text().replace("Owner of the video.", "Owner."))
    (out / "events" / "VideoIndexed.schema.json").unlink()
    (out / "events" / "VideoRenamed.schema.json").write_text("{}\n")
    assert main(["schemas", "check", str(out)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"differs:\s+\S*VideoUploaded\.schema\.json", err)
    assert re.search(r"missing:\s+\S*VideoIndexed\.schema\.json", err)
    assert re.search(r"stale:\s+\S*VideoRenamed\.schema\.json", err)
    assert "asyncapi.json" not in err
    assert "3 file(s)" in err
    assert "vidsage schemas export" in err

    # Export repairs all three.
    assert main(["schemas", "export", str(out)]) == 0
    assert check_schemas(out) == []
    assert {name: (out / name).read_bytes() for name in files} == first


def test_cli_rejects_unknown_commands() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["schemas", "publish", "docs"])
    assert caught.value.code == 2


# -- the AsyncAPI document ------------------------------------------------------------------------


def walk(node: Any, path: str = "#") -> list[tuple[str, Any]]:
    """Every (json pointer, value) pair below ``node``."""
    found = [(path, node)]
    if isinstance(node, dict):
        for key, value in node.items():
            found += walk(value, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += walk(value, f"{path}/{i}")
    return found


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"external or malformed ref {ref!r}"
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref!r} does not resolve (at {part!r})"
        assert part in node, f"{ref!r} does not resolve (at {part!r})"
        node = node[part]
    return node


def refs(document: dict[str, Any]) -> list[str]:
    return [
        value["$ref"]
        for _, value in walk(document)
        if isinstance(value, dict) and isinstance(value.get("$ref"), str)
    ]


def test_asyncapi_header_info_and_servers() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    info = doc["info"]
    assert info["title"] == "vidsage events"
    assert info["version"] == vidsage.__version__
    description = info["description"]
    for needle in (MSG_ID_HEADER, "<video_id>:<event>", TRACE_HEADER, "schema_version", "ignore fields"):
        assert needle in description, needle
    assert doc["servers"]["local"]["host"] == "127.0.0.1:4222"
    assert doc["servers"]["local"]["protocol"] == "nats"
    assert "nats://127.0.0.1:4222" in doc["servers"]["local"]["description"]
    assert doc["defaultContentType"] == "application/json"


def test_asyncapi_has_a_channel_per_subject() -> None:
    doc = asyncapi_document()
    addresses = {channel["address"] for channel in doc["channels"].values()}
    chat = {"/ws/chat/{video_id}", "/ws/chat", "vidsage.chat", "vidsage.chat.cancel.{request_id}", None}
    jobs = {"vidsage.jobs.transcribe"}  # and its replies: None (the job's reply_to)
    assert addresses == {e.subject for e in EventType} | {"vidsage.progress.{video_id}"} | chat | jobs
    for channel_id, channel in doc["channels"].items():
        assert re.fullmatch(r"[A-Za-z0-9.\-_]+", channel_id)
        declared = set(channel.get("parameters", {}))
        assert set(re.findall(r"\{(\w+)\}", channel["address"] or "")) == declared, channel_id
        if channel["address"] not in chat:
            assert len(channel["messages"]) == 1
        (server,) = channel["servers"]
        assert server["$ref"] == ("#/servers/gateway" if channel_id.endswith("Socket") else "#/servers/local")
    for event, model in EVENT_MODELS.items():
        (channel,) = [c for c in doc["channels"].values() if c["address"] == event.subject]
        (message_ref,) = channel["messages"].values()
        message = resolve(doc, message_ref["$ref"])
        assert message["payload"] == {"$ref": f"#/components/schemas/{model.__name__}"}
        assert message["contentType"] == "application/json"
        headers = resolve(doc, message["headers"]["$ref"])
        assert headers["required"] == [MSG_ID_HEADER]
        assert set(headers["properties"]) == {MSG_ID_HEADER, TRACE_HEADER}


def test_asyncapi_operations_follow_the_design() -> None:
    doc = asyncapi_document()
    seen: set[tuple[str, str, str]] = set()
    for op_id, op in doc["operations"].items():
        assert op["action"] in ("send", "receive")
        channel_ref = op["channel"]["$ref"]
        channel = resolve(doc, channel_ref)
        for message in op["messages"]:
            # An operation's messages are those of its own channel.
            assert message["$ref"].startswith(channel_ref + "/messages/"), op_id
            resolve(doc, message["$ref"])
        (service,) = [t["name"] for t in op["tags"]]
        seen.add((service, op["action"], channel["address"]))
    v = "vidsage.video."
    progress = "vidsage.progress.{video_id}"
    expected = {
        ("gateway", "send", v + "uploaded"),
        ("gateway", "send", v + "deleted"),
        ("ingest", "send", v + "ingested"),
        ("ingest", "send", v + "failed"),
        ("transcriber", "send", v + "transcribed"),
        ("transcriber", "send", v + "failed"),
        ("transcriber", "send", progress),
        # the gateway's live status streams (Server-Sent Events) relay every event and the progress
        ("gateway", "receive", progress),
        *(("gateway", "receive", e.subject) for e in EventType),
        ("indexer", "send", v + "indexed"),
        ("indexer", "send", v + "failed"),
        # re-drives: the reconcilers publish their stage's input, the gateway a retry's
        ("gateway", "send", v + "transcribed"),
        ("ingest", "send", v + "uploaded"),
        ("transcriber", "send", v + "uploaded"),
        ("indexer", "send", v + "transcribed"),
        ("ingest", "receive", v + "uploaded"),
        ("transcriber", "receive", v + "uploaded"),  # side by side with ingest
        ("indexer", "receive", v + "transcribed"),
        ("indexer", "receive", v + "deleted"),
        *(("notifier", "receive", v + e.value) for e in EventType),  # webhooks: every event
        ("gateway", "receive", "/ws/chat/{video_id}"),
        ("gateway", "send", "/ws/chat/{video_id}"),
        ("gateway", "receive", "/ws/chat"),
        ("gateway", "send", "/ws/chat"),
        ("gateway", "send", "vidsage.chat"),
        ("chat", "receive", "vidsage.chat"),
        ("gateway", "send", "vidsage.chat.cancel.{request_id}"),
        ("chat", "receive", "vidsage.chat.cancel.{request_id}"),
        ("gateway", "send", "vidsage.jobs.transcribe"),  # POST /v1/audio/transcriptions
        ("transcriber", "receive", "vidsage.jobs.transcribe"),
    }
    assert seen == expected
    assert len(doc["operations"]) == len(expected)
    for op_id in ("gatewaySendChatRequest", "chatReceiveChatRequest"):
        reply = doc["operations"][op_id]["reply"]
        assert resolve(doc, reply["channel"]["$ref"])["messages"] == {
            "ChatChunk": {"$ref": "#/components/messages/ChatChunk"}
        }
    receives = {(s, a) for s, action, a in seen if action == "receive" and a.startswith("vidsage.video.")}
    relayed = {("gateway", e.subject) for e in EventType}  # its live status streams' feed
    assert receives == {(name, e.subject) for name, spec in CONSUMERS.items() for e in spec.events} | relayed


def test_every_ref_resolves_and_no_defs_are_left() -> None:
    doc = asyncapi_document()
    all_refs = refs(doc)
    assert len(all_refs) > 30
    for ref in all_refs:
        resolve(doc, ref)
    assert not [path for path, _ in walk(doc) if path.endswith("/$defs")]
    # Every component is used by something.
    for kind in ("schemas", "messages"):
        for name in doc["components"][kind]:
            assert f"#/components/{kind}/{name}" in all_refs, (kind, name)


def test_nested_model_definitions_are_hoisted_into_components() -> None:
    class Segment(BaseModel):
        start: float
        text: str

    class Window(BaseModel):
        first: Segment
        rest: list[Segment]

    class Outer(BaseModel):
        window: Window
        note: str | None = None

    schemas = component_schemas({"Outer": Outer})
    assert set(schemas) == {"Outer", "Window", "Segment"}
    doc = {"components": {"schemas": schemas}}
    nested = refs(doc)
    assert sorted(set(nested)) == ["#/components/schemas/Segment", "#/components/schemas/Window"]
    for ref in nested:
        resolve(doc, ref)
    assert not [path for path, _ in walk(doc) if "$defs" in path]
    assert schemas["Outer"]["required"] == ["window", "note"]

    # The hoisted schemas still validate through their refs.
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/Outer", "components": {"schemas": schemas}}
    )
    good = Outer(window=Window(first=Segment(start=0, text="a"), rest=[])).model_dump(mode="json")
    validator.validate(good)
    bad = {"window": {"first": {"start": "zero", "text": "a"}, "rest": []}, "note": None}
    assert not validator.is_valid(bad)


# -- the JSON Schemas -----------------------------------------------------------------------------


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_event_schema_accepts_real_events_and_rejects_broken_ones(event: BaseModel) -> None:
    name = type(event).__name__
    schema = event_schemas()[name]
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    jsonschema.Draft202012Validator.check_schema(schema)
    body = json.loads(event.to_bytes() if isinstance(event, Event) else event.model_dump_json())
    jsonschema.validate(body, schema)

    # The same through the AsyncAPI document's components.
    doc_validator = jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": asyncapi_document()["components"]}
    )
    doc_validator.validate(body)

    missing = {k: v for k, v in body.items() if k != "video_id"}
    with pytest.raises(jsonschema.ValidationError, match="video_id"):
        jsonschema.validate(missing, schema)
    assert not doc_validator.is_valid(missing)

    assert not doc_validator.is_valid({**body, "video_id": 42})
    # Subscribers must ignore unknown fields, so the schemas allow them.
    jsonschema.validate({**body, "added_in_a_later_version": True}, schema)


def test_event_schemas_list_every_field_as_required() -> None:
    for name, schema in event_schemas().items():
        assert schema["required"] == list(schema["properties"]), name
    uploaded = event_schemas()["VideoUploaded"]
    for field in ("schema_version", "event_id", "video_id", "occurred_at", "owner", "source_key"):
        assert field in uploaded["required"]
    assert uploaded["properties"]["schema_version"]["const"] == 1
    assert uploaded["properties"]["format"]["enum"] == ["mp4", "mov", "avi"]
    body = json.loads(sample_events()[0].model_dump_json())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "schema_version": 2}, uploaded)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "format": "mkv"}, uploaded)
