"""The pure rules of recovery: which errors are transient, and the record's rewind and stage."""

from __future__ import annotations

import nats.errors
import nats.js.errors
import pytest

from vidsage.contracts.record import Status, VideoRecord
from vidsage.storage import ObjectNotFound, StorageError, StorageUnavailable
from vidsage.transient import dependency_of, is_transient


@pytest.mark.parametrize(
    "exc",
    [
        StorageUnavailable("S3 endpoint unavailable: connection refused"),
        nats.errors.TimeoutError(),
        nats.errors.ConnectionClosedError(),
        nats.errors.NoRespondersError(),
        nats.js.errors.ServiceUnavailableError(),
        ConnectionRefusedError(),
        TimeoutError(),
    ],
)
def test_unavailable_dependencies_are_transient(exc: Exception) -> None:
    assert is_transient(exc)


def test_wrapped_unavailability_is_transient() -> None:
    outer = RuntimeError("upload failed")
    outer.__cause__ = ConnectionResetError("reset by peer")
    assert is_transient(outer)


@pytest.mark.parametrize(
    "exc",
    [ObjectNotFound("NoSuchKey"), StorageError("S3 error AccessDenied"), ValueError("bad"), KeyError("x")],
)
def test_real_failures_are_not_transient(exc: Exception) -> None:
    assert not is_transient(exc)


def test_dependency_names_are_short_and_carry_no_address() -> None:
    assert dependency_of(StorageUnavailable("http://10.0.0.5:9000 videos/x/source.mp4")) == "object storage"
    assert dependency_of(nats.errors.TimeoutError()) == "the message bus"


def _record(**fields: object) -> VideoRecord:
    return VideoRecord(
        id="v", owner="o", filename="a.mp4", size=1, mime="video/mp4", format="mp4", duration_s=1, **fields
    )  # type: ignore[arg-type]


def test_rewind_resets_the_stage_and_the_later_ones_and_counts_the_retry() -> None:
    record = _record()
    for stage in ("ingest", "transcribe"):
        record = record.begin(stage, 1) or record
        record = record.finish(stage) or record
    record = record.begin("index", 3) or record
    failed = record.fail("index", "boom", 3)
    assert failed is not None
    rewound = failed.rewind("transcribe")
    assert rewound.status is Status.INGESTED
    assert rewound.error is None
    assert rewound.retries == 1
    assert rewound.stages["ingest"].state == "done"
    assert [rewound.stages[s].state for s in ("transcribe", "index")] == ["pending", "pending"]
    assert rewound.stage == "transcribe"
    assert rewound.rewind("transcribe").retries == 2


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        (Status.UPLOADED, "ingest"),
        (Status.INGESTING, "ingest"),
        (Status.INGESTED, "transcribe"),
        (Status.TRANSCRIBING, "transcribe"),
        (Status.TRANSCRIBED, "index"),
        (Status.INDEXING, "index"),
        (Status.READY, None),
        (Status.FAILED, None),
    ],
)
def test_the_stage_a_record_waits_for_or_runs(status: Status, stage: str | None) -> None:
    assert _record(status=status).stage == stage
