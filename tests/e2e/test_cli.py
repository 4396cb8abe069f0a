"""End to end through the ``vidsage`` command: the whole system started the way ``make run`` starts it,
driven only by running the installed console script as a subprocess (stdin piped, stdout and stderr
captured, so neither is a terminal), the way a script or a person in a shell would use it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import srt
import webvtt

from tests.support import capabilities
from tests.support.media import make_video
from tests.support.speech import SCRIPTS, make_speech_video, word_error_rate
from vidsage_dev.ports import free_port
from vidsage_dev.system import DevSystem

pytestmark = pytest.mark.e2e

VIDSAGE = shutil.which("vidsage", path=str(Path(sys.executable).parent)) or shutil.which("vidsage")
SCRIPT = SCRIPTS["short"]  # "Doctor Amelia Hart counted 42 lanterns along the old harbor wall..."


KEYS: dict[str, str] = {}
"""The admin key of the system at each URL (filled by the fixtures that start or find one)."""


def vidsage(
    *args: str, url: str, stdin: str = "", timeout: float = 120, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``vidsage`` command against ``url`` (through ``VIDSAGE_URL``) with ``key``
    (through ``VIDSAGE_API_KEY``; default: that system's admin key)."""
    assert VIDSAGE, "the vidsage console script is not installed (make setup)"
    env = {k: v for k, v in os.environ.items() if k != "VIDSAGE_API_KEY"}
    env |= {"VIDSAGE_URL": url, "XDG_CONFIG_HOME": str(Path(__file__).parent / "no-config")}
    key = key if key is not None else KEYS.get(url)
    if key:
        env["VIDSAGE_API_KEY"] = key
    return subprocess.run(
        [VIDSAGE, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def no_terminal_junk(result: subprocess.CompletedProcess[str]) -> None:
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream, stream
        assert "\r" not in stream, stream


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cited_answers(stdout: str) -> list[tuple[str, list[str]]]:
    """Split ``vidsage chat`` output into (answer text, citation lines): each answer ends with a
    ``citations:`` line followed by ``[mm:ss] text`` lines."""
    answers: list[tuple[str, list[str]]] = []
    text: list[str] = []
    lines = stdout.splitlines()
    i = 0
    while i < len(lines):
        if lines[i] != "citations:":
            text.append(lines[i])
            i += 1
            continue
        i += 1
        citations = []
        while i < len(lines) and re.match(r"\[\d+:\d\d\] ", lines[i]):
            citations.append(lines[i])
            i += 1
        answers.append(("\n".join(text), citations))
        text = []
    assert not text, f"an answer without citations: {text}"
    return answers


@pytest.fixture(scope="module")
def url(system: DevSystem) -> str:
    assert system.admin_key is not None
    KEYS[system.gateway_url] = system.admin_key
    return system.gateway_url


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    capabilities.require("needs_espeak")  # no speech to upload without it
    return make_speech_video(tmp_path_factory.mktemp("talk") / "lanterns.mp4", SCRIPT, "mp4")


@pytest.fixture(scope="module")
def uploaded(url: str, talk: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``vidsage upload --wait --json`` of the spoken clip: the run and the final record it printed."""
    result = vidsage("upload", str(talk), "--wait", "--json", "--timeout", "240", url=url, timeout=300)
    assert result.returncode == 0, result.stderr
    (record,) = json_lines(result.stdout)
    return result, record


@pytest.mark.timeout(360)
def test_upload_waits_until_ready_with_a_stage_display(
    uploaded: tuple[subprocess.CompletedProcess[str], dict[str, Any]], talk: Path
) -> None:
    result, record = uploaded
    assert record["status"] == "ready"
    assert record["filename"] == talk.name
    assert record["size"] == talk.stat().st_size
    assert {name: stage["state"] for name, stage in record["stages"].items()} == {
        "ingest": "done",
        "transcribe": "done",
        "index": "done",
    }
    # not a terminal: one plain line per status change on stderr, in pipeline order, no redraw codes
    no_terminal_junk(result)
    assert f"uploaded {talk.name}" in result.stderr
    prefix = f"{talk.name}: "
    statuses = [line.removeprefix(prefix) for line in result.stderr.splitlines() if line.startswith(prefix)]
    order = ["uploaded", "ingesting", "ingested", "transcribing", "transcribed", "indexing", "ready"]
    assert statuses == sorted(statuses, key=order.index), statuses
    # the status right after the upload (tus: read once the last PATCH is in; ingest may have begun)
    assert statuses[0] in ("uploaded", "ingesting")
    assert statuses[-1] == "ready"


def test_ls_and_status(url: str, uploaded: tuple[Any, dict[str, Any]], talk: Path) -> None:
    _, record = uploaded
    listed = vidsage("ls", "--json", url=url)
    assert listed.returncode == 0, listed.stderr
    (page,) = json_lines(listed.stdout)
    assert record["id"] in [item["id"] for item in page["items"]]

    table = vidsage("ls", url=url)
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "LENGTH", "SIZE", "CREATED", "FILENAME"]
    row = next(r for r in rows if r.startswith(record["id"]))
    assert row.split()[1] == "ready"
    assert row.endswith(talk.name)

    status = vidsage("status", record["id"], url=url)
    assert status.returncode == 0, status.stderr
    fields = dict(line.split(None, 1) for line in status.stdout.splitlines())
    assert fields["id"] == record["id"]
    assert fields["status"] == "ready"
    assert fields["transcribe"] == "done"
    assert fields["language"] == "en"
    as_json = vidsage("--json", "status", record["id"], url=url)
    assert json_lines(as_json.stdout)[0]["status"] == "ready"


def test_transcript_in_every_format(url: str, uploaded: tuple[Any, dict[str, Any]]) -> None:
    _, record = uploaded
    video_id, duration = record["id"], record["duration_s"]

    data = json.loads(vidsage("transcript", video_id, "--format", "json", url=url).stdout)
    assert word_error_rate(SCRIPT, " ".join(s["text"] for s in data["segments"])) < 0.25

    cues = list(srt.parse(vidsage("transcript", video_id, "--format", "srt", url=url).stdout))
    assert word_error_rate(SCRIPT, " ".join(c.content for c in cues)) < 0.25
    assert 0 < cues[-1].end.total_seconds() <= duration + 0.01

    captions = webvtt.from_buffer(io.StringIO(vidsage("transcript", video_id, "-f", "vtt", url=url).stdout))
    assert word_error_rate(SCRIPT, " ".join(c.text for c in captions)) < 0.25

    text = vidsage("transcript", video_id, url=url)  # txt is the default for people
    assert text.returncode == 0
    assert "lanterns" in text.stdout.lower()
    assert text.stdout.startswith("[00:0")


def test_search_finds_the_spoken_words(url: str, uploaded: tuple[Any, dict[str, Any]]) -> None:
    _, record = uploaded
    result = vidsage("search", "harbor", "lanterns", "--video", record["id"], "--json", url=url)
    assert result.returncode == 0, result.stderr
    (answer,) = json_lines(result.stdout)
    assert answer["hits"], answer
    best = answer["hits"][0]
    assert best["video_id"] == record["id"]
    assert "lanterns" in best["text"].lower()
    assert 0 <= best["start"] < best["end"] <= record["duration_s"] + 0.01

    words = vidsage("search", "bioluminescent jellyfish", url=url)
    assert words.returncode == 0
    first, passage = words.stdout.splitlines()[:2]
    assert first.startswith(record["filename"])
    assert record["id"] in first
    assert "jellyfish" in passage.lower()


@pytest.mark.timeout(180)
def test_chat_streams_an_answer_with_citations(url: str, uploaded: tuple[Any, dict[str, Any]]) -> None:
    _, record = uploaded
    questions = "How many lanterns did Doctor Hart count?\n\nWhat glowed like a jellyfish?\n"
    result = vidsage("chat", record["id"], url=url, stdin=questions)
    assert result.returncode == 0, result.stderr
    no_terminal_junk(result)
    answers = cited_answers(result.stdout)
    assert len(answers) == 2, result.stdout  # the blank line asks nothing
    for text, citations in answers:
        # `make run` has no language model key: the quoted answer says so
        assert text.endswith("(Quoted from the transcript: no language model is configured.)"), text
        assert citations, text
        assert all(re.fullmatch(r"\[00:\d\d\] \S.*", line) for line in citations), citations
    assert "lanterns" in answers[0][0].lower()
    assert any("lanterns" in line.lower() for line in answers[0][1])
    assert any("jellyfish" in line.lower() for line in answers[1][1])

    one = vidsage("chat", record["id"], "-m", "Where were the lanterns?", "--json", url=url)
    assert one.returncode == 0, one.stderr
    (answer,) = json_lines(one.stdout)
    assert answer["question"] == "Where were the lanterns?"
    assert answer["mode"] == "extractive"  # `make run` has no language model key
    assert answer["conversation_id"]
    assert answer["citations"]
    for citation in answer["citations"]:
        assert citation["video_id"] == record["id"]
        assert 0 <= citation["start"] < citation["end"] <= record["duration_s"] + 0.01
        assert citation["text"].strip() in answer["answer"]

    library = vidsage("chat", url=url, stdin="Who counted lanterns along the harbor wall?\n")  # no id
    assert library.returncode == 0, library.stderr
    ((_, cited),) = cited_answers(library.stdout)
    assert any(line.endswith(f"  ({record['filename']})") and "lanterns" in line.lower() for line in cited)


def test_rm_deletes_and_unknown_ids_say_so(url: str, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "silent.avi", "avi", duration_s=2.0, width=320, height=240, audio=False)
    up = vidsage("upload", str(clip), url=url)
    assert up.returncode == 0, up.stderr
    video_id, status, name = up.stdout.split()
    # the record as read once the upload completed (tus): ingest may have begun already
    assert (status, name) in {(s, clip.name) for s in ("uploaded", "ingesting", "ingested")}

    removed = vidsage("rm", video_id, url=url)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"deleted {video_id}"

    for args in (
        ["status", video_id],
        ["transcript", video_id],
        ["rm", video_id],
        ["chat", video_id, "-m", "hi"],
    ):
        gone = vidsage(*args, url=url)
        assert gone.returncode == 4, (args, gone.stderr)
        assert gone.stderr.strip() == f"vidsage: {video_id}: video not found", args
        assert gone.stdout == ""
    gone_json = vidsage("rm", video_id, "--json", url=url)
    assert gone_json.returncode == 4
    assert json_lines(gone_json.stdout) == [
        {"id": video_id, "error": {"code": "not_found", "message": "video not found", "http_status": 404}}
    ]


def test_a_file_that_is_not_a_video_is_refused_in_words(url: str, tmp_path: Path) -> None:
    page = tmp_path / "page.mp4"
    page.write_text("<html><body>hello</body></html>" * 10)
    result = vidsage("upload", str(page), url=url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().endswith(
        f"vidsage: {page}: unsupported file type: detected text/html; only MP4, MOV and AVI are accepted"
    )
    as_json = vidsage("upload", str(page), "--json", url=url)
    assert as_json.returncode == 1
    (error,) = json_lines(as_json.stdout)
    assert error["file"] == str(page)
    assert error["error"]["code"] == "unsupported_type"
    assert error["error"]["http_status"] == 415

    missing = vidsage("upload", str(tmp_path / "nothing.mp4"), url=url)
    assert missing.returncode == 2
    assert "not a readable file" in missing.stderr


def test_a_gateway_that_is_down_is_exit_code_3() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for args in (["ls"], ["status", "0190"], ["search", "anything"], ["chat", "0190", "-m", "hi"]):
        result = vidsage(*args, url=down)
        assert result.returncode == 3, (args, result.stderr)
        assert result.stderr.startswith(f"vidsage: cannot reach the gateway at {down}: connection refused")
    as_json = vidsage("--json", "ls", url=down)
    assert json_lines(as_json.stdout)[0]["error"]["code"] == "cannot_connect"


@pytest.mark.timeout(120)
def test_vidsage_dev_runs_the_system_until_ctrl_c(tmp_path: Path) -> None:
    """``make run`` is ``vidsage dev``: here with the gateway alone, on free ports."""
    assert VIDSAGE
    state = tmp_path / "state"
    ports = {
        flag: free_port() for flag in ("--nats-port", "--nats-monitor-port", "--s3-port", "--gateway-port")
    }
    argv = [VIDSAGE, "dev", "--state-dir", str(state), "--services", "gateway"]
    argv += [str(x) for pair in ports.items() for x in pair]
    log = tmp_path / "dev.log"
    with log.open("wb") as sink:
        runner = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        info: dict[str, Any] = {}
        while info.get("runner_pid") != runner.pid:  # run.json appears once the gateway is ready
            assert runner.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((state / "run.json").read_text())
        url = info["gateway"]["url"]
        assert url == f"http://127.0.0.1:{ports['--gateway-port']}"
        children = [info["nats"]["pid"], info["s3"]["pid"], info["services"]["gateway"]["pid"]]
        # the admin key: made on first start, only its owner may read it, never in run.json or logs
        key_file = state / "admin.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        assert key.startswith("vsk_")
        assert key not in (state / "run.json").read_text()
        KEYS[url] = key

        nokey = vidsage("ls", url=url, key="")
        assert nokey.returncode == 6, nokey.stderr
        assert "no API key: pass --key, set VIDSAGE_API_KEY" in nokey.stderr
        wrong = vidsage("ls", url=url, key="vsk_" + "a" * 12 + "_" + "b" * 43)
        assert (wrong.returncode, wrong.stderr) == (
            6,
            "vidsage: this key is not known (check --key, $VIDSAGE_API_KEY or the config file)\n",
        )

        empty = vidsage("ls", url=url)
        assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "no videos\n")
        no_indexer = vidsage("search", "anything", url=url)  # no indexer runs: 503 in words
        assert no_indexer.returncode == 1
        assert no_indexer.stderr == "vidsage: the search service is not running; try again\n"

        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=60) == 0, log.read_text()
        # the runner stops and reaps its children before it exits
        assert not [pid for pid in children if running(pid)], "processes left after Ctrl-C"
        printed = log.read_text()
        assert "vidsage is running" in printed
        assert f"{key_file}  (made just now; owner local; mode 0600)" in printed
        assert f"Sign in to the web page: {url}/#key={key}" in printed  # to the terminal...
        for logged in (state / "logs").iterdir():  # ... never to a log
            assert key not in logged.read_text(), logged
        # the banner says where the generated secrets are, and nothing prints them
        secrets_file = state / "secrets.json"
        assert f"secrets    {secrets_file}" in printed
        generated = json.loads(secrets_file.read_text())
        assert not [v for group in generated.values() for v in group.values() if v in printed]
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()


def test_keys_are_managed_from_the_command_line(url: str, tmp_path: Path) -> None:
    made = vidsage("keys", "create", "--owner", "cli-tenant", "--label", "laptop", "--json", url=url)
    assert made.returncode == 0, made.stderr
    (created,) = json_lines(made.stdout)
    assert created["key"].startswith(f"vsk_{created['id']}_")
    assert (created["owner"], created["role"], created["label"]) == ("cli-tenant", "member", "laptop")
    plain = vidsage("keys", "create", "--owner", "cli-tenant", "--expires-in", "30", url=url)
    assert plain.returncode == 0, plain.stderr
    assert re.fullmatch(r"vsk_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}\n", plain.stdout)  # the key alone on stdout
    assert "it is shown only this once" in plain.stderr

    listed = vidsage("keys", "list", "--owner", "cli-tenant", url=url)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "OWNER", "ROLE", "STATE"]
    assert any(r.startswith(created["id"]) and "active" in r and r.endswith("laptop") for r in rows)
    assert created["key"] not in listed.stdout

    # the member key: its own library, not the key routes
    member = created["key"]
    assert vidsage("ls", url=url, key=member).returncode == 0
    refused = vidsage("keys", "list", url=url, key=member)
    assert (refused.returncode, refused.stderr) == (
        6,
        "vidsage: this needs an admin key\n",
    )
    mine = vidsage("ls", "--json", url=url, key=member)
    assert json_lines(mine.stdout)[0]["items"] == []  # nothing of the admin's tenant

    # from the config file (with a warning while others may read it), then revoked
    config = tmp_path / "config" / "vidsage" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'url = "{url}"\nkey = "{member}"\n')
    config.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k not in ("VIDSAGE_API_KEY", "VIDSAGE_URL")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    assert VIDSAGE
    from_file = subprocess.run(
        [VIDSAGE, "ls"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert from_file.returncode == 0, from_file.stderr
    assert f"{config} holds a key and other users may read it: chmod 600" in from_file.stderr
    revoked = vidsage("keys", "revoke", created["id"], url=url)
    assert (revoked.returncode, revoked.stdout) == (0, f"revoked {created['id']}\n")
    after = subprocess.run([VIDSAGE, "ls"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert after.returncode == 6
    assert after.stderr.splitlines()[-1] == (
        "vidsage: this key has been revoked (ask an admin for a new key: vidsage keys create)"
    )
    assert member not in after.stderr + after.stdout

    for bad in (
        ["--owner", "Not Valid"],
        ["--owner", "x", "--role", "root"],
        ["--owner", "x", "--expires-in", "0"],
    ):
        wrong = vidsage("keys", "create", *bad, url=url)
        assert wrong.returncode == 2, bad
