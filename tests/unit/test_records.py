from vidsage.contracts.ids import new_id
from vidsage.contracts.record import StageState, Status, VideoRecord, derived_status, status_rank


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


def test_stages_side_by_side_derive_a_status_that_only_moves_forward() -> None:
    """Ingest and transcribe both start from the upload: the status follows the pipeline order,
    so ``ingested`` still means the thumbnail exists and ``transcribed`` the transcript too."""
    r = record()
    seen = [r.status]

    def step(new: VideoRecord | None) -> VideoRecord:
        assert new is not None
        seen.append(new.status)
        return new

    r = step(r.begin("transcribe", 1))  # the transcriber took the upload first
    assert r.status is Status.UPLOADED
    assert r.stages["transcribe"].state == "running"
    r = step(r.begin("ingest", 1))
    assert r.status is Status.INGESTING
    r = step(r.finish("ingest", width=320))
    assert r.status is Status.TRANSCRIBING
    r = step(r.finish("transcribe", timings={"vad": 0.2}, language="en"))
    assert r.status is Status.TRANSCRIBED
    assert r.stages["transcribe"].timings == {"vad": 0.2}
    assert r.language == "en"
    assert seen == sorted(seen, key=status_rank)


def test_a_stage_done_before_the_one_ahead_of_it_waits_for_it_in_the_status() -> None:
    r = record().begin("ingest", 1).begin("transcribe", 1).finish("transcribe")  # type: ignore[union-attr]
    assert r is not None
    assert r.status is Status.INGESTING  # the transcript exists, the thumbnail not yet
    r = r.begin("index", 1).finish("index")  # type: ignore[union-attr]
    assert r is not None
    assert r.status is Status.INGESTING
    assert r.stages["index"].state == "done"
    r = r.finish("ingest")
    assert r is not None
    assert r.status is Status.READY


def test_derived_status_in_pipeline_order() -> None:
    def stages(ingest: str, transcribe: str, index: str) -> dict[str, StageState]:
        return {
            "ingest": StageState(state=ingest),  # type: ignore[arg-type]
            "transcribe": StageState(state=transcribe),  # type: ignore[arg-type]
            "index": StageState(state=index),  # type: ignore[arg-type]
        }

    assert derived_status(stages("pending", "pending", "pending")) is Status.UPLOADED
    assert derived_status(stages("pending", "running", "pending")) is Status.UPLOADED
    assert derived_status(stages("running", "done", "pending")) is Status.INGESTING
    assert derived_status(stages("done", "pending", "pending")) is Status.INGESTED
    assert derived_status(stages("done", "running", "pending")) is Status.TRANSCRIBING
    assert derived_status(stages("done", "done", "pending")) is Status.TRANSCRIBED
    assert derived_status(stages("done", "done", "running")) is Status.INDEXING
    assert derived_status(stages("done", "done", "done")) is Status.READY
