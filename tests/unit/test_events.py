import json

import pytest

from vidsage.contracts.events import (
    EVENT_MODELS,
    EventError,
    EventType,
    VideoFailed,
    VideoUploaded,
    parse_event,
)
from vidsage.contracts.ids import new_id


def uploaded(**kw: object) -> VideoUploaded:
    fields = {
        "video_id": new_id(),
        "owner": "alice",
        "source_key": "videos/x/source.mp4",
        "filename": "a.mp4",
        "size": 10,
        "mime": "video/mp4",
        "format": "mp4",
        "duration_s": 1.5,
    }
    fields.update(kw)
    return VideoUploaded(**fields)  # type: ignore[arg-type]


def test_roundtrip_through_subject_and_bytes() -> None:
    event = uploaded()
    assert event.subject == "vidsage.video.uploaded"
    assert event.msg_id == f"{event.video_id}:uploaded"
    back = parse_event(event.subject, event.to_bytes())
    assert back == event
    body = json.loads(event.to_bytes())
    for field in ("schema_version", "event_id", "video_id", "occurred_at", "owner"):
        assert field in body
    assert body["schema_version"] == 1


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    body = json.loads(uploaded().to_bytes())
    body["added_later"] = {"x": 1}
    assert parse_event("vidsage.video.uploaded", json.dumps(body).encode()).video_id == body["video_id"]


@pytest.mark.parametrize(
    ("subject", "data"),
    [
        ("vidsage.video.uploaded", b"{not json"),
        ("vidsage.video.uploaded", b"[]"),
        ("vidsage.video.uploaded", b'{"video_id": "x"}'),
        ("vidsage.video.nope", b"{}"),
        ("other.subject", b"{}"),
    ],
)
def test_malformed_events_raise_event_error(subject: str, data: bytes) -> None:
    with pytest.raises(EventError):
        parse_event(subject, data)


def test_wrong_schema_version_is_rejected() -> None:
    body = json.loads(uploaded().to_bytes())
    body["schema_version"] = 2
    with pytest.raises(EventError):
        parse_event("vidsage.video.uploaded", json.dumps(body).encode())


def test_every_event_type_has_a_model_with_a_json_schema() -> None:
    assert set(EVENT_MODELS) == set(EventType)
    for kind, model in EVENT_MODELS.items():
        schema = model.model_json_schema()
        assert {"video_id", "owner", "event_id"} <= set(schema["required"]) | set(schema["properties"])
        assert model.type is kind


def test_failed_event_fields() -> None:
    event = VideoFailed(video_id=new_id(), owner="o", stage="ingest", reason="bad", attempts=3)
    assert parse_event(event.subject, event.to_bytes()) == event
