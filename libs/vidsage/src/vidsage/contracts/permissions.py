"""Who may publish and subscribe what on NATS: one declaration per NATS user, the subject
permissions derived from it.

Each service connects as its own user (named after it, :data:`names.SERVICE_USERS`); three more
users are not services: the ``provisioner`` creates and updates the stream and the shared KV
buckets (``python -m vidsage.provision``: ``make run`` runs it before the services, the chart in
an init container of the gateway), and the ``subscriber`` is for systems outside vidsage that
consume the events; the ``observer`` only looks (the events one by one, the stream's and the
shared buckets' info), for checkers such as the chaos tier. :data:`ACCESS` says, per user, *what it
does* — the events it publishes, its durable consumer, the buckets it reads or writes, its core
subjects, whose requests it answers — and :func:`permissions` turns that into the exact subjects
nats-server must allow, JetStream API included (those nats-py 2.16 sends: see :func:`_kv_read`
and :func:`_consumer`).

Pure (the standard library and :mod:`vidsage.contracts.names` only), so the dev runner's
nats-server config, the chart's ``files/nats-permissions.json`` and the tests read the same table.
A new service adds one :class:`Access` here; a new subject its name in ``names`` and a line in the
users that use it.

Provisioning under least privilege: the provisioner alone may create or update the stream and the
shared buckets (``videos``, ``cache``); each worker creates and updates only its own durable
consumer; a bucket that one service alone uses is created by that service (``kv_own``). The
services only look the shared ones up, and wait at start-up until they exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vidsage.contracts import names

__all__ = ["ACCESS", "Access", "Permissions", "Wire", "access_table", "permissions", "writes_catalog"]


@dataclass(frozen=True)
class Wire:
    """The names an operator may change by setting (the stream, the shared buckets, the request
    subjects); permissions are derived for one set of them (the defaults unless told otherwise)."""

    stream: str = names.STREAM
    videos_bucket: str = names.VIDEOS_BUCKET
    cache_bucket: str = names.CACHE_BUCKET
    search_subject: str = names.SEARCH_SUBJECT
    similarity_subject: str = names.SIMILARITY_SUBJECT
    chat_subject: str = names.CHAT_SUBJECT


@dataclass(frozen=True)
class Access:
    """What one NATS user does on the bus. Buckets and subjects are given as functions of the
    :class:`Wire` names (``"videos"``, ``"cache"``, ``"search"``, ``"similarity"``, ``"chat"``
    stand for the renameable ones); everything else comes from :mod:`vidsage.contracts.names`."""

    user: str
    events: tuple[str, ...] = ()
    """Event types it publishes to the stream (``uploaded``, ``failed``...)."""
    consumer: str | None = None
    """Its durable pull consumer on the stream, which it creates and updates itself."""
    consumer_events: tuple[str, ...] = ()
    """The event types its consumer receives (the consumer's filter subjects)."""
    kv_read: tuple[str, ...] = ()
    """Buckets it reads: look-up, get, listing (an ordered consumer)."""
    kv_write: tuple[str, ...] = ()
    """Buckets it reads and writes (put, create, update, delete, purge)."""
    kv_own: tuple[str, ...] = ()
    """Buckets only it uses: it creates (and updates) them itself, reads and writes them."""
    publish: tuple[str, ...] = ()
    """Core NATS subjects it publishes (requests, cancels, progress, broadcasts)."""
    subscribe: tuple[str, ...] = ()
    """Core NATS subjects it subscribes to; ``"<subject> <queue>"`` allows only that queue group."""
    answers: tuple[str, ...] = ()
    """Users whose requests it answers: it may publish to their reply inboxes (and to no others')."""
    provisions: bool = False
    """Creates and updates the stream and the shared buckets (the provisioner)."""
    reads_events: bool = False
    """Attaches consumers of its own to the stream (any name but the services' durables)."""
    inspects: bool = False
    """Reads the event stream message by message (``STREAM.MSG.GET``: no consumer) and the info
    (configuration, replicas, state; not the entries) of the stream and of the shared buckets."""
    jobs: tuple[str, ...] = ()
    """Job subjects it submits to the jobs stream (:data:`names.JOBS_STREAM`)."""
    jobs_consumer: str | None = None
    """Its durable pull consumer on the jobs stream, which it creates and updates itself."""
    event_feed: bool = False
    """Reads the stream through named ephemeral pull consumers of its own (the gateway's live
    status streams, :data:`names.EVENT_FEED_PREFIX`): creates, fetches from and deletes them;
    never a service's durable."""


@dataclass(frozen=True)
class Permissions:
    """The subject permissions of one user, as nats-server's ``permissions`` block has them."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    publish_deny: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()
    inbox_prefix: str = field(default="")

    def as_config(self) -> dict[str, dict[str, list[str]]]:
        """``{"publish": {"allow": [...], "deny": [...]}, "subscribe": {...}}`` (deny only if any)."""

        def side(allow: tuple[str, ...], deny: tuple[str, ...]) -> dict[str, list[str]]:
            return {"allow": list(allow), **({"deny": list(deny)} if deny else {})}

        return {
            "publish": side(self.publish, self.publish_deny),
            "subscribe": side(self.subscribe, self.subscribe_deny),
        }


VIDEOS, CACHE, SEARCH, SIMILARITY, CHAT = "videos", "cache", "search", "similarity", "chat"
"""Placeholders for the :class:`Wire` names in :data:`ACCESS`."""
_CHAT_CANCELS = "chat-cancels"
"""Placeholder for ``<chat subject>.cancel.*``."""
_WORKER_BUCKETS = (VIDEOS, CACHE)

ACCESS: dict[str, Access] = {
    access.user: access
    for access in (
        Access(
            "gateway",
            events=("uploaded", "deleted", "transcribed"),  # transcribed: a retry of the index stage
            kv_write=(VIDEOS, CACHE),
            kv_own=(
                *names.GATEWAY_BUCKETS,
                names.TUS_UPLOADS_BUCKET,
                names.WEBHOOKS_BUCKET,
            ),  # + tus, webhooks
            kv_read=(names.WEBHOOK_DELIVERIES_BUCKET,),  # GET /api/webhooks/<id>/deliveries
            publish=(SEARCH, CHAT, _CHAT_CANCELS, names.CACHE_INVALIDATE_SUBJECT),
            subscribe=(names.CACHE_INVALIDATE_SUBJECT, names.progress_subject("*")),  # progress: live streams
            jobs=(names.TRANSCRIBE_JOB_SUBJECT,),  # POST /v1/audio/transcriptions
            event_feed=True,  # the live status streams (Server-Sent Events)
        ),
        Access(
            "ingest",
            events=("ingested", "failed", "uploaded"),  # uploaded: its reconciler's re-drives, repairs
            consumer=names.INGEST_CONSUMER,
            consumer_events=("uploaded",),
            kv_write=_WORKER_BUCKETS,
            subscribe=(names.CACHE_INVALIDATE_SUBJECT,),
        ),
        Access(
            "transcriber",
            events=("transcribed", "failed", "uploaded"),  # uploaded: its reconciler's re-drives
            consumer=names.TRANSCRIBER_CONSUMER,
            consumer_events=("uploaded",),
            kv_write=_WORKER_BUCKETS,
            publish=(names.progress_subject("*"),),
            subscribe=(names.CACHE_INVALIDATE_SUBJECT,),
            jobs_consumer=names.TRANSCRIBE_JOBS_CONSUMER,
            answers=("gateway",),  # the transcription jobs' replies
        ),
        Access(
            "indexer",
            events=("indexed", "failed", "transcribed"),  # transcribed: its reconciler's re-drives
            consumer=names.INDEXER_CONSUMER,
            consumer_events=("transcribed", "deleted"),
            kv_write=_WORKER_BUCKETS,
            subscribe=(
                names.CACHE_INVALIDATE_SUBJECT,
                f"{SEARCH} {names.SEARCH_QUEUE}",
                f"{SIMILARITY} {names.SEARCH_QUEUE}",
            ),
            answers=("gateway", "chat"),
        ),
        Access(
            "chat",
            kv_read=(VIDEOS,),
            kv_write=(CACHE,),
            publish=(SEARCH, SIMILARITY),  # similarity: the citation check
            subscribe=(names.CACHE_INVALIDATE_SUBJECT, f"{CHAT} {names.CHAT_QUEUE}", _CHAT_CANCELS),
            answers=("gateway",),
        ),
        # --- webhooks (issue 16b): reads every event and the endpoints, records its deliveries
        Access(
            "notifier",
            consumer=names.NOTIFIER_CONSUMER,
            consumer_events=("uploaded", "ingested", "transcribed", "indexed", "failed", "deleted"),
            kv_read=(VIDEOS, CACHE, names.WEBHOOKS_BUCKET),  # never writes the catalog or the cache
            kv_own=(names.WEBHOOK_DELIVERIES_BUCKET,),
            subscribe=(names.CACHE_INVALIDATE_SUBJECT,),
        ),
        Access(names.PROVISIONER_USER, provisions=True),
        Access(
            names.SUBSCRIBER_USER,
            reads_events=True,
            subscribe=(names.EVENT_SUBJECTS, names.progress_subject(">")),
        ),
        Access(names.OBSERVER_USER, inspects=True),
    )
}
"""Every NATS user of vidsage and what it does, services first (in pipeline order)."""


def _subject(placeholder: str, wire: Wire) -> str:
    """A placeholder of :data:`ACCESS` (optionally ``"<placeholder> <queue>"``) → the subject."""
    subject, _, queue = placeholder.partition(" ")
    resolved = {
        SEARCH: wire.search_subject,
        SIMILARITY: wire.similarity_subject,
        CHAT: wire.chat_subject,
        _CHAT_CANCELS: names.chat_cancel_subject(wire.chat_subject, "*"),
    }.get(subject, subject)
    return f"{resolved} {queue}" if queue else resolved


def _bucket(placeholder: str, wire: Wire) -> str:
    return {VIDEOS: wire.videos_bucket, CACHE: wire.cache_bucket}.get(placeholder, placeholder)


def _kv_read(bucket: str) -> list[str]:
    """Reading a bucket with nats-py: ``js.key_value`` looks its stream up; ``kv.get`` is a
    ``STREAM.MSG.GET`` (or a ``DIRECT.GET`` on a bucket created with ``allow_direct``); a listing
    (``kv.watch``, ``kv.keys``) creates an ephemeral ordered push consumer (``CONSUMER.CREATE``
    without a name), asks for its info (``CONSUMER.INFO.<stream>.<generated name>``, to know how
    many entries are pending), and it delivers to the user's own inbox and may ask for flow
    control."""
    stream = names.kv_stream(bucket)
    return [
        names.js_api("STREAM", "INFO", stream),
        names.js_api("STREAM", "MSG", "GET", stream),
        names.js_api("DIRECT", "GET", stream),
        names.js_api("DIRECT", "GET", stream, ">"),
        names.js_api("CONSUMER", "CREATE", stream),
        names.js_api("CONSUMER", "INFO", stream, "*"),
        names.js_flow_control(stream),
    ]


def _stream_admin(stream: str) -> list[str]:
    return [names.js_api("STREAM", verb, stream) for verb in ("INFO", "CREATE", "UPDATE")]


def _consumer(stream: str, durable: str) -> list[str]:
    """A worker's own durable consumer: nats-py's ``add_consumer`` with a durable name and no
    ``name`` sends ``CONSUMER.DURABLE.CREATE``; the named forms (``CONSUMER.CREATE.<stream>.<name>
    [.<filter>]``, what newer clients send) are allowed for the same name only. ``fetch`` is
    ``CONSUMER.MSG.NEXT``; ack, nak, ``in_progress`` and term publish to the message's
    ``$JS.ACK`` reply subject; the max-deliveries advisory tells the worker of a job it lost, and
    ``STREAM.MSG.GET`` reads that job's event back."""
    return [
        names.js_api("CONSUMER", "DURABLE", "CREATE", stream, durable),
        names.js_api("CONSUMER", "CREATE", stream, durable),
        names.js_api("CONSUMER", "CREATE", stream, durable, ">"),
        names.js_api("CONSUMER", "INFO", stream, durable),
        names.js_api("CONSUMER", "MSG", "NEXT", stream, durable),
        names.js_ack(stream, durable),
        names.js_api("STREAM", "MSG", "GET", stream),
    ]


def _service_durables(stream: str) -> list[str]:
    """Every JetStream subject that touches a service's durable consumer (denied to subscribers)."""
    return [
        subject
        for access in ACCESS.values()
        if access.consumer is not None
        for subject in (
            *_consumer(stream, access.consumer)[:5],
            names.js_api("CONSUMER", "DELETE", stream, access.consumer),
            names.js_ack(stream, access.consumer),
        )
    ]


def _unique(subjects: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(subjects))


def permissions(user: str, wire: Wire | None = None) -> Permissions:
    """The subject permissions of ``user`` (a key of :data:`ACCESS`) for the names in ``wire``."""
    wire = wire or Wire()
    access = ACCESS[user]
    stream = wire.stream
    inbox = names.inbox_prefix(user)
    pub: list[str] = [names.event_subject(event) for event in access.events]
    sub: list[str] = [f"{inbox}.>"]
    pub_deny: list[str] = []
    if access.consumer is not None:
        pub += _consumer(stream, access.consumer)
        sub.append(names.max_deliveries_advisory(stream, access.consumer))
    for placeholder in access.kv_read + access.kv_write + access.kv_own:
        pub += _kv_read(_bucket(placeholder, wire))
    for placeholder in access.kv_write + access.kv_own:
        pub.append(names.kv_subjects(_bucket(placeholder, wire)))
    for placeholder in access.kv_own:
        pub += _stream_admin(names.kv_stream(_bucket(placeholder, wire)))
    if access.provisions:
        pub += _stream_admin(stream)
        pub += _stream_admin(names.JOBS_STREAM)
        for placeholder in _WORKER_BUCKETS:
            pub += _stream_admin(names.kv_stream(_bucket(placeholder, wire)))
    if access.reads_events:
        # Consumers of its own on the stream, named (durable or not), never the services'. Not the
        # nameless CONSUMER.CREATE.<stream> (nats-py's ephemeral and ordered consumers): its request
        # may name any consumer, so through it a client rewrites the workers' durables. The named
        # forms refuse a body whose name differs from the subject's (tests/integration/
        # test_nats_permissions.py shows both).
        pub += [
            names.js_api("STREAM", "INFO", stream),
            names.js_api("STREAM", "NAMES"),
            names.js_api("STREAM", "MSG", "GET", stream),
            names.js_api("CONSUMER", "CREATE", stream, ">"),
            names.js_api("CONSUMER", "DURABLE", "CREATE", stream, "*"),
            names.js_api("CONSUMER", "INFO", stream, "*"),
            names.js_api("CONSUMER", "DELETE", stream, "*"),
            names.js_api("CONSUMER", "MSG", "NEXT", stream, "*"),
            names.js_ack(stream, "*"),
            names.js_flow_control(stream),
        ]
        pub_deny += _service_durables(stream)
    if access.inspects:
        buckets = (wire.videos_bucket, wire.cache_bucket)  # not the gateway's: keys, sessions
        pub += [
            names.js_api("STREAM", "INFO", stream),
            names.js_api("STREAM", "MSG", "GET", stream),
            *(names.js_api("STREAM", "INFO", names.kv_stream(b)) for b in buckets),
        ]
    pub += list(access.jobs)  # a JetStream publish: its ack comes back to the user's own inbox
    if access.jobs_consumer is not None:
        pub += _consumer(names.JOBS_STREAM, access.jobs_consumer)
    if access.event_feed:
        # Named ephemeral pull consumers (``CONSUMER.CREATE.<stream>.<name>``, no filter in the
        # subject: the stream holds only events), their fetches and their deletion; the stream's
        # info tells how far back a resume may go. The services' durables stay out of reach.
        pub += [
            names.js_api("STREAM", "INFO", stream),
            names.js_api("CONSUMER", "CREATE", stream, "*"),
            names.js_api("CONSUMER", "MSG", "NEXT", stream, "*"),
            names.js_api("CONSUMER", "DELETE", stream, "*"),
        ]
        pub_deny += [s for s in _service_durables(stream) if s not in pub_deny]
    pub += [_subject(s, wire) for s in access.publish]
    sub += [_subject(s, wire) for s in access.subscribe]
    pub += [f"{names.inbox_prefix(requester)}.>" for requester in access.answers]
    return Permissions(
        publish=_unique(pub),
        subscribe=_unique(sub),
        publish_deny=_unique(pub_deny),
        inbox_prefix=inbox,
    )


def writes_catalog(service: str) -> bool:
    """Does ``service`` (its NATS user has its name) write the catalog (``videos``)? Chat only reads
    it, so it never tries (its :meth:`vidsage.catalog.Catalog.migrate` would be refused); a name
    this table does not declare (a test's runtime on an open server) is taken to write it."""
    access = ACCESS.get(service)
    return access is None or VIDEOS in access.kv_write + access.kv_own


def access_table(wire: Wire | None = None) -> dict[str, Permissions]:
    """:func:`permissions` of every user of :data:`ACCESS`, in its order."""
    return {user: permissions(user, wire) for user in ACCESS}
