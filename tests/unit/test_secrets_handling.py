"""Secrets: generated once per state folder and kept private (:mod:`vidsage_dev.local_secrets`),
and never written to a log line (:mod:`vidsage.logging`), whatever the caller binds or an
exception says."""

from __future__ import annotations

import io
import json
import logging
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from vidsage import logging as vlog
from vidsage.auth.keys import generate_key
from vidsage.contracts.permissions import ACCESS
from vidsage.settings import Settings
from vidsage_dev.local_secrets import SECRETS_FILE, load_or_create


def test_secrets_are_generated_once_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    path = tmp_path / SECRETS_FILE
    assert first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(first.nats_passwords) == set(ACCESS)
    values = first.values()
    assert len(set(values)) == len(values)  # all different
    assert all(len(v) >= 20 for v in values)
    assert first.s3_access_key.isupper()  # an access key id as S3 has them (rclone wants >= 3 chars)
    again = load_or_create(tmp_path)
    assert again == first


def test_a_missing_value_is_added_and_the_others_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    path = tmp_path / SECRETS_FILE
    data = json.loads(path.read_text())
    del data["nats"]["chat"]
    del data["gateway"]
    path.write_text(json.dumps(data))
    path.chmod(0o644)
    second = load_or_create(tmp_path)
    assert second.s3_secret_key == first.s3_secret_key
    assert second.nats_passwords["gateway"] == first.nats_passwords["gateway"]
    assert second.nats_passwords["chat"] not in (first.nats_passwords["chat"], "")
    assert second.signing_secret != first.signing_secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)  # nothing to add: the mode is still put right
    load_or_create(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_broken_secrets_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / SECRETS_FILE
    path.write_text("{not json")
    with pytest.raises(ValueError, match="move it away"):
        load_or_create(tmp_path)
    assert path.read_text() == "{not json"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """structlog and stdlib logging configured as the services do, writing to a buffer."""
    buffer = io.StringIO()
    saved = sys.stderr
    sys.stderr = buffer  # setup_logging binds the stream at configuration time
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            nats={"user": "gateway", "password": "nats-pass-0123456789"},
            s3={"access_key": "AKIAEXAMPLE0000", "secret_key": "s3-secret-0123456789"},
            chat={"llm_api_key": "sk-live-0123456789abcdef"},
            gateway={
                "signing_secret": "signing-0123456789-0123456789-0123456789",
                "bootstrap_admin_key": ADMIN_KEY,
            },
        )
        vlog.setup_logging("info", "json", service="t", settings=settings)
        yield buffer
    finally:
        sys.stderr = saved
        structlog.reset_defaults()
        logging.getLogger().handlers = []
        vlog._secrets.clear()


ADMIN_KEY = generate_key()[1]

SECRETS = (
    "nats-pass-0123456789",
    "AKIAEXAMPLE0000",
    "s3-secret-0123456789",
    "sk-live-0123456789abcdef",
    "signing-0123456789-0123456789-0123456789",
    ADMIN_KEY,
)


def test_configured_secrets_never_reach_a_log_line(captured: io.StringIO) -> None:
    log = structlog.get_logger("t")
    log.info("connect", url="nats://gateway:nats-pass-0123456789@127.0.0.1:4222")
    log.warning("bootstrap_key_refused", detail=f"revoked: {ADMIN_KEY}")
    log.warning("s3_failed", error="SignatureDoesNotMatch for AKIAEXAMPLE0000 with s3-secret-0123456789")
    log.info(
        "settings",
        secret_key="anything",
        llm_api_key="sk-1",
        authorization="Bearer vsk_x",
        nested={"k": "sk-live-0123456789abcdef"},
    )
    try:
        raise RuntimeError("the LLM refused key sk-live-0123456789abcdef")
    except RuntimeError:
        log.exception("chat_failed")
    logging.getLogger("aiohttp.server").warning(
        "signing-0123456789-0123456789-0123456789 in a third-party line to https://u:p@example.com/"
    )
    text = captured.getvalue()
    for secret in SECRETS:
        assert secret not in text
    assert "https://***@example.com/" in text
    assert "nats://***@127.0.0.1:4222" in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == [
        "connect",
        "bootstrap_key_refused",
        "s3_failed",
        "settings",
        "chat_failed",
    ]
    assert lines[3]["secret_key"] == lines[3]["llm_api_key"] == lines[3]["authorization"] == "***"
    assert "RuntimeError: the LLM refused key ***" in lines[4]["exception"]


def test_built_in_defaults_are_no_secrets() -> None:
    """``vidsage`` (the default S3 access key) is not scrubbed from every line that names the project."""
    found = vlog.secret_values(Settings(_env_file=None))  # type: ignore[call-arg]
    assert found == []
    assert vlog.secret_values(Settings(_env_file=None, s3={"secret_key": "x" * 12})) == [SecretStr("x" * 12)]  # type: ignore[call-arg]


def test_urls_lose_their_credentials() -> None:
    assert vlog.redact_url("nats://a:b@h1:4222,nats://h2:4222") == "nats://***@h1:4222,nats://h2:4222"
    assert vlog.redact_url("https://token@host/path") == "https://***@host/path"
    assert vlog.redact_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
