"""The public event contract as documents: a JSON Schema per event and an AsyncAPI 3.0 file.

Both are generated from the pydantic models in :mod:`vidsage.contracts.events`, the one place the
contract lives. ``vidsage schemas export DIR`` (or ``python -m vidsage_dev.schemas export DIR``)
writes ``DIR/asyncapi.json`` and ``DIR/events/<Name>.schema.json``; ``vidsage schemas check DIR``
reports files that differ from what the models produce, so CI catches a stale document. The output
is deterministic (sorted keys, two-space indent, trailing newline): the same models always give the
same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import vidsage
from vidsage.bus import CONSUMERS, MSG_ID_HEADER, TRACE_HEADER
from vidsage.contracts import names
from vidsage.contracts.chat import (
    ERROR_CODES,
    ChatChunk,
    ChatRequest,
    ClientCancel,
    ClientMessage,
    DoneFrame,
    ErrorFrame,
    TokenFrame,
)
from vidsage.contracts.events import EVENT_MODELS, SCHEMA_VERSION, EventType, Progress
from vidsage.contracts.permissions import ACCESS
from vidsage.contracts.transcription import TranscriptionJob, TranscriptionReply

ASYNCAPI_VERSION = "3.0.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMPONENT_REF = "#/components/schemas/{model}"
ASYNCAPI_FILE = "asyncapi.json"
EVENTS_DIR = "events"
SCHEMA_SUFFIX = ".schema.json"

# Who publishes what: the services' NATS permissions (vidsage.contracts.permissions), which allow
# exactly that. The consumers come from vidsage.bus.CONSUMERS; every subject, stream and queue
# group from vidsage.contracts.names.
PRODUCERS: dict[str, tuple[EventType, ...]] = {
    user: tuple(EventType(event) for event in access.events)
    for user, access in ACCESS.items()
    if user in names.SERVICE_USERS and access.events
}
PROGRESS_PRODUCERS = tuple(
    user for user in names.SERVICE_USERS if names.progress_subject("*") in ACCESS[user].publish
)
PROGRESS_CONSUMERS = tuple(
    user for user in names.SERVICE_USERS if names.progress_subject("*") in ACCESS[user].subscribe
)
EVENT_FEED_READERS = tuple(user for user in names.SERVICE_USERS if ACCESS[user].event_feed)
"""The services that relay every event to HTTP clients (the gateway's Server-Sent Events)."""

_DESCRIPTION = f"""\
The events of vidsage, the video upload → transcript → search backend. This document and the
JSON Schemas beside it are generated from the models in `vidsage.contracts.events`; do not edit them by hand.

**Stream.** The `{names.EVENT_SUBJECT_PREFIX}.*` events are stored in the JetStream stream `{names.STREAM}`
(subjects `{names.EVENT_SUBJECTS}`, limits retention with a maximum age, file storage, 2-minute
duplicate window). A subscriber attaches its own consumer to that stream; delivery is at least
once.

**Pipeline.** The gateway publishes `uploaded` once a validated upload is stored. Ingest
(thumbnail) and the transcriber both consume it, side by side: the transcriber reads the source
itself, so `ingested` no longer gates the transcript and, unless ingest is set to extract the
audio, carries `audio_key: null`. The indexer consumes `transcribed`. Each stage's state is on the
video record (`GET /api/videos/<id>/status`: `stages`), and the record's `status` follows the
pipeline order, so it still only moves forward.

**De-duplication.** Every event is published with the header `{MSG_ID_HEADER}` =
`<video_id>:<event>` (for example `0190d5e4-…:uploaded`), so a producer's retries within the
duplicate window are stored once: there is at most one event of each type per video. Consumers
that may still see a redelivery de-duplicate on `event_id` (or on that header).

**Tracing.** The optional header `{TRACE_HEADER}` carries the trace id of the request that
started the work; services copy it to the events they publish in turn.

**Payload.** UTF-8 JSON. Every event has `schema_version`, `event_id` (a UUIDv7),
`video_id`, `occurred_at` (RFC 3339, UTC) and `owner`, then the fields of its type.
Subscribers must ignore fields they do not know: new fields may appear without notice. A
breaking change (a field removed, renamed or retyped) bumps `schema_version`, currently
`{SCHEMA_VERSION}`.

**Progress.** `{names.progress_subject("<video_id>")}` is ephemeral core NATS (not stored, best
effort): subscribe to it, or to `{names.progress_subject("*")}`, while a video is being processed.

**Chat.** Clients chat over the gateway's WebSocket (`chatVideoSocket`, `chatLibrarySocket`:
JSON text frames). The gateway asks the chat service over core NATS request-reply
(`chatRequests`, queue group `{names.CHAT_QUEUE}`) and relays the numbered chunks that come back on the
request's reply inbox (`chatReplies`); a closed WebSocket publishes on `chatCancel`.

**Transcription jobs.** `POST /v1/audio/transcriptions` (the OpenAI-compatible endpoint) is a job on
the JetStream work-queue stream `{names.JOBS_STREAM}` (`transcriptionJobs`, subject
`{names.TRANSCRIBE_JOB_SUBJECT}`, `{MSG_ID_HEADER}` = the job id), taken by the transcribers'
shared durable pull consumer `{names.TRANSCRIBE_JOBS_CONSUMER}` (a transcriber pulls only when it has
a free slot; a job whose transcriber died goes to another one after the ack wait; a job past its
`deadline` is dropped) and answered once on the gateway's inbox named in the job
(`transcriptionReplies`).
"""


def _models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {model.__name__: model for model in EVENT_MODELS.values()}
    models[Progress.__name__] = Progress
    return models


CHAT_CLIENT_FRAMES: tuple[type[BaseModel], ...] = (ClientMessage, ClientCancel)
CHAT_SERVER_FRAMES: tuple[type[BaseModel], ...] = (TokenFrame, DoneFrame, ErrorFrame)
CHAT_BUS_MODELS: tuple[type[BaseModel], ...] = (ChatRequest, ChatChunk)


def _all_fields_required(schema: dict[str, Any]) -> dict[str, Any]:
    """Mark every property required, here and in ``$defs``.

    Events are serialized with every field (``model_dump_json``), defaults and nulls included,
    so a subscriber can rely on each one being present; pydantic would leave fields that have
    defaults out of ``required``.
    """
    for sub in [schema, *schema.get("$defs", {}).values()]:
        if sub.get("properties"):
            sub["required"] = list(sub["properties"])
    return schema


def event_schemas() -> dict[str, dict[str, Any]]:
    """A standalone JSON Schema (draft 2020-12) per event model and for Progress, by model name."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, model in _models().items():
        schema = _all_fields_required(model.model_json_schema(mode="serialization"))
        schemas[name] = {"$schema": JSON_SCHEMA_DIALECT, **schema}
    return schemas


def component_schemas(
    models: dict[str, type[BaseModel]], *, all_required: bool = True
) -> dict[str, dict[str, Any]]:
    """The models' schemas for ``components/schemas``, with ``$defs`` hoisted beside them.

    One pydantic pass over all models names every nested model once and writes each reference
    as ``#/components/schemas/<Name>`` (``ref_template``), so the refs resolve in the document.
    ``all_required`` marks every property required (see :func:`_all_fields_required`).
    """
    _, top = models_json_schema(
        [(model, "serialization") for model in models.values()], ref_template=COMPONENT_REF
    )
    schemas: dict[str, dict[str, Any]] = top.get("$defs", {})
    missing = set(models) - set(schemas)
    if missing:  # pydantic renames a model only when two share a name
        raise RuntimeError(f"model names are not unique: {sorted(missing)}")
    if all_required:
        for schema in schemas.values():
            _all_fields_required(schema)
    return schemas


def _headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "EventHeaders",
        "description": f"NATS headers of every {names.EVENT_SUBJECT_PREFIX}.* message.",
        "properties": {
            MSG_ID_HEADER: {
                "type": "string",
                "description": (
                    "JetStream de-duplication id, `<video_id>:<event>`: retries of a publish "
                    "within the duplicate window are stored once."
                ),
                "examples": ["0190d5e4-6c1a-7b2e-9f10-3c4d5e6f7a8b:uploaded"],
            },
            TRACE_HEADER: {
                "type": "string",
                "description": "Trace id of the request that started the work (optional).",
            },
        },
        "required": [MSG_ID_HEADER],
    }


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def _channel_id(event: EventType) -> str:
    return f"video{event.value.capitalize()}"


def _message_ref(channel: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/channels/{channel}/messages/{name}"}


def _operation(
    action: str, channel: str, messages: list[str], service: str, summary: str, **extra: Any
) -> dict[str, Any]:
    """An AsyncAPI operation of ``service`` on ``channel`` with those of the channel's ``messages``."""
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "messages": [_message_ref(channel, name) for name in messages],
        "summary": summary,
        **extra,
        "tags": [{"name": service}],
    }


