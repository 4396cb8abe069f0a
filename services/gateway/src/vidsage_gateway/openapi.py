"""The OpenAPI 3.1 document of the gateway, built from the same models the responses use.

Each operation's ``security`` (and its 401/403/429/503 answers) comes from the route policies the
``authenticate`` middleware applies (:func:`vidsage_gateway.auth.policy_for`), so the document and
the checks cannot disagree.
"""

from __future__ import annotations

import functools
from typing import Any

from vidsage import __version__
from vidsage.contracts.events import EventType
from vidsage.contracts.keys import (
    OWNER_PATTERN,
    KeyCreate,
    KeyCreated,
    KeyList,
    LinkCreate,
    SessionCreate,
    SessionInfo,
    SignedLinks,
)
from vidsage.contracts.live_events import LiveEvent
from vidsage.contracts.record import VideoRecord
from vidsage.contracts.search import SearchHit
from vidsage.contracts.transcript import Transcript
from vidsage.contracts.usage import Usage, UsageList
from vidsage.contracts.webhooks import (
    WEBHOOK_EVENT_TYPES,
    DeliveryList,
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
    WebhookList,
)
from vidsage_gateway.auth import Policy, policy_for
from vidsage_gateway.hosts import ANY_HOST_PATHS
from vidsage_gateway.sessions import SESSION_COOKIE

REF = "#/components/schemas/{model}"


def _schemas() -> dict[str, Any]:
    record = VideoRecord.model_json_schema(ref_template=REF, mode="serialization")
    defs = record.pop("$defs", {})
    transcript = Transcript.model_json_schema(ref_template=REF, mode="serialization")
    defs.update(transcript.pop("$defs", {}))
    defs["Transcript"] = transcript
    hit = SearchHit.model_json_schema(ref_template=REF, mode="serialization")
    record["properties"]["links"] = {
        "type": "object",
        "properties": {k: {"type": "string"} for k in ("self", "stream", "thumbnail", "transcript")},
        "required": ["self", "stream", "thumbnail", "transcript"],
    }
    record["required"] = [*record.get("required", []), "links"]
    for model in (
        KeyCreate,
        KeyCreated,
        KeyList,
        SessionCreate,
        SessionInfo,
        LinkCreate,
        SignedLinks,
        Usage,
        UsageList,
    ):
        schema = model.model_json_schema(ref_template=REF, mode="serialization")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
    return {
        **defs,
        "VideoRecord": record,
        "SearchHit": hit,
        "SearchResults": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "video_id": {"type": ["string", "null"]},
                "hits": {"type": "array", "items": {"$ref": REF.format(model="SearchHit")}},
            },
            "required": ["query", "video_id", "hits"],
        },
        "VideoPage": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": REF.format(model="VideoRecord")}},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page.",
                },
            },
            "required": ["items", "next_cursor"],
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "status": {"type": "string", "description": "Video status, for not_ready."},
                        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                        "limit": {
                            "type": "string",
                            "description": "The limit reached (`rate_limited`, `quota_exceeded`).",
                        },
                        "retry_after_s": {
                            "type": "number",
                            "description": "When to try again (`rate_limited`).",
                        },
                        "used": {"type": "integer", "description": "The amount used (`quota_exceeded`)."},
                        "max": {"type": "integer", "description": "The quota (`quota_exceeded`)."},
                    },
                    "required": ["code", "message"],
                }
            },
            "required": ["error"],
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["status"],
        },
    }


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=ref)}}},
    }


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad request (missing `file`, empty file, malformed body or parameters, unknown format, JSON "
        "nested deeper than 32 levels; `malformed_request`: HTTP or multipart part headers that cannot be "
        "parsed, such as control characters or a header line that is too long)",
        403: "This Origin may not open the chat WebSocket (`origin_not_allowed`)",
        404: "Unknown video id",
        408: "The client stalled or trickled (`upload_timeout`: `upload_read_timeout_s`, `upload_max_s`)",
        409: "Not in the state this needs: `not_ready` (with the current status), `not_failed` (retry)",
        413: "Upload larger than the limit (`too_large`)",
        415: "Not an MP4, MOV or AVI file, decided by content (`unsupported_type`)",
        416: "Range outside the video (`range_not_satisfiable`), with `Content-Range: bytes */size`",
        422: "Too long (`too_long`, with the measured duration), undecodable, truncated, or frames larger "
        "than `gateway.max_frame_pixels` (`frame_too_large`, decided before decoding)",
        503: "A dependency is unavailable (`storage_unavailable`, `bus_unavailable`, the search service), "
        "with `Retry-After`",
    }
    return {str(c): _json("Error", text[c]) for c in codes}


OWNER = {
    "name": "owner",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": OWNER_PATTERN},
    "description": "Admin keys only (a member gets 403 `owner_forbidden`): act for this tenant instead of "
    "the key's own.",
}
OWNER_OR_ALL = {
    **OWNER,
    "schema": {"anyOf": [{"type": "string", "pattern": OWNER_PATTERN}, {"const": "*"}]},
    "description": "Admin keys only (a member gets 403 `owner_forbidden`): this tenant's instead of the "
    "key's own; `*` for every tenant.",
}

VIDEO_ID = {
    "name": "video_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
    "description": "Video id (UUIDv7).",
}

