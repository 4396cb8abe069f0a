"""The pure rules of recovery: which errors are transient, and the record's rewind and stage."""

from __future__ import annotations

import nats.errors
import nats.js.errors
import pytest

from vidsage.contracts.record import STAGES, StageState, Status, VideoRecord, derived_status
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
        # a JetStream cluster electing a new stream leader: the publish finds no responder, or
        # the API answers 500 until the new leader is in place
        nats.js.errors.NoStreamResponseError(),
        nats.js.errors.ServerError(
            code=500, err_code=10006, description="JetStream cluster can not handle request"
        ),
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


def _staged(ingest: str, transcribe: str, index: str) -> VideoRecord:
    stages = {"ingest": ingest, "transcribe": transcribe, "index": index}
    return _record(
        stages={name: StageState(state=state) for name, state in stages.items()},  # type: ignore[arg-type]
        status=derived_status({name: StageState(state=state) for name, state in stages.items()}),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("states", "awaited"),
    [
        (("pending", "pending", "pending"), ["ingest", "transcribe"]),  # both start from the upload
        (("running", "running", "pending"), ["ingest", "transcribe"]),
        (("done", "running", "pending"), ["transcribe"]),
        (("running", "done", "pending"), ["ingest", "index"]),  # the indexer needs the transcript only
        (("done", "done", "running"), ["index"]),
        (("done", "done", "done"), []),
    ],
)
def test_the_stages_a_record_waits_for_or_runs(states: tuple[str, str, str], awaited: list[str]) -> None:
    record = _staged(*states)
    assert [stage for stage in STAGES if record.awaits(stage)] == awaited
    assert record.stage == (awaited[0] if awaited else None)


def test_a_failed_record_awaits_nothing() -> None:
    failed = _staged("done", "running", "pending").fail("transcribe", "boom", 4)
    assert failed is not None
    assert not any(failed.awaits(stage) for stage in STAGES)
    assert failed.stage is None


def test_rewind_keeps_a_done_stage_that_does_not_need_the_rewound_one() -> None:
    """A failed ingest re-runs ingest only: the transcript (which does not need ingest) is kept."""
    failed = _staged("running", "done", "done").fail("ingest", "boom", 4)
    assert failed is not None
    rewound = failed.rewind("ingest")
    assert [rewound.stages[s].state for s in STAGES] == ["pending", "done", "done"]
    assert rewound.status is Status.UPLOADED
    assert [s for s in STAGES if rewound.awaits(s)] == ["ingest"]


def test_rewind_resets_a_stage_left_unfinished_by_the_failure_of_another() -> None:
    """The transcriber failed while ingest ran: ingest's finish was refused, so it runs again too."""
    failed = _staged("running", "running", "pending").fail("transcribe", "boom", 4)
    assert failed is not None
    rewound = failed.rewind("transcribe")
    assert [rewound.stages[s].state for s in STAGES] == ["pending", "pending", "pending"]
    assert [s for s in STAGES if rewound.awaits(s)] == ["ingest", "transcribe"]


def test_a_repair_rewinds_every_stage_named() -> None:
    ready = _staged("done", "done", "done")
    rewound = ready.rewind("ingest", "transcribe")
    assert [rewound.stages[s].state for s in STAGES] == ["pending", "pending", "pending"]
    assert rewound.retries == 1
