"""Every name on the wire, in one place: NATS subjects, the JetStream stream, consumers and queue
groups, KV buckets, object keys and cache keys.

Pure (the standard library only), so the services, the bus, the runtime, the AsyncAPI exporter,
the client and the tests all read the same names. Nothing else spells a subject, a bucket or an
object key out (``tests/unit/test_names.py`` greps the sources for them). A new service adds its
subjects and its consumer here; the settings that let an operator rename a subject or a bucket
(``VIDSAGE_NATS__STREAM``, ``VIDSAGE_INDEXER__SEARCH_SUBJECT``...) take their defaults from here.
"""

from __future__ import annotations

# --- the event stream (JetStream) ----------------------------------------------------------------

STREAM = "VIDSAGE"
"""The JetStream stream that stores the ``vidsage.video.*`` events (setting ``nats.stream``)."""

EVENT_SUBJECT_PREFIX = "vidsage.video"
"""Events are published on ``vidsage.video.<event>`` (``uploaded``, ``ingested``...)."""

EVENT_SUBJECTS = f"{EVENT_SUBJECT_PREFIX}.>"
"""The stream's subject filter: every event."""


def event_subject(event: str) -> str:
    """``vidsage.video.<event>``: the subject of one event type (``uploaded``, ``failed``...)."""
    return f"{EVENT_SUBJECT_PREFIX}.{event}"


def max_deliveries_advisory(stream: str, durable: str) -> str:
    """The JetStream advisory published when a message of ``durable`` exhausts its deliveries."""
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}"


# --- who connects: the NATS users (subject permissions: vidsage.contracts.permissions) -------------

SERVICE_USERS = ("gateway", "ingest", "transcriber", "indexer", "chat", "notifier")
"""The services, each its own NATS user named after it (``VIDSAGE_NATS__USER``)."""
PROVISIONER_USER = "provisioner"
"""Creates and updates the stream and the shared KV buckets (``python -m vidsage.provision``)."""
SUBSCRIBER_USER = "subscriber"
"""Read-only access to the events for systems outside vidsage (their own consumers on the stream)."""
OBSERVER_USER = "observer"
"""Inspects without touching: reads the event stream message by message and the configuration and
state of the stream and the shared buckets; no consumer, no write (checkers: the chaos tier, dashboards)."""

INBOX_ROOT = "_INBOX"
"""nats-py's default reply-inbox root; vidsage's users each get a prefix below it."""


def inbox_prefix(user: str) -> str:
    """``_INBOX.<user>``: the reply inboxes of one NATS user (nats-py ``inbox_prefix``), so that no
    other user may subscribe to its replies."""
    return f"{INBOX_ROOT}.{user}"


# --- the JetStream API: NATS's own subjects, as nats-py 2.16 sends them ------------------------------

JS_API_PREFIX = "$JS.API"
"""Requests to the JetStream API: ``$JS.API.STREAM.INFO.<stream>``, ``$JS.API.CONSUMER...``."""


def js_api(*tokens: str) -> str:
    """``$JS.API.<token>.<token>...``: one JetStream API request subject (or a pattern of them)."""
    return ".".join((JS_API_PREFIX, *tokens))


def js_ack(stream: str, consumer: str) -> str:
    """``$JS.ACK.<stream>.<consumer>.>``: where a consumer's messages are acked, nak'ed, extended
    (``in_progress``) and terminated (the reply subject of each delivered message)."""
    return f"$JS.ACK.{stream}.{consumer}.>"


def js_flow_control(stream: str) -> str:
    """``$JS.FC.<stream>.>``: flow-control replies of the push consumers on ``stream`` (KV watches)."""
    return f"$JS.FC.{stream}.>"


def kv_stream(bucket: str) -> str:
    """``KV_<bucket>``: the JetStream stream behind a KV bucket."""
    return f"KV_{bucket}"


def kv_subjects(bucket: str) -> str:
    """``$KV.<bucket>.>``: the subjects a KV bucket's writes are published on."""
    return f"$KV.{bucket}.>"


# --- durable consumers and queue groups: named after the service that owns them -----------------