_CHAT_DESCRIPTION = (
    'Client frames: `{"type": "message", "content", "conversation_id"?}` or '
    '`{"type": "cancel"}`. Server frames: `token` (repeated), then `done` (message_id, '
    "conversation_id, citations, mode) or `error` (code, message); the socket stays open after an "
    "error. Frames over the size limit close it with 1009. The AsyncAPI document (`docs/asyncapi.json`, "
    "channels `chatVideoSocket`, `chatLibrarySocket`) has the frame schemas; the gateway README "
    "lists the error codes."
)

_RANGE_HEADERS = {
    "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
    "ETag": {"schema": {"type": "string"}},
    "Content-Length": {"schema": {"type": "integer"}},
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
    video_types = {
        m: {"schema": {"type": "string", "contentMediaType": m}}
        for m in ("video/mp4", "video/quicktime", "video/x-msvideo")
    }
    stream_params = [
        VIDEO_ID,
        {
            "name": "Range",
            "in": "header",
            "schema": {"type": "string", "example": "bytes=0-1023"},
            "description": "One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`.",
        },
        {
            "name": "If-Range",
            "in": "header",
            "schema": {"type": "string"},
            "description": "ETag or date; a stale value sends the whole video with 200.",
        },
    ]
    stream_responses = {
        "200": {"description": "The whole video", "headers": _RANGE_HEADERS, "content": video_types},
        "206": {
            "description": "The requested range, with `Content-Range`",
            "headers": {**_RANGE_HEADERS, "Content-Range": {"schema": {"type": "string"}}},
            "content": video_types,
        },
        "304": {"description": "Not modified (If-None-Match)"},
        **_errors(404, 416, 503),
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "vidsage gateway",
            "version": __version__,
            "description": "Upload short videos (MP4, MOV, AVI; at most 100 MiB and 180 s), stream them "
            "back with byte ranges, follow their processing. Every error is "
            '`{"error": {"code", "message"}}`. Every `/api/*` route but this document and the '
            "WebSocket need a key (`Authorization: Bearer vsk_…`), the session cookie of a browser "
            "that signed in (`POST /api/session`), or, for a video's media, a signed link "
            "(`?link=`); each key belongs to one tenant, and every route reads and writes only that "
            "tenant's videos.",
        },
        "paths": {
            "/api/videos/upload": {
                "post": {
                    "operationId": "uploadVideo",
                    "summary": "Upload a video (multipart field `file`), streamed and validated",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "file": {
                                            "type": "string",
                                            "contentMediaType": "application/octet-stream",
                                        }
                                    },
                                    "required": ["file"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json("VideoRecord", "Stored; processing starts"),
                        **_errors(400, 408, 413, 415, 422),
                        "503": _json(
                            "Error",
                            "Refused at once, with `Retry-After`: `overloaded` (more than "
                            "`gateway.max_concurrent_uploads` uploads in progress), `spool_full` (the "
                            "spool folder would keep less than `gateway.spool_min_free_bytes`, or filled "
                            "up), `storage_unavailable`, `bus_unavailable`",
                        ),
                    },
                }
            },
            "/api/videos": {
                "get": {
                    "operationId": "listVideos",
                    "summary": "List videos, newest first",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _json("VideoPage", "A page of videos"), **_errors(400, 503)},
                }
            },
            "/api/videos/{video_id}": {
                "get": {
                    "operationId": "streamVideo",
                    "summary": "Stream the video (byte ranges)",
                    "parameters": stream_params,
                    "responses": stream_responses,
                },
                "head": {
                    "operationId": "headVideo",
                    "summary": "Headers of the video stream",
                    "parameters": stream_params,
                    "responses": stream_responses,
                },
                "delete": {
                    "operationId": "deleteVideo",
                    "summary": f"Delete the video, its objects and record; emits {EventType.DELETED.subject}",
                    "parameters": [VIDEO_ID],
                    "responses": {"204": {"description": "Deleted"}, **_errors(404, 503)},
                },
            },
            "/api/videos/{video_id}/thumbnail": {
                "get": {
                    "operationId": "getThumbnail",
                    "summary": "JPEG thumbnail of a representative frame",
                    "parameters": [VIDEO_ID],
                    "responses": {
                        "200": {"description": "JPEG", "content": {"image/jpeg": binary}},
                        "304": {"description": "Not modified"},
                        **_errors(404, 409, 503),
                    },
                }
            },
            "/api/videos/{video_id}/status": {
                "get": {
                    "operationId": "getStatus",
                    "summary": "The record with per-stage state and progress",
                    "description": (
                        "Ingest (thumbnail) and transcription start side by side from the upload; "
                        "`stages` shows each stage's state, progress and, once done, `timings` "
                        "(seconds per step). `status` follows the pipeline order and only moves "
                        "forward: from `ingested` on the thumbnail exists, from `transcribed` on "
                        "the transcript too, `ready` once every stage is done."
                    ),
                    "parameters": [VIDEO_ID],
                    "responses": {"200": _json("VideoRecord", "The video record"), **_errors(404, 503)},
                }
            },
            "/api/videos/{video_id}/retry": {
                "post": {
                    "operationId": "retryVideo",
                    "summary": "Re-run a failed video from the stage that failed",
                    "description": "The record goes back to waiting for the failed stage (it and the later "
                    "stages pending, the error cleared, `retries` counted) and that stage's input event is "
                    "published again. 409 `not_failed` for a video that has not failed. On 503 the record "
                    "may already be waiting: the stage's reconciler re-drives it.",
                    "parameters": [VIDEO_ID],
                    "responses": {
                        "202": _json("VideoRecord", "The record, waiting for the failed stage again"),
                        **_errors(404, 409, 503),
                    },
                }
            },
            "/api/videos/{video_id}/transcript": {
                "get": {
                    "operationId": "getTranscript",
                    "summary": "The timestamped transcript as JSON, SRT, WebVTT or plain text",
                    "parameters": [
                        VIDEO_ID,
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["json", "srt", "vtt", "txt"],
                                "default": "json",
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The transcript",
                            "content": {
                                "application/json": {"schema": {"$ref": REF.format(model="Transcript")}},
                                "application/x-subrip": {"schema": {"type": "string"}},
                                "text/vtt": {"schema": {"type": "string"}},
                                "text/plain": {"schema": {"type": "string"}},
                            },
                        },
                        "304": {"description": "Not modified"},
                        **_errors(400, 404, 409, 503),
                    },
                }
            },
            "/api/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Hybrid search (meaning + keywords, rank-fused), across videos or in one",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 500},
                        },
                        {"name": "video_id", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            "SearchResults", "Hits, best first (an empty list before anything is indexed)"
                        ),
                        **_errors(400, 404, 503),
                    },
                }
            },
            "/ws/chat/{video_id}": {
                "get": {
                    "operationId": "chatVideo",
                    "summary": "Chat about one video (WebSocket; JSON frames, see the gateway README)",
                    "description": _CHAT_DESCRIPTION,
                    "parameters": [VIDEO_ID],
                    "responses": {
                        "101": {"description": "Switching Protocols: the WebSocket is open"},
                        **_errors(400, 403, 404),
                    },
                }
            },
            "/ws/chat": {
                "get": {
                    "operationId": "chatLibrary",
                    "summary": "Chat about the whole library (WebSocket; passages found by search)",
                    "description": _CHAT_DESCRIPTION,
                    "responses": {
                        "101": {"description": "Switching Protocols: the WebSocket is open"},
                        **_errors(400, 403),
                    },
                }
            },
            "/": {
                "get": {
                    "operationId": "webPage",
                    "summary": "The web page: upload, library, player with transcript, search, chat",
                    "responses": {
                        "200": {
                            "description": "`index.html` (its scripts and styles are under `/static/`)",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/static/{path}": {
                "get": {
                    "operationId": "webPageFile",
                    "summary": "A file of the web page (JavaScript module, stylesheet, icon); no listing",
                    "parameters": [
                        {
                            "name": "path",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "File name, e.g. `app.js`.",
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The file, with `Cache-Control: no-cache` (revalidate by ETag)",
                            "content": {
                                m: {"schema": {"type": "string"}}
                                for m in ("text/javascript", "text/css", "image/svg+xml")
                            },
                        },
                        "304": {"description": "Not modified"},
                        "404": _json("Error", "No such file (`not_found`)"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness",
                    "responses": {"200": _json("Health", "Alive")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness: NATS and S3",
                    "responses": {"200": _json("Health", "Ready"), **_errors(503)},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": _schemas(), "securitySchemes": SECURITY_SCHEMES},
    }
    doc["paths"].update(_account_paths())
    doc["paths"].update(_tus_paths())
    doc["paths"].update(_event_stream_paths())
    doc["components"]["schemas"]["LiveEvent"] = LiveEvent.model_json_schema(
        ref_template=REF, mode="serialization"
    )
    doc["paths"].update(_webhook_paths())  # issue 16b
    doc["components"]["schemas"].update(_webhook_schemas())
    doc["paths"]["/api/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document (OpenAPI 3.1)",
            "responses": {
                "200": {
                    "description": "The OpenAPI document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    doc["paths"].update(_openai_paths())  # /v1/: the OpenAI-compatible transcription endpoint
    doc["components"]["schemas"].update(_OPENAI_SCHEMAS)
    _add_owner_parameters(doc["paths"])
    _add_security(doc["paths"])
    _add_host_check(doc["paths"])
    _openai_error_shapes(doc["paths"])
    return doc


SECURITY_SCHEMES: dict[str, Any] = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "vsk_<12 letters or digits>_<43 letters or digits>",
        "description": "An API key (`vidsage keys create`, `POST /api/keys`).",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The cookie `POST /api/session` sets (HttpOnly, SameSite=Strict). A state-changing "
        "request with it (and the WebSocket upgrade) must carry the gateway's own Origin.",
    },
    "signedLink": {
        "type": "apiKey",
        "in": "query",
        "name": "link",
        "description": "A signed, expiring token from `POST /api/videos/{video_id}/links`, for that video's "
        "stream, thumbnail and transcript only.",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "`VIDSAGE_GATEWAY__METRICS_TOKEN` (for Prometheus); an admin key works too.",
    },
}

_SECURITY: dict[Policy, list[dict[str, list[str]]]] = {
    Policy.PUBLIC: [],
    Policy.SIGN_IN: [],
    Policy.METRICS: [{"metricsToken": []}, {"apiKey": []}],
    Policy.MEDIA: [{"apiKey": []}, {"session": []}, {"signedLink": []}],
    Policy.PROTECTED: [{"apiKey": []}, {"session": []}],
}

_AUTH_ERRORS = {
    "401": _json(
        "Error",
        "No valid credentials, with `WWW-Authenticate: Bearer`: `missing_credentials`, `bad_authorization`, "
        "`malformed_key`, `unknown_key`, `expired_key`, `revoked_key`, `session_invalid`",
    ),
    "429": _json("Error", "Over the tenant's requests per minute (`rate_limited`), with `Retry-After`"),
    "503": _json("Error", "A dependency is unavailable; `auth_unavailable` when keys cannot be checked"),
}
_FORBIDDEN = {
    Policy.METRICS: "A key that is not an admin's (`admin_only`)",
    Policy.MEDIA: "`owner_forbidden` (`?owner=` from a member); with a link: `link_invalid` (tampered, or "
    "for another video), `link_expired`, `link_revoked` (its key no longer works); with the cookie, "
    "`origin_not_allowed`",
    Policy.PROTECTED: "`owner_forbidden` (`?owner=` from a member), `admin_only`, `origin_not_allowed` (the "
    "session cookie without the gateway's own Origin on a state-changing request or the WebSocket)",
}

_OWNER_SCOPED = {
    ("post", "/api/videos/upload"): OWNER,
    ("get", "/api/videos"): OWNER_OR_ALL,
    ("get", "/api/videos/{video_id}"): OWNER,
    ("head", "/api/videos/{video_id}"): OWNER,
    ("delete", "/api/videos/{video_id}"): OWNER,
    ("get", "/api/videos/{video_id}/thumbnail"): OWNER,
    ("get", "/api/videos/{video_id}/status"): OWNER,
    ("get", "/api/videos/{video_id}/transcript"): OWNER,
    ("post", "/api/videos/{video_id}/links"): OWNER,
    ("post", "/api/videos/{video_id}/retry"): OWNER,
    ("get", "/api/search"): OWNER_OR_ALL,
    ("get", "/api/usage"): OWNER_OR_ALL,
    ("get", "/api/keys"): OWNER_OR_ALL,
    ("get", "/ws/chat/{video_id}"): OWNER,
    ("get", "/ws/chat"): OWNER,
}


def _add_owner_parameters(paths: dict[str, Any]) -> None:
    for (method, path), parameter in _OWNER_SCOPED.items():
        operation = paths[path][method]
        operation["parameters"] = [*operation.get("parameters", []), parameter]


def _add_security(paths: dict[str, Any]) -> None:
    """``security`` and the authentication answers of every operation, from the route policies."""
    for path, item in paths.items():
        for method, operation in item.items():
            policy = policy_for(method.upper(), path)
            operation["security"] = _SECURITY[policy]
            if policy in (Policy.PUBLIC, Policy.SIGN_IN):
                continue
            responses = operation["responses"]
            for status, answer in _AUTH_ERRORS.items():
                responses.setdefault(status, answer)
            responses["403"] = _json("Error", _FORBIDDEN[policy])
            operation["responses"] = dict(sorted(responses.items()))


_HOST_NOT_ALLOWED = _json(
    "Error",
    "The `Host` header is not one of `gateway.allowed_hosts` (`host_not_allowed`; against DNS rebinding), "
    "decided before authentication",
)


def _add_host_check(paths: dict[str, Any]) -> None:
    """421 on every operation except those that answer any host (probes, the scrape)."""
    for path, item in paths.items():
        if path in ANY_HOST_PATHS:
            continue
        for operation in item.values():
            operation["responses"]["421"] = _HOST_NOT_ALLOWED
            operation["responses"] = dict(sorted(operation["responses"].items()))


def _body(model: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}


def _account_paths() -> dict[str, Any]:
    """Sessions, keys, usage and signed links."""
    return {
        "/api/session": {
            "post": {
                "operationId": "signIn",
                "summary": "Sign in: the key (JSON body, or `Authorization: Bearer`) → the session cookie",
                "requestBody": {**_body("SessionCreate"), "required": False},
                "responses": {
                    "201": {
                        **_json(
                            "SessionInfo",
                            "Signed in; `Set-Cookie: vidsage_session=…; HttpOnly; SameSite=Strict`",
                        ),
                        "headers": {"Set-Cookie": {"schema": {"type": "string"}}},
                    },
                    "401": _json("Error", "The key is missing or does not work (the codes of every route)"),
                    "403": _json("Error", "From a foreign page (`origin_not_allowed`)"),
                    "413": _json("Error", "A body over 8 KiB (`too_large`)"),
                    "503": _json(
                        "Error", "Keys or sessions cannot be checked or stored (`auth_unavailable`)"
                    ),
                },
            },
            "get": {
                "operationId": "whoAmI",
                "summary": "Who this request acts for: owner, role, key id, and when the session ends",
                "responses": {"200": _json("SessionInfo", "The session (or the bearer key)")},
            },
            "delete": {
                "operationId": "signOut",
                "summary": "Sign out: end this browser's session on every replica and clear the cookie",
                "responses": {
                    "204": {"description": "Signed out (also when there was no session)"},
                    "403": _json("Error", "From a foreign page (`origin_not_allowed`)"),
                    "503": _json("Error", "The session cannot be ended right now (`auth_unavailable`)"),
                },
            },
        },
        "/api/keys": {
            "post": {
                "operationId": "createKey",
                "summary": "Create a key (admin): the answer is the only place the key is ever shown",
                "requestBody": _body("KeyCreate"),
                "responses": {
                    "201": _json("KeyCreated", "The new key and its record"),
                    "400": _json("Error", "An invalid owner name, role or expiry (`bad_request`)"),
                    "413": _json("Error", "A body over 4 KiB (`too_large`)"),
                },
            },
            "get": {
                "operationId": "listKeys",
                "summary": "List the keys (admin): never a key or its digest",
                "responses": {"200": _json("KeyList", "Every key, oldest first")},
            },
        },
        "/api/keys/{key_id}": {
            "delete": {
                "operationId": "revokeKey",
                "summary": "Revoke a key (admin); every gateway refuses it within 2 s",
                "parameters": [
                    {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"204": {"description": "Revoked (also when it already was)"}, **_errors(404)},
            }
        },
        "/api/usage": {
            "get": {
                "operationId": "getUsage",
                "summary": "The tenant's stored bytes and videos, uploads this hour and requests this "
                "minute, against its limits",
                "responses": {
                    "200": {
                        "description": "The usage (`?owner=*`: a `UsageList` of every tenant)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {"$ref": REF.format(model="Usage")},
                                        {"$ref": REF.format(model="UsageList")},
                                    ]
                                }
                            }
                        },
                    },
                    **_errors(400),
                },
            }
        },
        "/api/videos/{video_id}/links": {
            "post": {
                "operationId": "createLinks",
                "summary": "Signed, expiring URLs of the video's stream, thumbnail and WebVTT transcript "
                "(at most 24 h), for sharing outside a session",
                "parameters": [VIDEO_ID],
                "requestBody": {**_body("LinkCreate"), "required": False},
                "responses": {
                    "201": _json("SignedLinks", "The links"),
                    **_errors(400, 404),
                    "413": _json("Error", "A body over 1 KiB (`too_large`)"),
                },
            }
        },
    }


# -- resumable uploads (tus 1.0.0; vidsage_gateway.tus_routes) ------------------------------------

_TUS_ID = {
    "name": "upload_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
    "description": "Upload id (from the creation's `Location`).",
}
_TUS_RESUMABLE = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "schema": {"const": "1.0.0"},
    "description": "The tus version; another (or none) is 412 `tus_version_unsupported` with `Tus-Version`.",
}


def _header(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema, "description": description}


def _tus_answer(description: str, *headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {h: {"schema": {"type": "string"}} for h in ("Tus-Resumable", *headers)},
    }


def _tus_error(description: str) -> dict[str, Any]:
    return _json("Error", description)


def _tus_paths() -> dict[str, Any]:
    """tus 1.0.0 core, creation, termination, expiration and checksum under ``/api/uploads/``."""
    options = {
        "operationId": "tusOptions",
        "summary": "tus capabilities: Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm",
        "parameters": [OWNER],
        "responses": {
            "204": _tus_answer(
                "What the server supports",
                "Tus-Version",
                "Tus-Extension",
                "Tus-Max-Size",
                "Tus-Checksum-Algorithm",
            )
        },
    }
    version_refused = _tus_error(
        "`Tus-Resumable` missing or not 1.0.0 (`tus_version_unsupported`), with `Tus-Version`"
    )
    gone = _tus_error("Unknown upload id, or another tenant's (`not_found`)")
    expired = _tus_error("The upload expired (`upload_expired`); its parts were aborted")
    return {
        "/api/uploads/": {
            "options": options,
            "post": {
                "operationId": "tusCreate",
                "summary": "Create a resumable upload (tus creation): `Upload-Length` is required (no "
                "deferred "
                "length); `Upload-Metadata` `filename`, `filetype` (base64). The tenant's quotas are "
                "checked and "
                "the bytes reserved here.",
                "parameters": [
                    _TUS_RESUMABLE,
                    _header(
                        "Upload-Length",
                        {"type": "integer", "minimum": 1},
                        "Size of the whole file",
                        required=True,
                    ),
                    _header(
                        "Upload-Metadata", {"type": "string"}, "`key base64value` pairs, comma-separated"
                    ),
                    OWNER,
                ],
                "responses": {
                    "201": _tus_answer(
                        "Created; `Location: /api/uploads/<id>`", "Location", "Upload-Expires"
                    ),
                    "400": _tus_error(
                        "`missing_length`, `defer_length_unsupported`, `empty_file`, `bad_metadata`, a "
                        "body sent "
                        "with the creation (creation-with-upload is not supported)"
                    ),
                    "412": version_refused,
                    "413": _tus_error(
                        "`Upload-Length` over the upload cap (`too_large`, see `Tus-Max-Size`)"
                    ),
                },
            },
        },
        "/api/uploads/{upload_id}": {
            "options": {**options, "operationId": "tusOptionsUpload", "parameters": [_TUS_ID, OWNER]},
            "get": {
                "operationId": "tusUploadInfo",
                "summary": "The upload as JSON (vidsage's own view; no `Tus-Resumable` needed): offset, "
                "length, "
                "complete, video_id, expires_at",
                "parameters": [_TUS_ID, OWNER],
                "responses": {
                    "200": {
                        "description": "The upload",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "404": gone,
                    "410": expired,
                },
            },
            "head": {
                "operationId": "tusHead",
                "summary": "How far the upload got: `Upload-Offset`, `Upload-Length`, `Upload-Metadata`, "
                "`Upload-Expires`; once complete also `Vidsage-Video-Id`",
                "parameters": [_TUS_ID, _TUS_RESUMABLE, OWNER],
                "responses": {
                    "200": _tus_answer(
                        "The upload's offset",
                        "Upload-Offset",
                        "Upload-Length",
                        "Upload-Expires",
                        "Vidsage-Video-Id",
                    ),
                    "404": gone,
                    "410": expired,
                    "412": version_refused,
                },
            },
            "patch": {
                "operationId": "tusPatch",
                "summary": "Append bytes at `Upload-Offset`. The PATCH that completes the upload runs the "
                "checks of "
                "`POST /api/videos/upload` (type by content, decodable, duration, frame size), creates the "
                "video "
                "and answers with `Vidsage-Video-Id` and `Location: /api/videos/<id>`; a failed check "
                "answers the "
                "seed upload's error and leaves nothing (no object, parts, record, quota or upload).",
                "parameters": [
                    _TUS_ID,
                    _TUS_RESUMABLE,
                    _header(
                        "Upload-Offset",
                        {"type": "integer", "minimum": 0},
                        "Where the body goes",
                        required=True,
                    ),
                    _header(
                        "Upload-Checksum",
                        {"type": "string"},
                        "`<sha1|sha256|md5> <base64 digest>` of this body (tus checksum extension)",
                    ),
                    OWNER,
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/offset+octet-stream": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "204": _tus_answer(
                        "Stored; the new `Upload-Offset` (and, when complete, `Vidsage-Video-Id`, "
                        "`Location`)",
                        "Upload-Offset",
                        "Upload-Expires",
                        "Vidsage-Video-Id",
                        "Location",
                    ),
                    "400": _tus_error(
                        "`missing_offset`, `bad_request`, `checksum_unsupported`, `upload_incomplete` (the "
                        "connection dropped: what arrived is kept unless the PATCH had a checksum), "
                        "`empty_file`"
                    ),
                    "404": gone,
                    "408": _tus_error("The client stalled (`upload_timeout`); what arrived is kept"),
                    "409": _tus_error(
                        "`Upload-Offset` is not the upload's offset (`offset_mismatch`, with `offset`)"
                    ),
                    "410": expired,
                    "412": version_refused,
                    "413": _tus_error(
                        "The body passes the declared `Upload-Length` (`too_large`); nothing is kept"
                    ),
                    "415": _tus_error(
                        "`bad_content_type` (not `application/offset+octet-stream`); `unsupported_type`: "
                        "not an MP4, "
                        "MOV or AVI by content (the upload is dropped)"
                    ),
                    "422": _tus_error(
                        "The completed file failed the seed upload's checks (`too_long`, `truncated`...)"
                    ),
                    "423": _tus_error("Another PATCH on this upload is in progress (`upload_locked`)"),
                    "460": _tus_error(
                        "`Upload-Checksum` does not match the body (`checksum_mismatch`); nothing kept"
                    ),
                    "503": _tus_error(
                        "`overloaded`, `spool_full`, `storage_unavailable`, `bus_unavailable`, with "
                        "`Retry-After`"
                    ),
                },
            },
            "delete": {
                "operationId": "tusTerminate",
                "summary": "Terminate the upload: its S3 parts are aborted, its reservation released (a "
                "completed "
                "upload's video stays; delete it with `DELETE /api/videos/{video_id}`)",
                "parameters": [_TUS_ID, _TUS_RESUMABLE, OWNER],
                "responses": {
                    "204": _tus_answer("Terminated"),
                    "404": gone,
                    "410": expired,
                    "412": version_refused,
                    "423": _tus_error("A PATCH on this upload is in progress (`upload_locked`)"),
                },
            },
        },
    }


# --- /v1/: the OpenAI-compatible transcription endpoint (vidsage_gateway.openai_audio) ---------------

_OPENAI_SCHEMAS: dict[str, Any] = {
    "OpenAIError": {
        "type": "object",
        "description": "OpenAI's error shape (every error under `/v1/`).",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {
                        "type": "string",
                        "enum": ["invalid_request_error", "rate_limit_error", "server_error"],
                    },
                    "param": {"type": ["string", "null"], "description": "The form field at fault, if any."},
                    "code": {"type": ["string", "null"], "description": "vidsage's error code."},
                },
                "required": ["message", "type", "param", "code"],
            }
        },
        "required": ["error"],
    },
    "TranscriptionRequest": {
        "type": "object",
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": "FLAC, M4A, MP3, OGG, WAV or WebM audio, or MP4, MOV or AVI video (by "
                "content), within the upload limits (size, 3 minutes).",
            },
            "model": {
                "type": "string",
                "description": "`whisper-1` or `whisper-base` (`gateway.transcription_models`).",
            },
            "language": {"type": "string", "description": "ISO-639-1 code; detected when absent."},
            "prompt": {"type": "string", "maxLength": 2000, "description": "Text that primes the model."},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1, "description": "0: beam search."},
            "response_format": {"type": "string", "enum": ["json", "text", "srt", "vtt", "verbose_json"]},
            "timestamp_granularities[]": {
                "type": "array",
                "items": {"type": "string", "enum": ["segment", "word"]},
                "description": "With `verbose_json` only; default `segment`.",
            },
            "vidsage_keep": {
                "type": "boolean",
                "default": False,
                "description": "Also add the file (a video) to the caller's library, through the upload's "
                "checks; the answer carries `X-Vidsage-Video-Id`.",
            },
        },
        "required": ["file", "model"],
    },
    "Transcription": {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "usage": {
                "type": "object",
                "properties": {"type": {"const": "duration"}, "seconds": {"type": "integer"}},
                "required": ["type", "seconds"],
            },
        },
        "required": ["text"],
    },
    "TranscriptionVerbose": {
        "type": "object",
        "properties": {
            "task": {"const": "transcribe"},
            "language": {"type": "string", "description": "The language's English name (`english`)."},
            "duration": {"type": "number"},
            "text": {"type": "string"},
            "segments": {
                "type": "array",
                "description": "With the `segment` granularity (the default).",
                "items": {
                    "type": "object",
                    "properties": {
                        k: {"type": t}
                        for k, t in (
                            ("id", "integer"),
                            ("seek", "integer"),
                            ("start", "number"),
                            ("end", "number"),
                            ("text", "string"),
                            ("temperature", "number"),
                            ("avg_logprob", "number"),
                            ("compression_ratio", "number"),
                            ("no_speech_prob", "number"),
                        )
                    }
                    | {"tokens": {"type": "array", "items": {"type": "integer"}}},
                },
            },
            "words": {
                "type": "array",
                "description": "With the `word` granularity.",
                "items": {
                    "type": "object",
                    "properties": {
                        "word": {"type": "string"},
                        "start": {"type": "number"},
                        "end": {"type": "number"},
                    },
                    "required": ["word", "start", "end"],
                },
            },
            "usage": {"$ref": REF.format(model="Transcription") + "/properties/usage"},
        },
        "required": ["task", "language", "duration", "text"],
    },
    "Model": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "model"},
            "created": {"type": "integer"},
            "owned_by": {"type": "string"},
        },
        "required": ["id", "object", "created", "owned_by"],
    },
    "ModelList": {
        "type": "object",
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": {"$ref": REF.format(model="Model")}},
        },
        "required": ["object", "data"],
    },
}


