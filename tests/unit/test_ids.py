import time
import uuid

from vidsage.contracts.ids import id_timestamp_ms, is_valid_id, new_id


def test_ids_are_uuid7_and_strictly_increasing() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for value in ids[:10]:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert is_valid_id(value)


def test_id_carries_its_creation_time() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= id_timestamp_ms(value) <= after + 1


def test_invalid_ids() -> None:
    assert not is_valid_id("nope")
    assert not is_valid_id(str(uuid.uuid4()))
    assert not is_valid_id("../../etc/passwd")
    assert not is_valid_id(new_id().upper())