INGEST_CONSUMER = "ingest"
"""Durable pull consumer of the ingest service (``vidsage.video.uploaded``)."""
TRANSCRIBER_CONSUMER = "transcriber"
"""Durable pull consumer of the transcriber (``vidsage.video.uploaded``, side by side with ingest);
KEDA scales on its lag."""
INDEXER_CONSUMER = "indexer"
"""Durable pull consumer of the indexer (``vidsage.video.transcribed`` and ``.deleted``)."""

SEARCH_QUEUE = "indexer"
"""Queue group of the indexer replicas answering search requests."""
CHAT_QUEUE = "chat"
"""Queue group of the chat service replicas answering chat requests."""


# --- core NATS subjects ---------------------------------------------------------------------------

PROGRESS_SUBJECT_PREFIX = "vidsage.progress"
"""Ephemeral progress of a video's stages: ``vidsage.progress.<video_id>``."""


def progress_subject(video_id: str) -> str:
    """``vidsage.progress.<video_id>``."""
    return f"{PROGRESS_SUBJECT_PREFIX}.{video_id}"


SEARCH_SUBJECT = "vidsage.search"
"""Search requests (request-reply, queue group :data:`SEARCH_QUEUE`; setting ``indexer.search_subject``)."""

SIMILARITY_SUBJECT = "vidsage.similarity"
"""Text similarity requests to the indexer's embedding model (request-reply, queue group
:data:`SEARCH_QUEUE`; setting ``indexer.similarity_subject``): the chat's citation check."""

CHAT_SUBJECT = "vidsage.chat"
"""Chat requests (queue group :data:`CHAT_QUEUE`, a reply inbox each; setting ``chat.subject``)."""


def chat_cancel_subject(subject: str, request_id: str) -> str:
    """``<chat subject>.cancel.<request_id>``: stop generating that answer (``*``: every request)."""
    return f"{subject}.cancel.{request_id}"


CACHE_INVALIDATE_SUBJECT = "vidsage.cache.invalidate"
"""Broadcast of a cache key prefix that every process drops from its in-process LRU."""


# --- KV buckets -------------------------------------------------------------------------------------

VIDEOS_BUCKET = "videos"
"""The catalog: one video record per key ``<owner>.<video_id>`` (setting ``nats.videos_bucket``)."""
CACHE_BUCKET = "cache"
"""The shared cache, its max age the cache TTL (setting ``nats.cache_bucket``)."""
KEYS_BUCKET = "keys"
"""API keys by key id, stored hashed. Only the gateway opens it (as it does the three below); their
names are fixed, not settings."""
SESSIONS_BUCKET = "sessions"
"""Browser sessions by the HMAC of the session id; its max age is the session lifetime."""
USAGE_BUCKET = "usage"
"""Stored bytes, video count and upload reservations per owner."""
RATES_BUCKET = "rates"
"""Windowed request and upload counters per owner; max age two hours."""
GATEWAY_BUCKETS = (KEYS_BUCKET, SESSIONS_BUCKET, USAGE_BUCKET, RATES_BUCKET)
"""The buckets only the gateway uses (the other services never open them)."""

ANY_OWNER = "*"
"""A catalog listing of every owner's records (an admin's ``?owner=*``): ``*`` is a NATS wildcard,
never a valid owner name."""


def catalog_key(owner: str, video_id: str) -> str:
    """``<owner>.<video_id>``: the key of a video record in :data:`VIDEOS_BUCKET`. A listing of
    ``<owner>.*`` reads one owner's records and nothing else; ``*.<video_id>`` finds a record's owner."""
    return f"{owner}.{video_id}"


def usage_key(owner: str) -> str:
    """The key of an owner's usage document in :data:`USAGE_BUCKET` (the owner name itself)."""
    return owner


def rate_key(kind: str, owner: str, window: int) -> str:
    """``<kind>.<owner>.<window>``: one counter in :data:`RATES_BUCKET` (``requests`` per minute,
    ``uploads`` per hour; ``window`` counts minutes or hours since the Unix epoch)."""
    return f"{kind}.{owner}.{window}"