def _openai_paths() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/v1/audio/transcriptions": {
            "post": {
                "operationId": "createTranscription",
                "summary": "Transcribe a file, OpenAI-compatibly (the openai SDK with "
                "base_url=<gateway>/v1 and a vidsage key); the work runs on the transcriber pool",
                "parameters": [OWNER],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {"schema": {"$ref": REF.format(model="TranscriptionRequest")}}
                    },
                },
                "responses": {
                    "200": {
                        "description": "`json`: Transcription; `verbose_json`: TranscriptionVerbose; "
                        "`text`, `srt`, `vtt`: text/plain",
                        "headers": {"X-Vidsage-Video-Id": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {"$ref": REF.format(model="Transcription")},
                                        {"$ref": REF.format(model="TranscriptionVerbose")},
                                    ]
                                }
                            },
                            **text,
                        },
                    },
                    "400": _json(
                        "OpenAIError",
                        "A bad field (`model_not_found`, `missing_model`, `invalid_value`, `missing_file`) "
                        "or file (`unsupported_type`, `empty_file`, `no_audio_stream`, `too_long`, "
                        "`undecodable`)",
                    ),
                    "408": _json("OpenAIError", "The client stalled (`upload_timeout`)"),
                    "413": _json("OpenAIError", "Larger than the upload limit (`too_large`)"),
                    "502": _json("OpenAIError", "The transcriber sent an invalid reply (`bad_gateway`)"),
                    "504": _json("OpenAIError", "No transcriber finished in time (`transcription_timeout`)"),
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "summary": "The transcription models (OpenAI's list shape)",
                "responses": {"200": _json("ModelList", "The models")},
            }
        },
        "/v1/models/{model}": {
            "get": {
                "operationId": "getModel",
                "summary": "One transcription model",
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json("Model", "The model"),
                    "404": _json("OpenAIError", "Not one of the models (`model_not_found`)"),
                },
            }
        },
    }


