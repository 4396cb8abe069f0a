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

CHAT_SUBJECT = "vidsage.chat"
"""Chat requests (queue group :data:`CHAT_QUEUE`, a reply inbox each; setting ``chat.subject``)."""


def chat_cancel_subject(subject: str, request_id: str) -> str:
    """``<chat subject>.cancel.<request_id>``: stop generating that answer (``*``: every request)."""
    return f"{subject}.cancel.{request_id}"


CACHE_INVALIDATE_SUBJECT = "vidsage.cache.invalidate"
"""Broadcast of a cache key prefix that every process drops from its in-process LRU."""


# --- KV buckets -------------------------------------------------------------------------------------

VIDEOS_BUCKET = "videos"
"""The catalog: one video record per key (setting ``nats.videos_bucket``)."""
CACHE_BUCKET = "cache"
"""The shared cache, its max age the cache TTL (setting ``nats.cache_bucket``)."""


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


def conversation_cache_key(video_id: str | None, conversation_id: str) -> str:
    """The memory of one chat conversation: ``video.<id>.chat.<conversation>`` for a video (so
    deleting the video forgets it), ``chat.library.<conversation>`` for the library."""
    if video_id is None:
        return f"chat.library.{conversation_id}"
    return video_cache_key(video_id, f"chat.{conversation_id}")
