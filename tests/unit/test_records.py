from vidsage.contracts.ids import new_id
from vidsage.contracts.record import Status, VideoRecord


def record() -> VideoRecord:
    return VideoRecord(
        id=new_id(), owner="o", filename="f.mp4", size=1, mime="video/mp4", format="mp4", duration_s=1.0
    )


def test_stage_lifecycle() -> None:
    r = record()
    assert r.status is Status.UPLOADED
    started = r.begin("ingest", 1)
    assert started is not None
    assert started.status is Status.INGESTING
    assert started.stages["ingest"].state == "running"
    done = started.finish("ingest", width=320)
    assert done is not None
    assert done.status is Status.INGESTED
    assert done.width == 320
    assert done.stages["ingest"].state == "done"
    assert done.stages["ingest"].finished_at is not None


def test_transitions_are_idempotent() -> None:
    done = record().begin("ingest", 1).finish("ingest")  # type: ignore[union-attr]
    assert done is not None
    assert done.begin("ingest", 2) is None  # already past: a redelivery changes nothing
    assert done.finish("ingest") is None


def test_redelivery_while_running_counts_the_attempt() -> None:
    running = record().begin("ingest", 1)
    assert running is not None
    again = running.begin("ingest", 2)
    assert again is not None
    assert again.status is Status.INGESTING
    assert again.stages["ingest"].attempts == 2
    assert again.begin("ingest", 2) is None


def test_failure_is_terminal_and_recorded_once() -> None:
    running = record().begin("ingest", 1)
    failed = running.fail("ingest", "undecodable", 4)  # type: ignore[union-attr]
    assert failed is not None
    assert failed.status is Status.FAILED
    assert failed.error is not None
    assert failed.error.stage == "ingest"
    assert failed.error.reason == "undecodable"
    assert failed.stages["ingest"].state == "failed"
    assert failed.fail("ingest", "again", 5) is None
    assert failed.begin("ingest", 5) is None
    assert failed.finish("ingest") is None


def test_a_finished_stage_cannot_fail() -> None:
    done = record().begin("ingest", 1).finish("ingest")  # type: ignore[union-attr]
    assert done is not None
    assert done.fail("ingest", "late advisory", 4) is None
    # a later stage still can
    failed = done.begin("transcribe", 1).fail("transcribe", "corrupt audio", 3)  # type: ignore[union-attr]
    assert failed is not None
    assert failed.status is Status.FAILED