def _operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for service, events in PRODUCERS.items():
        for event in events:
            name = EVENT_MODELS[event].__name__
            summary = f"{service} publishes {event.subject}."
            yield f"{service}Send{name}", _operation("send", _channel_id(event), [name], service, summary)
    for service in PROGRESS_PRODUCERS:
        summary = f"{service} reports the progress of its stage (core NATS, best effort)."
        yield f"{service}SendProgress", _operation("send", "progress", ["Progress"], service, summary)
    for service, spec in CONSUMERS.items():
        for event in spec.events:
            name = EVENT_MODELS[event].__name__
            description = (
                f"Durable pull consumer `{spec.durable}` on the stream `{names.STREAM}`: explicit ack, "
                "`max_ack_pending` = the worker's concurrency × its processes, `in_progress` "
                "heartbeats during long jobs, a bounded `max_deliver`; a job that exhausts its "
                "deliveries marks "
                f"the video failed (and publishes {EventType.FAILED.subject})."
            )
            summary = f"{service} handles {event.subject}."
            yield (
                f"{service}Receive{name}",
                _operation("receive", _channel_id(event), [name], service, summary, description=description),
            )
    for service in PROGRESS_CONSUMERS:
        summary = f"{service} relays progress to clients watching the video."
        yield f"{service}ReceiveProgress", _operation("receive", "progress", ["Progress"], service, summary)
    for service in EVENT_FEED_READERS:
        for event in EventType:
            name = EVENT_MODELS[event].__name__
            description = (
                f"Ephemeral pull consumers of its own (`{names.EVENT_FEED_PREFIX}<random>`, ack none): one "
                "live feed per process, fanned out to its Server-Sent Events streams, and a short-lived "
                "one per resumed stream (`Last-Event-ID`)."
            )
            summary = f"{service} relays {event.subject} to its live status streams (SSE)."
            yield (
                f"{service}Relay{name}",
                _operation("receive", _channel_id(event), [name], service, summary, description=description),
            )


