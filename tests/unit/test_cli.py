"""The ``vidsage`` command line: argument parsing, exit codes and what it prints (no server)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vidsage.contracts.chat import Citation
from vidsage.contracts.search import SearchHit
from vidsage_client import DEFAULT_URL, Exit
from vidsage_client.cli import main, parse_args
from vidsage_client.client import (
    CannotConnect,
    Forbidden,
    GatewayError,
    NotFound,
    Unauthorized,
    error_from_body,
)
from vidsage_client.commands import describe, exit_code_of
from vidsage_client.render import (
    LiveLines,
    Output,
    StageDisplay,
    UploadProgress,
    citation_line,
    failure_text,
    format_bytes,
    hit_lines,
    progress_bar,
    stage_line,
    status_lines,
    videos_table,
)
from vidsage_dev import cli as devrun

VIDEO_ID = "01a20cba-63f3-7224-97df-2898136963fb"


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": VIDEO_ID,
        "owner": "local",
        "filename": "talk.mp4",
        "size": 390_348,
        "mime": "video/mp4",
        "format": "mp4",
        "duration_s": 12.4,
        "width": 320,
        "height": 240,
        "language": "en",
        "status": "transcribing",
        "stages": {
            "ingest": {"state": "done", "attempts": 1, "progress": None, "error": None},
            "transcribe": {"state": "running", "attempts": 2, "progress": 45.2, "error": None},
            "index": {"state": "pending", "attempts": 0, "progress": None, "error": None},
        },
        "error": None,
        "created_at": "2026-11-24T08:44:31.640514Z",
    }
    return {**base, **changes}


# ---- parsing ------------------------------------------------------------------------------------


def test_the_gateway_url_comes_from_the_flag_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VIDSAGE_URL", raising=False)
    assert parse_args(["ls"])[0].url == DEFAULT_URL == "http://127.0.0.1:8080"
    monkeypatch.setenv("VIDSAGE_URL", "http://gateway.example:9000/")
    assert parse_args(["ls"])[0].url == "http://gateway.example:9000"
    assert parse_args(["ls", "--url", "https://other:1"])[0].url == "https://other:1"
    assert parse_args(["--url", "https://before:2", "ls"])[0].url == "https://before:2"


def test_the_key_comes_from_the_flag_then_the_environment_then_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("VIDSAGE_API_KEY", raising=False)
    monkeypatch.delenv("VIDSAGE_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert parse_args(["ls"])[0].key is None  # none at all: the first 401 says how to give one
    config = tmp_path / "vidsage" / "config.toml"
    config.parent.mkdir()
    config.write_text('url = "https://from-the-file:9"\nkey = "vsk_file"\n')
    config.chmod(0o600)
    assert (parse_args(["ls"])[0].key, parse_args(["ls"])[0].url) == ("vsk_file", "https://from-the-file:9")
    monkeypatch.setenv("VIDSAGE_API_KEY", "vsk_env")
    assert parse_args(["ls"])[0].key == "vsk_env"
    assert parse_args(["ls", "--key", "vsk_flag"])[0].key == "vsk_flag"
    assert parse_args(["--key", "vsk_flag", "keys", "list"])[0].key == "vsk_flag"
    create = parse_args(["keys", "create", "--owner", "acme", "--role", "admin", "--expires-in", "7"])[0]
    assert (create.action, create.owner, create.role, create.expires_in) == ("create", "acme", "admin", 7.0)
    config.write_text("key = [1]\n")
    with pytest.raises(SystemExit) as refused:
        parse_args(["ls"])
    assert refused.value.code == 2


def test_auth_refusals_exit_6_with_a_way_forward() -> None:
    missing = error_from_body(
        401, "Unauthorized", b'{"error": {"code": "missing_credentials", "message": "m"}}'
    )
    assert isinstance(missing, Unauthorized)
    assert exit_code_of(missing) == Exit.UNAUTHORIZED == 6
    assert describe(missing, has_key=False).startswith("no API key: pass --key, set VIDSAGE_API_KEY")
    assert describe(missing, has_key=True) == "m"
    forbidden = error_from_body(403, "Forbidden", b'{"error": {"code": "admin_only", "message": "admin"}}')
    assert isinstance(forbidden, Forbidden)
    assert exit_code_of(forbidden) == 6
    quota = error_from_body(403, "Forbidden", b'{"error": {"code": "quota_exceeded", "message": "full"}}')
    assert type(quota) is GatewayError  # a refusal of the request, not of the key
    assert exit_code_of(quota) == Exit.FAILED
    revoked = error_from_body(401, "Unauthorized", b'{"error": {"code": "revoked_key", "message": "gone"}}')
    assert describe(revoked) == "gone (ask an admin for a new key: vidsage keys create)"


@pytest.mark.parametrize(
    "argv", [["--json", "status", VIDEO_ID], ["status", VIDEO_ID, "--json"], ["status", "--json", VIDEO_ID]]
)
def test_json_is_accepted_before_or_after_the_command(argv: list[str]) -> None:
    args, _ = parse_args(argv)
    assert args.json is True
    assert args.id == VIDEO_ID


def test_each_client_command_parses_its_arguments() -> None:
    up = parse_args(["upload", "a.mp4", "b.mov", "--wait", "--timeout", "30"])[0]
    assert (up.files, up.wait, up.timeout, up.json) == ([Path("a.mp4"), Path("b.mov")], True, 30.0, False)
    assert parse_args(["upload", "a.mp4", "--timeout", "0"])[0].timeout is None  # 0: wait forever
    ls = parse_args(["ls", "--limit", "5", "--cursor", "abc"])[0]
    assert (ls.limit, ls.cursor, ls.all) == (5, "abc", False)
    search = parse_args(["search", "harbor", "lanterns", "--video", VIDEO_ID, "--limit", "3"])[0]
    assert (search.query, search.video, search.limit) == (["harbor", "lanterns"], VIDEO_ID, 3)
    chat = parse_args(["chat", VIDEO_ID, "-m", "one?", "--message", "two?", "--conversation", "c1"])[0]
    assert (chat.id, chat.message, chat.conversation) == (VIDEO_ID, ["one?", "two?"], "c1")
    assert parse_args(["rm", "a", "b"])[0].ids == ["a", "b"]


def test_the_transcript_format_defaults_to_text_for_people_and_json_for_scripts() -> None:
    assert parse_args(["transcript", VIDEO_ID])[0].format == "txt"
    assert parse_args(["transcript", VIDEO_ID, "--json"])[0].format == "json"
    assert parse_args(["transcript", VIDEO_ID, "--json", "-f", "srt"])[0].format == "srt"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["upload"], "the following arguments are required: FILE"),
        (["transcript", VIDEO_ID, "--format", "docx"], "invalid choice: 'docx'"),
        (["ls", "--limit", "0"], "must be at least 1"),
        (["status", " "], "a video id must not be empty"),
        (["ls", "--bogus"], "unrecognized arguments: --bogus"),
        (["ls", "--url", "127.0.0.1:8080"], "the gateway URL must start with http:// or https://"),
        (["ls", "--url", "http://"], "name a host and a valid port"),
        (["ls", "--url", "http://127.0.0.1:99999"], "name a host and a valid port"),
        (["upload", "a.mp4", "--timeout", "-1"], "must not be negative"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == Exit.USAGE == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_commands_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for command in ("upload", "ls", "status", "transcript", "search", "chat", "rm", "dev", "schemas"):
        assert f"    {command}" in text
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130 "):
        assert f"\n  {code}" in text
    assert "VIDSAGE_URL" in text


def test_dev_hands_every_argument_to_the_local_runner_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["--state-dir", ".vidsage", "--gateway-port", "9000", "--services", "", "--json"]
    args, rest = parse_args(["dev", *argv])
    assert args.command == "dev"
    assert rest == argv
    seen: list[list[str]] = []
    monkeypatch.setattr(devrun, "main", lambda a: seen.append(list(a)) or 7)
    assert main(["dev", *argv[:-1]]) == 7
    assert seen == [argv[:-1]]


def test_dev_refuses_a_bad_flag_as_vidsage_dev(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["dev", "--gateway-port", "many"])
    assert exited.value.code == 2
    assert "vidsage dev: error: argument --gateway-port: invalid int value: 'many'" in capsys.readouterr().err


def test_vidsage_dev_help_is_the_runners_help() -> None:
    vidsage = Path(sys.executable).with_name("vidsage")
    done = subprocess.run([vidsage, "dev", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: vidsage dev ")
    for flag in ("--state-dir", "--gateway-port", "--services", "--models-dir"):
        assert flag in done.stdout


def test_a_missing_file_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the URL points at nothing: a request would exit 3, the check before it exits 2
    assert main(["upload", str(tmp_path / "nope.mp4"), "--url", "http://127.0.0.1:9"]) == Exit.USAGE
    assert capsys.readouterr().err == f"vidsage: {tmp_path / 'nope.mp4'}: not a readable file\n"


# ---- errors and exit codes ------------------------------------------------------------------------


def test_server_errors_keep_the_code_and_message() -> None:
    body = b'{"error": {"code": "not_ready", "message": "not made yet", "status": "ingesting"}}'
    error = error_from_body(409, "Conflict", body)
    assert type(error) is GatewayError
    assert (error.code, error.message, error.http_status, error.extra) == (
        "not_ready",
        "not made yet",
        409,
        {"status": "ingesting"},
    )
    assert describe(error) == "not made yet (status: ingesting)"
    assert error.to_json() == {
        "error": {
            "code": "not_ready",
            "message": "not made yet",
            "status": "ingesting",
            "http_status": 409,
        }
    }
    assert exit_code_of(error) == Exit.FAILED


def test_a_404_is_not_found_and_a_page_that_is_not_json_is_still_an_error() -> None:
    missing = error_from_body(
        404, "Not Found", b'{"error": {"code": "not_found", "message": "video not found"}}'
    )
    assert isinstance(missing, NotFound)
    assert exit_code_of(missing) == Exit.NOT_FOUND == 4
    proxy = error_from_body(502, "Bad Gateway", b"<html>nginx</html>")
    assert (proxy.code, proxy.message) == ("http_502", "HTTP 502 Bad Gateway")
    assert exit_code_of(CannotConnect("cannot_connect", "down")) == Exit.CANNOT_CONNECT == 3
    limited = GatewayError("rate_limited", "too many messages", extra={"retry_after_s": 2.6})
    assert describe(limited) == "too many messages (try again in 3 s)"


# ---- rendering ----------------------------------------------------------------------------------


def test_sizes_bars_and_stages_in_words() -> None:
    assert [format_bytes(n) for n in (0, 1023, 1536, 100 * 1024 * 1024)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "100.0 MiB",
    ]
    assert progress_bar(0, 100, width=10) == "[----------]   0%"
    assert progress_bar(37, 100, width=10) == "[####------]  37%"
    assert progress_bar(5, 0, width=4) == "[####] 100%"
    assert stage_line(record()) == "talk.mp4  transcribing  ingest done, transcribe 45%, index pending"
    failed = record(status="failed", error={"stage": "transcribe", "reason": "no audio decoder"})
    assert failure_text(failed) == "failed during transcribe: no audio decoder"


def test_the_video_table_is_aligned() -> None:
    lines = videos_table([record(), record(id="x", status="ready", filename="b.mov", size=10, duration_s=65)])
    assert lines[0].split() == ["ID", "STATUS", "LENGTH", "SIZE", "CREATED", "FILENAME"]
    assert lines[1].split() == [
        VIDEO_ID,
        "transcribing",
        "00:12",
        "381.2",
        "KiB",
        "2026-11-24",
        "08:44:31",
        "talk.mp4",
    ]
    assert lines[2].split()[:3] == ["x", "ready", "01:05"]
    assert lines[1].index("transcribing") == lines[2].index("ready") == lines[0].index("STATUS")


def test_status_lines_show_every_stage_and_the_failure() -> None:
    lines = status_lines(record(status="failed", error={"stage": "transcribe", "reason": "killed"}))
    fields = dict(line.split(None, 1) for line in lines)
    assert fields["file"] == "talk.mp4 (381.2 KiB, mp4, 00:12, 320x240)"
    assert fields["transcribe"] == "45% (attempt 2)"
    assert fields["error"] == "failed during transcribe: killed"


def test_hits_and_citations_show_the_moment_as_mm_ss() -> None:
    hit = SearchHit(
        video_id=VIDEO_ID,
        filename="talk.mp4",
        start=65.4,
        end=71.0,
        text=" counted 42 lanterns ",
        score=0.03,
        segment_ids=[3],
        link=f"/api/videos/{VIDEO_ID}#t=65.4",
    )
    assert hit_lines([hit]) == [f"talk.mp4  [01:05]  {VIDEO_ID}", "    counted 42 lanterns"]
    # a hit with its matching sentence: the time is the sentence's, the sentence is marked
    matched = hit.model_copy(
        update={
            "text": "The lamps were lit. He counted 42 lanterns. Then he left.",
            "match_start": 68.2,
            "match_chars": (20, 43),
        }
    )
    assert hit_lines([matched]) == [
        f"talk.mp4  [01:08]  {VIDEO_ID}",
        "    The lamps were lit. »He counted 42 lanterns.« Then he left.",
    ]
    citation = Citation(video_id=VIDEO_ID, start=3725.0, end=3730.0, text="late in the talk")
    assert citation_line(citation) == "[1:02:05] late in the talk"
    unsupported = citation.model_copy(update={"supported": False, "support_score": 0.2})
    assert citation_line(unsupported) == "[1:02:05] late in the talk  (not supported)"


def test_live_displays_redraw_on_a_terminal_and_print_plain_lines_otherwise() -> None:
    plain = Output(out=io.StringIO(), err=io.StringIO(), live=False)
    progress = UploadProgress(plain, "talk.mp4", 1000)
    progress.update(500)
    progress.draw()
    progress.finish(VIDEO_ID)
    display = StageDisplay(plain, [VIDEO_ID])
    for status in ("uploaded", "ingesting", "ingesting", "ready"):
        display.update(record(status=status))
    err = plain.err.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in err
    assert "\r" not in err
    assert err.splitlines()[1:] == ["talk.mp4: uploaded", "talk.mp4: ingesting", "talk.mp4: ready"]
    assert err.startswith("uploaded talk.mp4 (1000 B, ")

    term = io.StringIO()
    live = LiveLines(term)
    live.draw(["a", "b"])
    live.draw(["a", "b"])  # unchanged: nothing written
    live.draw(["a", "c"])
    assert term.getvalue() == "\ra\x1b[K\n\rb\x1b[K\n" + "\x1b[2F\ra\x1b[K\n\rc\x1b[K\n"


def test_json_mode_writes_errors_to_stdout_as_well() -> None:
    out = Output(json_mode=True, out=io.StringIO(), err=io.StringIO(), live=False)
    out.line("ignored in JSON mode")
    out.error("talk.mp4: too large", {"file": "talk.mp4", "error": {"code": "too_large"}})
    assert out.out.getvalue() == '{"file": "talk.mp4", "error": {"code": "too_large"}}\n'  # type: ignore[attr-defined]
    assert out.err.getvalue() == "vidsage: talk.mp4: too large\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nats-port", "70000"], "port 70000 is outside 0-65535"),
        (["--gateway-port", "http"], "invalid int value: 'http'"),
        (["--stop-timeout", "-1"], "-1 must be more than 0 seconds"),
        (["--ready-timeout", "0"], "0 must be more than 0 seconds"),
    ],
)
def test_dev_rejects_bad_ports_and_timeouts_before_starting(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from vidsage_dev import cli as devrun

    with pytest.raises(SystemExit) as exited:
        devrun.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_runners_name_column_fits_every_process_it_starts() -> None:
    from vidsage_dev.processes import NAME_WIDTH
    from vidsage_dev.system import SERVICES

    longest = max(len(name) for name in (*SERVICES, "nats", "s3", "devrun"))
    assert longest + len("-2") == NAME_WIDTH  # a replica: transcriber-2; a cluster member: nats-n3


def test_dev_parses_the_cluster_and_the_replicas() -> None:
    from vidsage_dev import cli as devrun

    args = devrun.build_parser().parse_args(
        ["--nats-cluster", "3", "--replicas", "transcriber=2,ingest=3", "--replicas", "chat=2"]
    )
    assert args.nats_cluster == 3
    assert args.replicas == [{"transcriber": 2, "ingest": 3}, {"chat": 2}]
    assert devrun.build_parser().parse_args([]).nats_cluster == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nats-cluster", "2"], "invalid choice: 2"),
        (["--replicas", "indexer=2"], "'indexer' cannot run as several processes locally"),
        (["--replicas", "gateway=2"], "'gateway' cannot run as several processes locally"),
        (["--replicas", "transcriber"], "expected SERVICE=COUNT"),
        (["--replicas", "transcriber=0"], "replicas of 'transcriber' must be between 1 and 8"),
        (["--nats-sync", "sometimes"], "invalid NATS sync interval"),
    ],
)
def test_dev_refuses_a_cluster_or_replicas_it_cannot_run(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from vidsage_dev import cli as devrun

    code: object
    try:
        ports = ["--nats-port", "0", "--nats-monitor-port", "0", "--nats-cluster-port", "0", "--s3-port", "0"]
        code = devrun.main([*argv, *ports, "--state-dir", str(tmp_path), "--services", ""])
    except SystemExit as exited:
        code = exited.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "nats").exists()  # refused before anything started
