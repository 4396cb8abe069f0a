"""Pure rules behind the hostile-input defences: the Host allow-list, the JSON depth bound and
the public failure reasons."""

from __future__ import annotations

import json

import pytest

from vidsage.contracts.reasons import MAX_REASON_CHARS, public_reason
from vidsage.contracts.record import VideoRecord
from vidsage_gateway.hosts import host_allowed, host_name
from vidsage_gateway.json_input import MAX_DEPTH, TooDeep, check_depth, loads

LOOPBACK = ["localhost", "127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("localhost:8080", "localhost"),
        ("LOCALHOST", "localhost"),
        ("127.0.0.1:9", "127.0.0.1"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("example.com.", "example.com."),
    ],
)
def test_host_name_drops_the_port(host: str, name: str) -> None:
    assert host_name(host) == name


@pytest.mark.parametrize(
    ("host", "allowed", "ok"),
    [
        ("localhost:8080", LOOPBACK, True),
        ("[::1]:8080", LOOPBACK, True),
        ("127.0.0.1", LOOPBACK, True),
        ("attacker.example", LOOPBACK, False),
        ("localhost.attacker.example", LOOPBACK, False),
        ("127.0.0.1.nip.io", LOOPBACK, False),
        ("127.0.0.2", LOOPBACK, False),  # loopback, but not listed: rebinding may point there too
        ("", LOOPBACK, False),
        (None, LOOPBACK, False),
        ("api.vidsage.example", [".vidsage.example"], True),
        ("vidsage.example:443", [".vidsage.example"], True),
        ("evilvidsage.example", [".vidsage.example"], False),
        ("anything.at.all", ["*"], True),
        ("vidsage.example.", ["vidsage.example"], True),
    ],
)
def test_host_allow_list(host: str | None, allowed: list[str], ok: bool) -> None:
    assert host_allowed(host, allowed) is ok


def test_json_depth_bound_is_checked_without_recursion() -> None:
    check_depth("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    for deep in ("[" * 7000 + "]" * 7000, '{"a":' * 100 + "1" + "}" * 100, "[" * 100_000):
        with pytest.raises(TooDeep):
            check_depth(deep)
        with pytest.raises(ValueError, match="nested more than"):  # never a RecursionError
            loads(deep)
    # brackets inside strings do not count, escaped quotes do not end them
    text = json.dumps({"content": "[" * 5000 + '\\" [[[' + "{" * 5000})
    check_depth(text)
    assert loads(text)["content"].startswith("[[[")
    assert loads(b'{"type": "message", "content": "hi"}') == {"type": "message", "content": "hi"}


@pytest.mark.parametrize(
    ("reason", "hidden"),
    [
        (
            "StorageUnavailable: cannot reach S3 at http://minio.internal:9000: HTTPConnectionPool("
            "host='10.0.4.7', port=9000): Max retries exceeded with url: /vidsage/videos/0189/source.mp4",
            ["minio.internal", "10.0.4.7", "9000", "videos/0189"],
        ),
        ("NoSuchKey: videos/0189/audio.wav at s3.eu.example.com:443", ["videos/0189", "s3.eu.example.com"]),
        ("No space left on device: '/var/tmp/vidsage-ingest-x/audio.wav'", ["/var/tmp", "audio.wav"]),
        ("nats: connect to nats://nats.vidsage.svc:4222 failed; [::1]:4222", ["nats.vidsage", "::1"]),
        ("bad key=sk-live-123 secret_key: hunter2 vsk_AbCdEf_123", ["sk-live-123", "hunter2", "vsk_AbC"]),
    ],
)
def test_public_reasons_hide_addresses_keys_and_paths(reason: str, hidden: list[str]) -> None:
    shown = public_reason(reason)
    for part in hidden:
        assert part not in shown, (part, shown)
    assert len(shown) <= MAX_REASON_CHARS


def test_public_reasons_keep_what_the_user_needs() -> None:
    for reason in (
        "undecodable: the file could not be decoded as MP4: Invalid data found when processing input",
        "frame_too_large: the video's frames are 16000x16000 pixels; the limit is 33177600 pixels",
        "no result after 4 deliveries",
        "truncated: the file is truncated: media data ends at 1.5 s of 3.0 s",
    ):
        assert public_reason(reason) == reason
    long = public_reason("x" * 5000)
    assert len(long) == MAX_REASON_CHARS
    assert long.endswith("…")
    assert public_reason("line one\nline two\r\n") == "line one line two"


def test_a_failed_record_carries_the_public_reason() -> None:
    record = VideoRecord(
        id="01890a5d-ac96-774b-bcce-b302099a8057",
        owner="acme",
        filename="a.mp4",
        size=1,
        mime="video/mp4",
        format="mp4",
        duration_s=1.0,
        objects={},
    )
    failed = record.fail("ingest", "S3 down at http://10.0.0.9:9000/vidsage/videos/x/source.mp4", 4)
    assert failed is not None
    assert failed.error is not None
    assert "10.0.0.9" not in failed.error.reason
    assert failed.error.reason == failed.stages["ingest"].error


def test_the_api_shows_old_records_reasons_public_too() -> None:
    """A record failed before reasons were cleaned at the source is cleaned when shown."""
    from vidsage_gateway.videos import record_json

    record = VideoRecord(
        id="01890a5d-ac96-774b-bcce-b302099a8057",
        owner="acme",
        filename="a.mp4",
        size=1,
        mime="video/mp4",
        format="mp4",
        duration_s=1.0,
        objects={},
    )
    failed = record.fail("ingest", "x", 1)
    assert failed is not None
    assert failed.error is not None
    raw = "S3 at http://10.0.0.9:9000 said NoSuchKey videos/x/source.mp4"
    stages = {**failed.stages, "ingest": failed.stages["ingest"].model_copy(update={"error": raw})}
    old = failed.model_copy(
        update={"error": failed.error.model_copy(update={"reason": raw}), "stages": stages}
    )
    shown = record_json(old)
    assert "10.0.0.9" not in json.dumps(shown)
    assert "videos/x" not in json.dumps(shown)