# --- object keys (one S3 bucket; everything of a video under its prefix) ---------------------------

S3_BUCKET = "vidsage"
"""The S3 bucket holding every object (setting ``s3.bucket``)."""
VIDEOS_PREFIX = "videos/"
"""Every video's objects live under ``videos/<id>/``."""
SOURCE_STEM = "source"
"""The uploaded file: ``source.<ext>`` (``mp4``, ``mov``, ``avi``)."""
THUMBNAIL_FILE = "thumbnail.jpg"
AUDIO_FILE = "audio.wav"
"""16 kHz mono audio, extracted by ingest when set to (``ingest.extract_audio``)."""
TRANSCRIPT_FILES: dict[str, str] = {
    "transcript": "transcript.json",
    "srt": "transcript.srt",
    "vtt": "transcript.vtt",
}
"""The transcript artifacts by kind (the kinds are the keys of ``record.objects``)."""


def objects_prefix(video_id: str) -> str:
    """``videos/<id>/``: the prefix of every object of the video (deleting it removes them all)."""
    return f"{VIDEOS_PREFIX}{video_id}/"


def source_key(video_id: str, extension: str) -> str:
    """``videos/<id>/source.<ext>``."""
    return f"{objects_prefix(video_id)}{SOURCE_STEM}.{extension}"


def thumbnail_key(video_id: str) -> str:
    """``videos/<id>/thumbnail.jpg``."""
    return objects_prefix(video_id) + THUMBNAIL_FILE


def audio_key(video_id: str) -> str:
    """``videos/<id>/audio.wav``."""
    return objects_prefix(video_id) + AUDIO_FILE


def transcript_keys(video_id: str) -> dict[str, str]:
    """``videos/<id>/transcript.json|srt|vtt`` by kind (``transcript``, ``srt``, ``vtt``)."""
    return {kind: objects_prefix(video_id) + name for kind, name in TRANSCRIPT_FILES.items()}


# --- cache keys (KV-safe characters; everything of a video under its prefix) ------------------------


def cache_prefix(video_id: str) -> str:
    """``video.<id>.``: the prefix of every cache entry of the video (invalidated on delete)."""
    return f"video.{video_id}."


def video_cache_key(video_id: str, what: str) -> str:
    """``video.<id>.<what>``: one cached value of the video (``transcript``, an object's stat...)."""
    return cache_prefix(video_id) + what


def conversation_cache_key(owner: str, video_id: str | None, conversation_id: str) -> str:
    """The memory of one chat conversation of ``owner``: ``video.<id>.chat.<owner>.<conversation>``
    for a video (so deleting the video forgets it), ``chat.library.<owner>.<conversation>`` for the
    library. The owner is part of the key: another tenant's conversation id is simply unknown."""
    if video_id is None:
        return f"chat.library.{owner}.{conversation_id}"
    return video_cache_key(video_id, f"chat.{owner}.{conversation_id}")


# --- resumable uploads (tus 1.0, the gateway's /api/uploads/) ------------------------------------

TUS_UPLOADS_BUCKET = "uploads"
"""The state of every resumable upload (owner, offset, S3 parts, declared length, metadata,
expiry), one entry per key ``<owner>.<upload id>``, so any gateway replica continues any upload.
Only the gateway opens it (it creates it, as it does :data:`GATEWAY_BUCKETS`)."""

TUS_PREFIX = "uploads/"
"""Objects of resumable uploads in progress live under ``uploads/<upload id>/`` (never under
:data:`VIDEOS_PREFIX`, whose orphans the ingest reconciler sweeps)."""


def tus_state_key(owner: str, upload_id: str) -> str:
    """``<owner>.<upload id>``: a resumable upload's key in :data:`TUS_UPLOADS_BUCKET`; another
    tenant's upload id is simply unknown."""
    return f"{owner}.{upload_id}"


def tus_prefix(upload_id: str) -> str:
    """``uploads/<upload id>/``: where a resumable upload's objects (its tails) live."""
    return f"{TUS_PREFIX}{upload_id}/"