def _chat_schemas() -> dict[str, dict[str, Any]]:
    """Chat frames and bus messages (optional fields stay optional: they are left out when unset)."""
    models = [*CHAT_CLIENT_FRAMES, *CHAT_SERVER_FRAMES, *CHAT_BUS_MODELS]
    schemas = component_schemas({m.__name__: m for m in models}, all_required=False)
    codes = schemas["ErrorFrame"]["properties"]["code"]
    codes["enum"] = sorted(ERROR_CODES)
    codes["description"] = "; ".join(f"`{k}`: {v}" for k, v in ERROR_CODES.items())
    return schemas


def _plain_messages(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    """AsyncAPI messages of JSON ``models``, by name, without headers or correlation id."""
    return {
        m.__name__: {
            "name": m.__name__,
            "summary": _summary(m),
            "contentType": "application/json",
            "payload": {"$ref": COMPONENT_REF.format(model=m.__name__)},
        }
        for m in models
    }


def _chat_channels() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(channels, operations, messages) of the chat."""
    frames = [*CHAT_CLIENT_FRAMES, *CHAT_SERVER_FRAMES]
    messages = _plain_messages([*frames, *CHAT_BUS_MODELS])
    socket_messages = {m.__name__: {"$ref": f"#/components/messages/{m.__name__}"} for m in frames}
    gateway = [{"$ref": "#/servers/gateway"}]
    nats = [{"$ref": "#/servers/local"}]
    channels: dict[str, Any] = {
        "chatVideoSocket": {
            "address": "/ws/chat/{video_id}",
            "title": "Chat about one video (WebSocket)",
            "description": (
                "The whole transcript is the model's context. Frames over `chat.max_frame_bytes` close "
                "the socket with 1009; a video that is not ready gets `error` with code `not_ready`."
            ),
            "servers": gateway,
            "parameters": {"video_id": {"description": "Id of the video (UUIDv7)."}},
            "messages": socket_messages,
        },
        "chatLibrarySocket": {
            "address": "/ws/chat",
            "title": "Chat about the whole library (WebSocket)",
            "description": "Passages retrieved through the indexer's search are the model's context.",
            "servers": gateway,
            "messages": socket_messages,
        },
        "chatRequests": {
            "address": names.CHAT_SUBJECT,
            "title": names.CHAT_SUBJECT,
            "description": f"Chat requests (core NATS, queue group `{names.CHAT_QUEUE}`) with a reply inbox.",
            "servers": nats,
            "messages": {"ChatRequest": {"$ref": "#/components/messages/ChatRequest"}},
        },
        "chatReplies": {
            "address": None,
            "title": "the request's reply inbox",
            "description": (
                "Numbered chunks: `accepted`, `token`..., then one `done` or `error`; `alive` "
                "whenever nothing else was sent for `chat.alive_interval_s` (the gateway reports "
                "`timeout` after `chat.chunk_timeout_s` without a chunk). A gap in `seq` is a lost "
                "chunk (the gateway reports `stream_broken`)."
            ),
            "servers": nats,
            "messages": {"ChatChunk": {"$ref": "#/components/messages/ChatChunk"}},
        },
        "chatCancel": {
            "address": names.chat_cancel_subject(names.CHAT_SUBJECT, "{request_id}"),
            "title": names.chat_cancel_subject(names.CHAT_SUBJECT, "<request_id>"),
            "description": "Stop generating that answer (empty payload); every chat replica listens.",
            "servers": nats,
            "parameters": {"request_id": {"description": "The request's id."}},
            "messages": {},
        },
    }

    client = [m.__name__ for m in CHAT_CLIENT_FRAMES]
    server = [m.__name__ for m in CHAT_SERVER_FRAMES]
    reply = {
        "channel": {"$ref": "#/channels/chatReplies"},
        "messages": [_message_ref("chatReplies", "ChatChunk")],
    }
    operations: dict[str, Any] = {}
    for channel in ("chatVideoSocket", "chatLibrarySocket"):
        kind = channel.removesuffix("Socket").removeprefix("chat")
        operations[f"gatewayReceive{kind}Frames"] = _operation(
            "receive", channel, client, "gateway", "The gateway receives the client's questions and cancels."
        )
        operations[f"gatewaySend{kind}Frames"] = _operation(
            "send",
            channel,
            server,
            "gateway",
            "The gateway streams `token` frames, then `done` (citations) or `error`.",
        )
    operations["gatewaySendChatRequest"] = _operation(
        "send",
        "chatRequests",
        ["ChatRequest"],
        "gateway",
        "The gateway asks the chat service, with a fresh reply inbox.",
        reply=reply,
    )
    operations["chatReceiveChatRequest"] = _operation(
        "receive",
        "chatRequests",
        ["ChatRequest"],
        "chat",
        "The chat service answers, streaming chunks to the reply inbox.",
        reply=reply,
    )
    operations["gatewaySendChatCancel"] = _operation(
        "send",
        "chatCancel",
        [],
        "gateway",
        "The gateway cancels an answer whose WebSocket closed (or that went silent).",
    )
    operations["chatReceiveChatCancel"] = _operation(
        "receive",
        "chatCancel",
        [],
        "chat",
        "The chat service stops that answer and closes its stream to the language model.",
    )
    return channels, operations, messages


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the vidsage events."""
    schemas = component_schemas(_models())
    schemas["EventHeaders"] = _headers_schema()
    schemas.update(_chat_schemas())
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for event, model in EVENT_MODELS.items():
        name = model.__name__
        messages[name] = {
            "name": name,
            "title": f"{event.subject}",
            "summary": _summary(model),
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/EventHeaders"},
            "payload": {"$ref": COMPONENT_REF.format(model=name)},
            "correlationId": {"$ref": "#/components/correlationIds/videoId"},
        }
        channels[_channel_id(event)] = {
            "address": event.subject,
            "title": event.subject,
            "description": f"{_summary(model)} Stored in the JetStream stream `{names.STREAM}`.",
            "servers": [{"$ref": "#/servers/local"}],
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
    messages["Progress"] = {
        "name": "Progress",
        "title": names.progress_subject("{video_id}"),
        "summary": _summary(Progress),
        "contentType": "application/json",
        "payload": {"$ref": COMPONENT_REF.format(model="Progress")},
        "correlationId": {"$ref": "#/components/correlationIds/videoId"},
    }
    channels["progress"] = {
        "address": names.progress_subject("{video_id}"),
        "title": names.progress_subject("<video_id>"),
        "description": "Ephemeral progress of a video's stages on core NATS: not stored, best effort.",
        "servers": [{"$ref": "#/servers/local"}],
        "parameters": {"video_id": {"description": "Id of the video (UUIDv7)."}},
        "messages": {"Progress": {"$ref": "#/components/messages/Progress"}},
    }
    chat_channels, chat_operations, chat_messages = _chat_channels()
    channels.update(chat_channels)
    messages.update(chat_messages)
    jobs_channels, jobs_operations, jobs_messages = _jobs_channels()  # /v1/audio/transcriptions
    channels.update(jobs_channels)
    messages.update(jobs_messages)
    chat_operations.update(jobs_operations)
    schemas.update(component_schemas({m.__name__: m for m in JOB_MODELS}, all_required=False))
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:vidsage:events",
        "info": {
            "title": "vidsage events",
            "version": vidsage.__version__,
            "description": _DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": (
                    "The nats-server that `make run` starts (nats://127.0.0.1:4222). In a cluster, "
                    "the NATS service of the Helm release."
                ),
            },
            "gateway": {
                "host": "127.0.0.1:8080",
                "protocol": "ws",
                "description": "The gateway's WebSocket (`make run`); `wss` behind a TLS ingress.",
            },
        },
        "channels": channels,
        "operations": {**dict(_operations()), **chat_operations},
        "components": {
            "schemas": schemas,
            "messages": messages,
            "correlationIds": {
                "videoId": {
                    "description": "Every message is about one video.",
                    "location": "$message.payload#/video_id",
                }
            },
        },
    }