def _openai_error_shapes(paths: dict[str, Any]) -> None:
    """Every error answer under ``/v1/`` (those added from the route policies too) is OpenAI's shape."""
    error = REF.format(model="Error")
    for path, item in paths.items():
        if not path.startswith("/v1/"):
            continue
        for operation in item.values():
            for answer in operation["responses"].values():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref") == error:
                    schema["$ref"] = REF.format(model="OpenAIError")


# --- webhooks (issue 16b) ---------------------------------------------------------------------------

WEBHOOK_ID = {
    "name": "webhook_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
    "description": "Webhook id (UUIDv7); another tenant's is unknown (404).",
}


def _webhook_schemas() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for model in (WebhookCreate, WebhookCreated, WebhookInfo, WebhookList, DeliveryList):
        schema = model.model_json_schema(ref_template=REF, mode="serialization")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
    return defs


def _webhook_paths() -> dict[str, Any]:
    """``/api/webhooks``: endpoints the notifier POSTs signed events to (services/notifier/README.md)."""
    not_found = _json("Error", "Unknown webhook id, or another tenant's (`not_found`)")
    return {
        "/api/webhooks": {
            "post": {
                "operationId": "createWebhook",
                "summary": "Register a webhook: the answer is the only place its signing secret is shown",
                "description": "Event types: "
                + ", ".join(f"`{t}`" for t in WEBHOOK_EVENT_TYPES)
                + ". Each delivery is a JSON POST signed `Vidsage-Signature: t=<unix>,v1=<hex HMAC-SHA256"
                '(secret, "<t>.<body>")>`, with `Vidsage-Event-Id` (the same on every attempt), '
                "`Vidsage-Event-Type`, `Vidsage-Webhook-Id` and `Vidsage-Attempt`; a 2xx answer is a "
                "success, anything else (3xx included: redirects are not followed, or no answer within "
                "`notifier.timeout_s`) is retried with exponential backoff up to `notifier.max_deliver` "
                "attempts.",
                "parameters": [OWNER],
                "requestBody": _body("WebhookCreate"),
                "responses": {
                    "201": _json(
                        "WebhookCreated", "The new webhook and its secret (`Cache-Control: no-store`)"
                    ),
                    "400": _json(
                        "Error",
                        "`invalid_url` (not an absolute http(s) URL, user info, a numeric host that is not "
                        "a dotted quad, over 2048 characters), "
                        "`url_not_allowed` (the host is or resolves to a private, loopback, link-local, "
                        "multicast or unspecified address: see `webhooks.allow_private`/`allow_loopback`), "
                        "`url_unresolvable`, `no_event_types`, `unknown_event_type`, `description_too_long`, "
                        "`bad_request` (malformed body, unknown fields)",
                    ),
                    "409": _json(
                        "Error", "The tenant has `webhooks.max_per_owner` webhooks (`too_many_webhooks`)"
                    ),
                    "413": _json("Error", "A body over 8 KiB (`too_large`)"),
                    "503": _json(
                        "Error", "Webhooks are not configured (`webhooks_unavailable`: no secret key)"
                    ),
                },
            },
            "get": {
                "operationId": "listWebhooks",
                "summary": "The tenant's webhooks, oldest first (never a secret)",
                "parameters": [OWNER],
                "responses": {"200": _json("WebhookList", "The webhooks")},
            },
        },
        "/api/webhooks/{webhook_id}": {
            "get": {
                "operationId": "getWebhook",
                "summary": "One webhook (never its secret)",
                "parameters": [WEBHOOK_ID, OWNER],
                "responses": {"200": _json("WebhookInfo", "The webhook"), "404": not_found},
            },
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "Delete a webhook: its pending deliveries stop",
                "parameters": [WEBHOOK_ID, OWNER],
                "responses": {"204": {"description": "Deleted"}, "404": not_found},
            },
        },
        "/api/webhooks/{webhook_id}/deliveries": {
            "get": {
                "operationId": "listWebhookDeliveries",
                "summary": "The webhook's recent deliveries, newest first: state, attempts (status code, "
                "error, time, duration each), attempt count and last error",
                "parameters": [
                    WEBHOOK_ID,
                    OWNER,
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        "description": "At most this many (default and most: `webhooks.deliveries_listed`).",
                    },
                ],
                "responses": {
                    "200": _json("DeliveryList", "The deliveries (kept `webhooks.deliveries_max_age_s`)"),
                    "400": _json("Error", "A bad `limit` (`bad_request`)"),
                    "404": not_found,
                },
            }
        },
    }


