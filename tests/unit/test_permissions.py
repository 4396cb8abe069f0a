"""The permission declaration (:mod:`vidsage.contracts.permissions`) says what the system does and
no more; what the local runner and the chart make of it (:mod:`vidsage_dev.natsauth`) is current.

Whether nats-server enforces it, and whether every service can still do its work with it, is
tests/integration/test_nats_permissions.py (and the whole system, which runs with it)."""

from __future__ import annotations

import json

import pytest

from tests.support.paths import ROOT
from vidsage.bus import CONSUMERS
from vidsage.contracts import names
from vidsage.contracts.events import EventType
from vidsage.contracts.permissions import ACCESS, Wire, access_table, permissions, writes_catalog
from vidsage.settings import NatsSettings, Settings
from vidsage_dev import natsauth
from vidsage_dev.schemas import PRODUCERS

STREAM = names.STREAM


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` one or more at the end."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def may_publish(user: str, subject: str) -> bool:
    perms = permissions(user)
    return any(matches(a, subject) for a in perms.publish) and not any(
        matches(d, subject) for d in perms.publish_deny
    )


def may_subscribe(user: str, subject: str, queue: str | None = None) -> bool:
    for allowed in permissions(user).subscribe:
        pattern, _, only_queue = allowed.partition(" ")
        if matches(pattern, subject) and (not only_queue or only_queue == queue):
            return True
    return False


def test_the_matcher_is_nats_matching() -> None:
    assert matches("a.*.c", "a.b.c")
    assert not matches("a.*", "a.b.c")
    assert matches("a.>", "a.b.c")
    assert not matches("a.>", "a")
    assert matches("a.b", "a.b")


def test_every_service_is_a_user_and_so_are_the_provisioner_the_subscriber_and_the_observer() -> None:
    assert list(ACCESS) == [
        *names.SERVICE_USERS,
        names.PROVISIONER_USER,
        names.SUBSCRIBER_USER,
        names.OBSERVER_USER,
    ]


def test_each_service_publishes_exactly_its_own_events() -> None:
    for event in EventType:
        publishers = sorted(u for u in ACCESS if may_publish(u, event.subject))
        expected = sorted(s for s, events in PRODUCERS.items() if event in events)
        assert publishers == expected, event
    # the AsyncAPI document's producers are the declaration's
    assert {s: tuple(e.value for e in events) for s, events in PRODUCERS.items()} == {
        u: a.events for u, a in ACCESS.items() if a.events
    }


def test_each_worker_drives_only_its_own_consumer() -> None:
    assert {u: a.consumer for u, a in ACCESS.items() if a.consumer} == {d: d for d in CONSUMERS}
    for user, access in ACCESS.items():
        if access.consumer:
            assert access.consumer_events == tuple(e.value for e in CONSUMERS[access.consumer].events)
        for durable in CONSUMERS:
            own = durable == access.consumer
            for subject in (
                names.js_api("CONSUMER", "DURABLE", "CREATE", STREAM, durable),
                names.js_api("CONSUMER", "MSG", "NEXT", STREAM, durable),
                names.js_ack(STREAM, durable).replace(">", "1.2.3.4.5"),
            ):
                assert may_publish(user, subject) is own, (user, subject)
            assert may_subscribe(user, names.max_deliveries_advisory(STREAM, durable)) is own
            assert not may_publish(user, names.js_api("CONSUMER", "DELETE", STREAM, durable))


def test_only_the_provisioner_creates_or_changes_the_stream_and_the_shared_buckets() -> None:
    for verb in ("CREATE", "UPDATE"):
        for stream in (STREAM, names.kv_stream(names.VIDEOS_BUCKET), names.kv_stream(names.CACHE_BUCKET)):
            allowed = [u for u in ACCESS if may_publish(u, names.js_api("STREAM", verb, stream))]
            assert allowed == [names.PROVISIONER_USER], (verb, stream)
    for user in ACCESS:
        assert not may_publish(user, names.js_api("STREAM", "DELETE", STREAM))
        assert not may_publish(user, names.js_api("STREAM", "PURGE", STREAM))


def test_nobody_may_send_the_nameless_consumer_create_on_the_event_stream() -> None:
    """Its body names the consumer: through it a client rewrites any durable (see the integration test)."""
    for user in ACCESS:
        assert not may_publish(user, names.js_api("CONSUMER", "CREATE", STREAM)), user


def test_each_user_reads_only_its_own_replies() -> None:
    for user in ACCESS:
        for other in ACCESS:
            inbox = f"{names.inbox_prefix(other)}.abc.1"
            assert may_subscribe(user, inbox) is (user == other), (user, other)
        assert not may_subscribe(user, f"{names.INBOX_ROOT}.abc")
        assert not may_subscribe(user, ">")
        assert permissions(user).inbox_prefix == names.inbox_prefix(user)


def test_replies_go_only_to_those_who_ask() -> None:
    answers = {
        u: sorted(o for o in ACCESS if o != u and may_publish(u, f"{names.inbox_prefix(o)}.x"))
        for u in ACCESS
    }
    assert answers == {
        "gateway": [],
        "ingest": [],
        "transcriber": ["gateway"],  # the transcription jobs' replies
        "indexer": ["chat", "gateway"],
        "chat": ["gateway"],
        "notifier": [],
        names.PROVISIONER_USER: [],
        names.SUBSCRIBER_USER: [],
        names.OBSERVER_USER: [],
    }


def test_request_subjects_go_to_their_queue_groups() -> None:
    search, chat = names.SEARCH_SUBJECT, names.CHAT_SUBJECT
    assert sorted(u for u in ACCESS if may_publish(u, search)) == ["chat", "gateway"]
    assert [u for u in ACCESS if may_publish(u, chat)] == ["gateway"]
    assert [u for u in ACCESS if may_publish(u, names.chat_cancel_subject(chat, "r1"))] == ["gateway"]
    assert [u for u in ACCESS if may_subscribe(u, search, names.SEARCH_QUEUE)] == ["indexer"]
    assert not may_subscribe("indexer", search)  # only in its queue group
    similarity = names.SIMILARITY_SUBJECT  # the chat's citation check, answered by the indexer
    assert [u for u in ACCESS if may_publish(u, similarity)] == ["chat"]
    assert [u for u in ACCESS if may_subscribe(u, similarity, names.SEARCH_QUEUE)] == ["indexer"]
    assert not may_subscribe("indexer", similarity)
    assert [u for u in ACCESS if may_subscribe(u, chat, names.CHAT_QUEUE)] == ["chat"]
    assert [u for u in ACCESS if may_subscribe(u, names.chat_cancel_subject(chat, "r1"))] == ["chat"]


def test_catalog_and_cache_access() -> None:
    record, memory = "$KV.videos.01", "$KV.cache.chat.library.c1"
    assert [u for u in ACCESS if may_publish(u, record)] == ["gateway", "ingest", "transcriber", "indexer"]
    readers_only = ["notifier"]  # reads the catalog and the cache, never writes them
    assert [u for u in ACCESS if may_publish(u, memory)] == [
        u for u in names.SERVICE_USERS if u not in readers_only
    ]
    get = names.js_api("STREAM", "MSG", "GET", names.kv_stream(names.VIDEOS_BUCKET))
    assert [u for u in ACCESS if may_publish(u, get)] == list(names.SERVICE_USERS)
    # the catalog's migration at start-up runs where it may write: not in chat
    writers = [u for u in names.SERVICE_USERS if may_publish(u, record)]
    assert [u for u in names.SERVICE_USERS if writes_catalog(u)] == writers
    assert writes_catalog("a-test-runtime")  # undeclared: an open server decides


def test_progress_and_cache_broadcasts() -> None:
    progress = names.progress_subject("v1")
    assert [u for u in ACCESS if may_publish(u, progress)] == ["transcriber"]
    # the gateway: its live status streams (Server-Sent Events)
    assert [u for u in ACCESS if may_subscribe(u, progress)] == ["gateway", names.SUBSCRIBER_USER]
    invalidate = names.CACHE_INVALIDATE_SUBJECT
    assert [u for u in ACCESS if may_publish(u, invalidate)] == ["gateway"]
    assert [u for u in ACCESS if may_subscribe(u, invalidate)] == list(names.SERVICE_USERS)


def test_the_subscriber_reads_events_through_consumers_of_its_own_only() -> None:
    user = names.SUBSCRIBER_USER
    assert may_subscribe(user, EventType.UPLOADED.subject)
    assert may_publish(user, names.js_api("CONSUMER", "DURABLE", "CREATE", STREAM, "audit"))
    assert may_publish(user, names.js_api("CONSUMER", "CREATE", STREAM, "audit", EventType.UPLOADED.subject))
    assert may_publish(user, names.js_api("CONSUMER", "MSG", "NEXT", STREAM, "audit"))
    assert may_publish(user, names.js_ack(STREAM, "audit").replace(">", "1.2.3.4.5"))
    for event in EventType:
        assert not may_publish(user, event.subject)
    for durable in CONSUMERS:
        for verb in ("CREATE", "INFO", "DELETE"):
            assert not may_publish(user, names.js_api("CONSUMER", verb, STREAM, durable))
        assert not may_publish(user, names.js_api("CONSUMER", "CREATE", STREAM, durable, "x"))


def test_the_observer_reads_the_events_and_the_infos_and_changes_nothing() -> None:
    user = names.OBSERVER_USER
    buckets = (names.VIDEOS_BUCKET, names.CACHE_BUCKET)
    assert may_publish(user, names.js_api("STREAM", "INFO", STREAM))
    assert may_publish(user, names.js_api("STREAM", "MSG", "GET", STREAM))  # event by event
    for bucket in buckets:
        stream = names.kv_stream(bucket)
        assert may_publish(user, names.js_api("STREAM", "INFO", stream)), bucket
        # the info (configuration, replicas, state), never the entries
        assert not may_publish(user, names.js_api("STREAM", "MSG", "GET", stream)), bucket
        assert not may_publish(user, names.js_api("DIRECT", "GET", stream, "$KV.x.y")), bucket
        assert not may_publish(user, names.js_api("CONSUMER", "CREATE", stream)), bucket
        assert not may_publish(user, f"$KV.{bucket}.k"), bucket
    for event in EventType:
        assert not may_publish(user, event.subject)
        assert not may_subscribe(user, event.subject)
    for verb in ("CREATE", "UPDATE", "DELETE", "PURGE"):
        assert not may_publish(user, names.js_api("STREAM", verb, STREAM))
    for durable in CONSUMERS:
        assert not may_publish(user, names.js_api("CONSUMER", "DURABLE", "CREATE", STREAM, durable))
    assert not any(may_publish(user, names.js_api("CONSUMER", "CREATE", STREAM, n)) for n in ("x", "audit"))
    assert permissions(user).subscribe == (f"{names.inbox_prefix(user)}.>",)


def test_the_gateway_reads_events_through_ephemeral_consumers_of_its_own_only() -> None:
    feed = names.event_feed_consumer("0123abcd")
    for verb in ("CREATE", "DELETE"):
        assert may_publish("gateway", names.js_api("CONSUMER", verb, STREAM, feed))
    assert may_publish("gateway", names.js_api("CONSUMER", "MSG", "NEXT", STREAM, feed))
    assert may_publish("gateway", names.js_api("STREAM", "INFO", STREAM))
    # not the nameless create (its body may name any consumer), nor any service's durable
    assert not may_publish("gateway", names.js_api("CONSUMER", "CREATE", STREAM))
    assert not may_publish("gateway", names.js_api("CONSUMER", "DURABLE", "CREATE", STREAM, "x"))
    for durable in CONSUMERS:
        for verb in ("CREATE", "DELETE"):
            assert not may_publish("gateway", names.js_api("CONSUMER", verb, STREAM, durable))
        assert not may_publish("gateway", names.js_api("CONSUMER", "MSG", "NEXT", STREAM, durable))
    assert not may_publish("gateway", names.js_ack(STREAM, feed).replace(">", "1.2.3.4.5"))


def test_renamed_names_are_followed() -> None:
    wire = Wire(
        stream="EV",
        videos_bucket="recs",
        cache_bucket="c2",
        search_subject="s.q",
        similarity_subject="s.sim",
        chat_subject="c.q",
    )
    gateway = permissions("gateway", wire)
    assert "s.q" in gateway.publish
    assert "c.q" in gateway.publish
    assert names.kv_subjects("recs") in gateway.publish
    assert names.js_api("STREAM", "INFO", "KV_c2") in gateway.publish
    assert not any("videos" in s or "VIDSAGE" in s for s in gateway.publish)
    assert "s.q indexer" in permissions("indexer", wire).subscribe
    assert "s.sim indexer" in permissions("indexer", wire).subscribe
    assert "s.sim" in permissions("chat", wire).publish
    assert names.js_api("CONSUMER", "MSG", "NEXT", "EV", "indexer") in permissions("indexer", wire).publish
    settings = Settings(_env_file=None, nats={"stream": "EV"}, indexer={"search_subject": "s.q"})  # type: ignore[call-arg]
    assert natsauth.wire_of(settings) == Wire(stream="EV", search_subject="s.q")


def test_the_authorization_block_has_every_user_with_its_password() -> None:
    passwords = {u: f"pw-{u}" for u in ACCESS}
    block = natsauth.authorization(passwords)
    assert [u["user"] for u in block["users"]] == list(ACCESS)
    assert {u["user"]: u["password"] for u in block["users"]} == passwords
    assert block["users"][0]["permissions"] == access_table()["gateway"].as_config()
    with pytest.raises(ValueError, match="no password for the NATS user"):
        natsauth.authorization({"gateway": "x"})


def test_the_charts_permissions_file_is_current() -> None:
    path = ROOT / natsauth.CHART_FILE
    assert path.read_text() == natsauth.dumps(natsauth.permissions_document()), (
        "run `make schemas` (python -m vidsage_dev.natsauth export) and commit the result"
    )
    document = json.loads(path.read_text())
    assert document["stream"] == STREAM
    assert list(document["users"]) == sorted(ACCESS)
    assert "password" not in path.read_text()


def test_the_check_command_reports_a_stale_file(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "perms.json"  # type: ignore[operator]
    assert natsauth.main(["check", str(target)]) == 1
    assert natsauth.main(["export", str(target)]) == 0
    assert natsauth.main(["check", str(target)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_nats_settings_credentials() -> None:
    open_server = NatsSettings()
    assert open_server.provisions
    assert open_server.inbox == names.INBOX_ROOT
    signed_in = NatsSettings(user="ingest", password="pw")  # type: ignore[arg-type]
    assert not signed_in.provisions
    assert signed_in.inbox == names.inbox_prefix("ingest")
    assert NatsSettings(user="ingest", password="pw", provision=True, inbox_prefix="_I.x").inbox == "_I.x"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="go together"):
        NatsSettings(user="ingest")
    assert "pw" not in repr(signed_in)


def test_the_gateway_alone_owns_its_buckets() -> None:
    for bucket in names.GATEWAY_BUCKETS:
        stream = names.kv_stream(bucket)
        for verb in ("CREATE", "UPDATE", "INFO"):
            assert [u for u in ACCESS if may_publish(u, names.js_api("STREAM", verb, stream))] == ["gateway"]
        assert [u for u in ACCESS if may_publish(u, f"$KV.{bucket}.k1")] == ["gateway"]
        assert [u for u in ACCESS if may_publish(u, names.js_api("CONSUMER", "CREATE", stream))] == [
            "gateway"
        ]


def test_transcription_jobs_go_from_the_gateway_to_the_transcribers_consumer() -> None:
    jobs = names.JOBS_STREAM
    assert [u for u in ACCESS if may_publish(u, names.TRANSCRIBE_JOB_SUBJECT)] == ["gateway"]
    for verb in ("CREATE", "UPDATE"):
        assert [u for u in ACCESS if may_publish(u, names.js_api("STREAM", verb, jobs))] == [
            names.PROVISIONER_USER
        ]
    durable = names.TRANSCRIBE_JOBS_CONSUMER
    for subject in (
        names.js_api("CONSUMER", "DURABLE", "CREATE", jobs, durable),
        names.js_api("CONSUMER", "MSG", "NEXT", jobs, durable),
        names.js_ack(jobs, durable).replace(">", "1.2.3.4.5"),
    ):
        assert [u for u in ACCESS if may_publish(u, subject)] == ["transcriber"], subject
    # nobody may create other consumers on the jobs stream (a subscriber would steal the jobs)
    for user in ACCESS:
        assert not may_publish(user, names.js_api("CONSUMER", "CREATE", jobs, "other")), user
        assert not may_publish(user, names.js_api("CONSUMER", "DELETE", jobs, durable)), user