# -- transcription jobs (the OpenAI-compatible endpoint) ----------------------------------------------

JOB_MODELS = (TranscriptionJob, TranscriptionReply)


def _jobs_channels() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(channels, operations, messages) of the transcription jobs."""
    messages = _plain_messages(JOB_MODELS)
    nats = [{"$ref": "#/servers/local"}]
    channels: dict[str, Any] = {
        "transcriptionJobs": {
            "address": names.TRANSCRIBE_JOB_SUBJECT,
            "title": names.TRANSCRIBE_JOB_SUBJECT,
            "description": (
                f"Transcription jobs, stored in the work-queue stream `{names.JOBS_STREAM}` (removed when "
                "acked, dropped after 15 minutes untaken)."
            ),
            "servers": nats,
            "messages": {"TranscriptionJob": {"$ref": "#/components/messages/TranscriptionJob"}},
        },
        "transcriptionReplies": {
            "address": None,
            "title": "the job's reply_to (the gateway's inbox)",
            "description": "One reply per job: segments, or an error with the HTTP status to answer.",
            "servers": nats,
            "messages": {"TranscriptionReply": {"$ref": "#/components/messages/TranscriptionReply"}},
        },
    }
    reply = {
        "channel": {"$ref": "#/channels/transcriptionReplies"},
        "messages": [_message_ref("transcriptionReplies", "TranscriptionReply")],
    }
    operations = {
        "gatewaySendTranscriptionJob": _operation(
            "send",
            "transcriptionJobs",
            ["TranscriptionJob"],
            "gateway",
            "The gateway submits the uploaded file (a temporary object) and waits on its inbox.",
            reply=reply,
        ),
        "transcriberReceiveTranscriptionJob": _operation(
            "receive",
            "transcriptionJobs",
            ["TranscriptionJob"],
            "transcriber",
            "A transcriber with a free slot takes the job and answers on its reply_to.",
            description=(
                f"Durable pull consumer `{names.TRANSCRIBE_JOBS_CONSUMER}` on `{names.JOBS_STREAM}`, shared "
                "by the transcribers: explicit ack, `max_ack_pending` = `transcriber.jobs_concurrency`, "
                "`in_progress` heartbeats, `max_deliver` = `transcriber.jobs_max_deliver` (a second "
                "delivery only when the first transcriber died mid-job)."
            ),
            reply=reply,
        ),
    }
    return channels, operations, messages


# -- files ------------------------------------------------------------------------------------------


def dumps(document: dict[str, Any]) -> str:
    """The canonical text of a document: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered_files() -> dict[str, str]:
    """What ``export`` writes: relative POSIX path → text."""
    files = {ASYNCAPI_FILE: dumps(asyncapi_document())}
    for name, schema in event_schemas().items():
        files[f"{EVENTS_DIR}/{name}{SCHEMA_SUFFIX}"] = dumps(schema)
    return files