# --- live status over Server-Sent Events (issue 16, part a) ----------------------------------------

_SSE_DESCRIPTION = (
    "A `text/event-stream` (Server-Sent Events; a browser's `EventSource`, which sends the session "
    "cookie). It starts with `retry:` and then frames whose `event:` is the frame's `type` and whose "
    "`data:` is one line of JSON (`LiveEvent`): `status` (a stream event changed the video; `status` is "
    "the record's status after it), `progress` (a stage's percent; not replayed, no `id:`), `deleted`, "
    "`open` (first frame of `/api/events`), `reset` (the resume id is older than the stream keeps, or "
    "unknown: refetch the state). `id:` is the JetStream stream sequence behind the frame: reconnect "
    "with `Last-Event-ID` (or `?last_event_id=`) to get every frame missed, then the live ones, with no "
    "gap and no duplicate. A `: ping` comment comes after `sse.heartbeat_s` of silence, when the key "
    "or session is checked again (revoked or signed out: the stream ends). A client that cannot keep "
    "up (`sse.queue_frames` waiting) is disconnected and resumes. Refusals come as JSON before the "
    "stream starts."
)
_LAST_EVENT_ID = [
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
        "description": "Resume after this frame id (browsers send it when they reconnect).",
    },
    {
        "name": "last_event_id",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
        "description": "The same, for clients that cannot set headers (the header wins).",
    },
]


