import pytest
from pydantic import ValidationError

from vidsage.settings import Settings


def test_defaults_are_the_embedded_setup() -> None:
    s = Settings(_env_file=None)
    assert s.nats.url == "nats://127.0.0.1:4222"
    assert s.s3.endpoint == "http://127.0.0.1:9000"
    assert s.gateway.port == 8080
    assert s.gateway.max_upload_bytes == 100 * 1024 * 1024
    assert s.gateway.max_duration_s == 180
    assert s.cache.ttl_s == 24 * 3600


def test_environment_with_prefix_and_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDSAGE_GATEWAY__PORT", "9999")
    monkeypatch.setenv("VIDSAGE_S3__SECRET_KEY", "s3cr3t")
    monkeypatch.setenv("VIDSAGE_INGEST__CONCURRENCY", "3")
    s = Settings()
    assert s.gateway.port == 9999
    assert s.s3.secret_key.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(s)
    assert s.ingest.concurrency == 3


def test_invalid_values_fail_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDSAGE_GATEWAY__PORT", "not-a-port")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("VIDSAGE_GATEWAY__PORT", "8080")
    monkeypatch.setenv("VIDSAGE_S3__PART_SIZE", "1024")  # below the S3 minimum part size
    with pytest.raises(ValidationError):
        Settings()


def test_a_worker_group_keeps_its_own_defaults_when_one_field_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings(_env_file=None)
    assert (defaults.transcriber.concurrency, defaults.transcriber.ack_wait_s) == (2, 15)
    assert (defaults.ingest.concurrency, defaults.ingest.ack_wait_s) == (2, 15)
    assert defaults.indexer.ack_wait_s == 15
    monkeypatch.setenv("VIDSAGE_TRANSCRIBER__DEVICE", "cuda")
    monkeypatch.setenv("VIDSAGE_INGEST__WORK_DIR", "/tmp")
    monkeypatch.setenv("VIDSAGE_INDEXER__STORE", "qdrant")
    s = Settings(_env_file=None)
    assert (s.transcriber.device, s.transcriber.concurrency, s.transcriber.ack_wait_s) == ("cuda", 2, 15)
    assert (s.ingest.concurrency, s.ingest.ack_wait_s) == (2, 15)
    assert s.indexer.ack_wait_s == 15