def _stale(directory: Path, files: dict[str, str]) -> list[Path]:
    """Schema files in ``DIR/events`` that no model produces any more (a removed or renamed event)."""
    events = directory / EVENTS_DIR
    if not events.is_dir():
        return []
    return [
        path for path in sorted(events.glob(f"*{SCHEMA_SUFFIX}")) if f"{EVENTS_DIR}/{path.name}" not in files
    ]


def export_schemas(directory: Path) -> list[Path]:
    """Write the documents into ``directory`` (and drop stale schema files); returns what was written."""
    files = rendered_files()
    written: list[Path] = []
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
        written.append(path)
    for path in _stale(directory, files):
        path.unlink()
    return written


def check_schemas(directory: Path) -> list[str]:
    """One line per file of ``directory`` that is missing, differs or is stale; empty when in sync."""
    files = rendered_files()
    problems: list[str] = []
    for rel, text in files.items():
        path = directory / rel
        if not path.is_file():
            problems.append(f"missing:   {path}")
        elif path.read_bytes() != text.encode():
            problems.append(f"differs:   {path}")
    problems.extend(f"stale:     {path}" for path in _stale(directory, files))
    return problems


# -- command line -----------------------------------------------------------------------------------


def run(action: str, directory: Path) -> int:
    """``vidsage schemas export|check DIR``: do it, say what happened; the exit status."""
    if action == "export":
        written = export_schemas(directory)
        print(f"wrote {len(written)} files to {directory}")
        return 0
    problems = check_schemas(directory)
    if problems:
        print(
            f"vidsage schemas check: {len(problems)} file(s) in {directory} do not match the event models:",
            file=sys.stderr,
        )
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        print(
            f"run `vidsage schemas export {directory}` (or `make schemas`) and commit the result",
            file=sys.stderr,
        )
        return 1
    print(f"{directory}: the event schemas and the AsyncAPI document are up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vidsage_dev.schemas export|check DIR`` (what ``make schemas`` runs)."""
    parser = argparse.ArgumentParser(
        prog="python -m vidsage_dev.schemas",
        description="The public event contract as files, generated from vidsage.contracts.events.",
    )
    parser.add_argument("action", choices=("export", "check"), help="write the files, or compare them")
    parser.add_argument("dir", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    return run(args.action, args.dir)


if __name__ == "__main__":
    raise SystemExit(main())