def _event_stream_paths() -> dict[str, Any]:
    stream = {
        "description": "The live stream (`data:` of each frame: `LiveEvent`)",
        "headers": {
            "Cache-Control": {"schema": {"type": "string", "enum": ["no-cache"]}},
            "X-Accel-Buffering": {"schema": {"type": "string", "enum": ["no"]}},
        },
        "content": {"text/event-stream": {"schema": {"$ref": REF.format(model="LiveEvent")}}},
    }
    refused = {
        "400": _json("Error", "`Last-Event-ID` is not a frame id (`bad_request`)"),
        "429": _json(
            "Error",
            "Over the tenant's requests per minute (`rate_limited`), or `too_many_streams` (over "
            "`sse.max_per_owner` open streams of the tenant on this gateway), with `Retry-After`",
        ),
        "503": _json(
            "Error",
            "`streams_full` (over `sse.max_streams` on this gateway), `shutting_down`, `bus_unavailable`, "
            "`auth_unavailable`, with `Retry-After`",
        ),
    }
    return {
        "/api/events": {
            "get": {
                "operationId": "streamEvents",
                "summary": "Live status of every video of the tenant (Server-Sent Events)",
                "description": _SSE_DESCRIPTION,
                "parameters": [*_LAST_EVENT_ID, OWNER_OR_ALL],
                "responses": {"200": stream, **refused},
            }
        },
        "/api/videos/{video_id}/events": {
            "get": {
                "operationId": "streamVideoEvents",
                "summary": "Live status of one video (Server-Sent Events)",
                "description": _SSE_DESCRIPTION
                + " The first frame is a `status` without `event`: the status when the stream opened; the "
                "stream ends after `deleted`. Another tenant's id answers 404 exactly like an unknown id.",
                "parameters": [VIDEO_ID, *_LAST_EVENT_ID, OWNER],
                "responses": {"200": stream, "404": _json("Error", "Unknown video id"), **refused},
            }
        },
    }