def tus_tail_key(upload_id: str, offset: int) -> str:
    """``uploads/<upload id>/tail-<offset>``: the bytes of an upload past its last full S3 part (less
    than a part), written at the end of each request, named by the offset they end at."""
    return f"{tus_prefix(upload_id)}tail-{offset}"


# --- transcription jobs: the OpenAI-compatible endpoint (POST /v1/audio/transcriptions) ------------

JOBS_STREAM = "VIDSAGE_JOBS"
"""The JetStream work-queue stream of interactive jobs (``vidsage.jobs.>``): a job is removed once
a worker acks it, and dropped after a few minutes if none does (nobody waits for it any more)."""
JOBS_SUBJECTS = "vidsage.jobs.>"
"""The jobs stream's subject filter."""
TRANSCRIBE_JOB_SUBJECT = "vidsage.jobs.transcribe"
"""One transcription job (:class:`vidsage.contracts.transcription.TranscriptionJob`): the gateway
submits it, a transcriber takes it with its durable consumer :data:`TRANSCRIBE_JOBS_CONSUMER` and
answers on the job's ``reply_to`` (the gateway's inbox)."""
TRANSCRIBE_JOBS_CONSUMER = "transcriber-jobs"
"""Durable pull consumer of the transcriber on :data:`JOBS_STREAM` (KEDA may scale on its lag too)."""
TRANSCRIPTIONS_PREFIX = "transcriptions/"
"""Temporary objects of transcription jobs: ``transcriptions/<job_id>/audio.<ext>``, deleted when
the request ends (and swept by the gateway when a gateway died before it could)."""


def transcription_key(job_id: str, extension: str) -> str:
    """``transcriptions/<job_id>/audio.<ext>``: the uploaded file of one transcription job."""
    return f"{TRANSCRIPTIONS_PREFIX}{job_id}/audio.{extension}"


# --- webhooks (issue 16b): the notifier service and the buckets it shares with the gateway ----------

NOTIFIER_CONSUMER = "notifier"
"""Durable pull consumer of the notifier (every ``vidsage.video.*`` event): webhook deliveries."""
WEBHOOKS_BUCKET = "webhooks"
"""Webhook endpoints by ``<owner>.<endpoint_id>``, their signing secrets with them. The gateway
creates and writes it; the notifier reads it; no other user may (the secrets are in it)."""
WEBHOOK_DELIVERIES_BUCKET = "webhook-deliveries"
"""One delivery record per ``<owner>.<endpoint_id>.<event_id>``, kept for a while (max age). The
notifier creates and writes it; the gateway reads it."""


WEBHOOK_EVENT_PREFIX = "video"
"""Webhook event types are ``video.<event>`` (``video.indexed``...): the bus subject without ``vidsage.``."""


def webhook_event_type(event: str) -> str:
    """``video.<event>``: the webhook event type of one bus event type."""
    return f"{WEBHOOK_EVENT_PREFIX}.{event}"


def webhook_key(owner: str, endpoint_id: str) -> str:
    """``<owner>.<endpoint_id>``: an endpoint in :data:`WEBHOOKS_BUCKET` (``<owner>.*`` lists an
    owner's endpoints and nobody else's)."""
    return f"{owner}.{endpoint_id}"


def webhook_delivery_key(owner: str, endpoint_id: str, event_id: str) -> str:
    """``<owner>.<endpoint_id>.<event_id>``: one delivery in :data:`WEBHOOK_DELIVERIES_BUCKET`
    (``<owner>.<endpoint_id>.*`` lists an endpoint's; event ids are UUIDv7, so they sort by time)."""
    return f"{owner}.{endpoint_id}.{event_id}"


# --- the gateway's live status streams (Server-Sent Events) ----------------------------------------

EVENT_FEED_PREFIX = "gateway-feed-"
"""The gateway's own ephemeral pull consumers on the stream: one live feed per gateway process and a
short-lived one per resumed SSE stream (``gateway-feed-<random>``), never a service's durable."""


def event_feed_consumer(token: str) -> str:
    """``gateway-feed-<token>``: one of the gateway's ephemeral consumers on the stream."""
    return f"{EVENT_FEED_PREFIX}{token}"
