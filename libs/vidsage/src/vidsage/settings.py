"""Typed settings for every vidsage service.

All values come from environment variables with the prefix ``VIDSAGE_``; nested groups use
``__`` (for example ``VIDSAGE_S3__ENDPOINT``, ``VIDSAGE_GATEWAY__PORT``). The defaults are the
embedded single-machine setup that ``make run`` starts. Build a :class:`Settings` in ``main()``
and pass it down; nothing in the library reads the environment on its own.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vidsage.auth.keys import parse_key
from vidsage.contracts import names
from vidsage.contracts.keys import OWNER_PATTERN, is_valid_owner

MiB = 1024 * 1024

MAX_FRAME_PIXELS = 7680 * 4320
"""Default bound on a video's decoded frame size: 8K UHD (33.2 megapixels; a frame then needs at
most ~50 MB as YUV 4:2:0 and ~130 MB as RGBA). A larger frame is refused before anything decodes it."""


class NatsSettings(BaseModel):
    """The NATS JetStream bus: stream, KV buckets, connection."""

    url: str = "nats://127.0.0.1:4222"
    """Comma-separated NATS server URLs."""
    stream: str = names.STREAM
    """JetStream stream that carries the ``vidsage.video.>`` events."""
    stream_max_age_s: float = Field(default=7 * 24 * 3600, gt=0)
    """How long events stay in the stream (limits retention)."""
    duplicate_window_s: float = Field(default=120, gt=0)
    """JetStream de-duplication window for ``Nats-Msg-Id``."""
    videos_bucket: str = names.VIDEOS_BUCKET
    """KV bucket holding the video records (the catalog)."""
    cache_bucket: str = names.CACHE_BUCKET
    """KV bucket of the shared cache (its max age is ``cache.ttl_s``)."""
    connect_timeout_s: float = Field(default=5, gt=0)
    """Timeout of the first connection attempt."""
    request_timeout_s: float = Field(default=5, gt=0)
    """Timeout of JetStream API calls and KV operations."""
    user: str | None = None
    """NATS user (nats-server ``authorization``), with ``password``. Unset: connect without
    credentials (an open server, as the integration tests run one). Each service has its own user,
    named after it, with the subject permissions of ``vidsage.contracts.permissions``."""
    password: SecretStr | None = None
    """Password of ``user``."""
    inbox_prefix: str | None = None
    """Prefix of this process's reply inboxes. Unset: ``_INBOX.<user>`` with a user (the only
    inboxes that user may subscribe to, so no service reads another's replies), else ``_INBOX``."""
    provision: bool | None = None
    """Create the stream and the shared KV buckets at start-up when they are missing (and bring
    the stream to these settings). Unset: only without credentials; with credentials the
    ``provisioner`` user does it (``python -m vidsage.provision``) and the service waits until
    they exist. Each worker always creates or updates its own durable consumer."""
    provision_wait_s: float = Field(default=120, gt=0)
    """How long a service that does not provision waits for the stream and buckets at start-up."""

    replicas: int = Field(default=1, ge=1, le=5)
    """Replicas of the stream and of every KV bucket (its consumers inherit it): 1 for a single
    nats-server, 3 on a JetStream cluster (the chart's default), so that losing one server loses
    nothing. An existing stream is brought to this count; an existing KV bucket keeps its own."""

    @model_validator(mode="after")
    def _user_and_password_together(self) -> NatsSettings:
        if (self.user is None) != (self.password is None):
            raise ValueError("nats.user and nats.password go together: set both or neither")
        return self

    @property
    def provisions(self) -> bool:
        """Does this process create the stream and the shared buckets (see ``provision``)?"""
        return self.provision if self.provision is not None else self.user is None

    @property
    def inbox(self) -> str:
        """The reply-inbox prefix this process uses (see ``inbox_prefix``)."""
        if self.inbox_prefix:
            return self.inbox_prefix
        return names.inbox_prefix(self.user) if self.user else names.INBOX_ROOT


class S3Settings(BaseModel):
    """The S3 endpoint (MinIO or any S3-compatible store)."""

    endpoint: str = "http://127.0.0.1:9000"
    """Endpoint URL; ``https://`` turns TLS on."""
    access_key: SecretStr = SecretStr("vidsage")
    """Access key id. The default (and ``secret_key``'s) only suits an S3 server of your own on
    loopback; ``make run`` generates random keys (``.vidsage/secrets.json``), the chart takes them
    from a Secret."""
    secret_key: SecretStr = SecretStr("vidsage-secret")
    """Secret access key."""
    bucket: str = names.S3_BUCKET
    """Bucket holding every object of vidsage (created at startup if missing)."""
    region: str = "us-east-1"
    """Region; must be set explicitly so the SDK never looks the bucket location up."""
    timeout_s: float = Field(default=10, gt=0)
    """Connect and read timeout of one S3 request."""
    retries: int = Field(default=2, ge=0, le=10)
    """Retries of one S3 request on connection errors and 5xx answers."""
    part_size: int = Field(default=5 * MiB, ge=5 * MiB)
    """Multipart part size for streamed uploads; two parts are in flight, so receiving from the
    client overlaps sending to S3 (memory per upload is about three parts)."""
    io_threads: int = Field(default=16, ge=1, le=256)
    """Threads for blocking S3 calls (the minio SDK is synchronous)."""


class CacheSettings(BaseModel):
    """The shared cache: a JetStream KV bucket with a TTL plus an in-process LRU."""

    ttl_s: float = Field(default=24 * 3600, gt=0)
    """Time to live of shared cache entries (the brief asks for 24 h)."""
    lru_size: int = Field(default=1024, ge=0)
    """Entries kept in the in-process LRU (0 turns it off)."""
    lru_ttl_s: float = Field(default=300, gt=0)
    """Time to live of in-process entries (bounded staleness across replicas)."""


class WorkerSettings(BaseModel):
    """A JetStream pull-consumer worker."""

    concurrency: int = Field(default=2, ge=1, le=256)
    """Jobs in flight in one process; times ``processes``, the consumer's ``max_ack_pending``."""
    processes: int = Field(default=1, ge=1, le=256)
    """Processes (replicas, pods) of this worker sharing its durable consumer. The consumer's
    ``max_ack_pending`` is ``concurrency × processes``: a consumer shared by two processes with
    only one process's worth could have it all held by one (or by a dead one until its ack wait
    ends) while the other idles. Each process still fetches only up to its free slots. ``vidsage
    dev --replicas`` and the chart (replicas, or the autoscaler's maximum) set it."""
    max_deliver: int = Field(default=4, ge=1, le=100)
    """Deliveries before the video is marked failed."""
    ack_wait_s: float = Field(default=15, gt=0)
    """Ack wait. Short on purpose: a job in flight is kept alive by ``in_progress`` heartbeats every
    third of it, so a job of a worker that died (SIGKILL, node lost) is redelivered at most this
    long after its last heartbeat, and the next job starts within that bound too."""
    backoff_s: float = Field(default=2, ge=0)
    """Delay before a failed job is redelivered (grows linearly per delivery)."""
    transient_window_s: float = Field(default=300, ge=0)
    """How long a job whose dependency is unavailable (S3, NATS, the vector store: see
    :mod:`vidsage.transient`) is retried in place, with exponential backoff, without spending a
    delivery; an outage shorter than this fails nothing. Past it, the attempt counts as a failed
    delivery (0: every transient error counts at once)."""
    transient_backoff_max_s: float = Field(default=10, gt=0)
    """Longest pause between two in-place retries (the pause doubles from 0.5 s up to this)."""
    fetch_timeout_s: float = Field(default=1, gt=0)
    """Long-poll time of one fetch."""


class ReconcileSettings(BaseModel):
    """The reconciler each worker service runs for its stage (:mod:`vidsage.reconcile`)."""

    enabled: bool = True
    """Run it (every worker service; the orphan sweep runs in ingest)."""
    interval_s: float = Field(default=30, gt=0)
    """Time between two looks for stuck records (±20 % jitter, so replicas spread out)."""
    idle_grace_s: float = Field(default=60, gt=0)
    """A record waiting for or running this stage, unchanged this long while the stage's consumer
    has nothing pending and nothing in flight, has no live work: it is re-driven."""
    busy_stuck_s: float = Field(default=1800, gt=0)
    """The same while the consumer is busy (its backlog may hold the record's event): only a record
    unchanged this long is re-driven (a redundant re-drive costs one idempotent delivery)."""
    orphan_interval_s: float = Field(default=600, gt=0)
    """Time between two orphan sweeps (objects without a record, records whose objects are gone)."""
    orphan_grace_s: float = Field(default=3600, gt=0)
    """Only objects and records older than this are judged orphans (an upload stores its object
    before its record; a stage writes its objects before it records them)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TenantLimits(BaseModel):
    """Overrides of the gateway's per-tenant limits for one tenant (unset fields keep the default)."""

    model_config = ConfigDict(extra="forbid")

    quota_bytes: int | None = Field(default=None, ge=0)
    quota_videos: int | None = Field(default=None, ge=0)
    uploads_per_hour: int | None = Field(default=None, ge=0)
    requests_per_minute: int | None = Field(default=None, ge=0)


class GatewaySettings(BaseModel):
    """The public HTTP gateway."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a bad key or secret is never echoed

    host: str = "127.0.0.1"
    """Listen address."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Listen port."""
    max_upload_bytes: int = Field(default=100 * MiB, gt=0)
    """Largest accepted upload (100 MB = 100 MiB); enforced while streaming."""
    max_duration_s: float = Field(default=180, gt=0)
    """Longest accepted video in seconds."""
    spool_dir: Path | None = None
    """Folder for the short-lived copy used to probe an upload (default: the system temp dir)."""
    max_frame_pixels: int = Field(default=MAX_FRAME_PIXELS, ge=64 * 64)
    """Largest decoded frame (width x height) of an upload; a larger one is 422 ``frame_too_large``,
    refused from the container's header before any frame is decoded (a decompression bomb: a small
    file with one huge frame), and enforced again by the decoder itself."""
    upload_read_timeout_s: float = Field(default=30, gt=0)
    """An upload during which the client sends nothing for this long is cut off with 408
    ``upload_timeout`` (and leaves nothing behind): a slow or stalled client cannot hold an upload
    slot, spool space and an S3 multipart upload open forever."""
    upload_max_s: float = Field(default=600, gt=0)
    """An upload whose body is not all in after this long (from its admission) is cut off with 408
    ``upload_timeout``: a client trickling a byte now and then cannot hold an upload slot either
    (600 s for 100 MiB is 170 KiB/s)."""
    max_concurrent_uploads: int = Field(default=16, ge=1, le=1024)
    """Uploads one gateway process receives at once; more get 503 ``overloaded`` with
    ``Retry-After`` at once. Each holds a spool file (up to ``max_upload_bytes`` on disk), about
    three S3 parts in memory (15 MiB) and, at its end, a probe: 16 fit the chart's 512 MiB."""
    spool_min_free_bytes: int = Field(default=256 * MiB, ge=0)
    """Free space the spool folder must keep beyond the upload's own size: an upload that would
    leave less gets 503 ``spool_full`` with ``Retry-After`` before it is read (and a disk that fills
    up during an upload gives the same answer)."""
    page_size: int = Field(default=20, ge=1, le=200)
    """Default page size of ``GET /api/videos``."""
    stream_chunk_bytes: int = Field(default=1 * MiB, ge=64 * 1024)
    """Chunk size when streaming objects to clients."""

    # -- authentication (the gateway README's "Security" section says how these work together) --
    signing_secret: SecretStr | None = None
    """HMAC-SHA256 key (at least 32 characters) of signed media links and of the session ids'
    digests. Unset: a random one per process, with a warning (links and sessions then do not survive
    a restart and do not work across replicas). ``make run`` generates one; the chart reads a Secret."""
    bootstrap_admin_key: SecretStr | None = None
    """An admin key (``vsk_…``) that the gateway makes sure exists at startup (stored hashed, owner
    ``bootstrap_admin_owner``): the first key of a cluster (from a Secret) or of ``make run``
    (``.vidsage/admin.key``). Idempotent and safe with many replicas; never un-revokes it."""
    bootstrap_admin_owner: str = Field(default="local", pattern=OWNER_PATTERN)
    """The tenant of the bootstrap admin key."""
    metrics_token: SecretStr | None = None
    """A bearer token that may read ``/metrics`` (for Prometheus); an admin key may too. Unset:
    only admin keys."""
    session_ttl_s: float = Field(default=12 * 3600, ge=60, le=30 * 24 * 3600)
    """Lifetime of a browser session (the cookie and its record in the ``sessions`` bucket)."""
    key_sync_bound_s: float = Field(default=2.0, ge=0.5, le=60)
    """Revocation bound: a gateway authenticates only while its in-memory copy of the ``keys``
    bucket is known to be current as of at most this many seconds ago; otherwise requests get
    503 ``auth_unavailable`` (fail closed)."""
    allowed_origins: list[str] = []
    """Web origins (``https://app.example``) besides the gateway's own that may send state-changing
    requests with the session cookie and open the chat WebSocket; ``*`` allows any."""
    allowed_hosts: list[str] = ["localhost", "127.0.0.1", "::1"]
    """Host names (no port) the gateway serves; any other ``Host`` gets 421 ``host_not_allowed``
    (against DNS rebinding: a foreign web page pointing its own name at the gateway).
    ``.example.com`` matches the domain and its subdomains, ``*`` any host. The default is the
    loopback names ``make run`` serves; the chart adds the ingress host and the service names.
    ``/healthz``, ``/readyz`` and ``/metrics`` answer any host (probes and scrapes use pod IPs)."""
    trusted_proxies: list[str] = []
    """Addresses or networks (``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-Proto`` is
    believed (for the cookie's ``Secure`` flag and the own-origin check)."""
    frame_ancestors: list[str] = []
    """Origins allowed to show the gateway's pages in a frame; empty (the default) denies framing."""
    auth_disabled: bool = False
    """For benchmarks only: no authentication and no request rate limit, every request acts as an
    admin of ``owner``. Refused unless ``host`` is a loopback address; logs a warning."""
    owner: str = Field(default="local", pattern=OWNER_PATTERN)
    """The tenant of every request when ``auth_disabled`` is set."""

    ready_requires_search: bool = True
    """``/readyz`` also asks the indexer's search (any answer counts), so "ready" means a search would
    be answered (``make run`` waits for it). Off where a gateway must stay in rotation for uploads and
    media while the indexer restarts (the chart)."""

    # -- quotas and rate limits per tenant (0: no limit) -------------------------------------------
    quota_bytes: int = Field(default=20 * 1024 * MiB, ge=0)
    """Bytes a tenant may store (the sum of its uploaded files' sizes)."""
    quota_videos: int = Field(default=2000, ge=0)
    """Videos a tenant may have."""
    uploads_per_hour: int = Field(default=120, ge=0)
    """Accepted uploads per tenant per clock hour."""
    requests_per_minute: int = Field(default=3000, ge=0)
    """Authenticated requests per tenant per clock minute (media range requests count too)."""
    tenant_limits: dict[str, TenantLimits] = {}
    """Per-tenant overrides of the four limits above, e.g.
    ``{"acme": {"quota_bytes": 107374182400}}`` (JSON in ``VIDSAGE_GATEWAY__TENANT_LIMITS``)."""
    # --- the OpenAI-compatible transcription endpoint (POST /v1/audio/transcriptions) ---
    transcription_models: list[str] = ["whisper-1", "whisper-base"]
    """Model ids ``GET /v1/models`` lists and a transcription request may name: every one runs on
    the transcriber pool's loaded model (``transcriber.model``); ``whisper-1`` is OpenAI's name."""
    transcription_timeout_s: float = Field(default=300, gt=0)
    """How long a transcription request waits for a transcriber once its file is received (504
    ``transcription_timeout`` beyond; the job is dropped)."""
    transcription_sweep_s: float = Field(default=600, gt=0)
    """Temporary transcription objects older than this are deleted by the gateway's sweep (left
    by a gateway that died mid-request); swept every tenth of it."""

    # -- resumable uploads (tus 1.0 under /api/uploads/) -------------------------------------------
    tus_expiry_s: float = Field(default=3600, ge=10)
    """An unfinished resumable upload that receives no bytes for this long expires (``Upload-Expires``):
    the sweeper aborts its S3 multipart upload, deletes its buffered tail and releases its quota
    reservation. A finished one is remembered this long too (so a client that lost the final answer
    learns its video id)."""
    tus_sweep_interval_s: float = Field(default=60, gt=0)
    """Time between two looks for expired resumable uploads (±20 % jitter)."""

    @field_validator("signing_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("the signing secret must be at least 32 characters long")
        return value

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _is_a_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_key(value.get_secret_value())  # MalformedKey (a ValueError) never quotes the key
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _are_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _auth_off_only_on_loopback(self) -> GatewaySettings:
        if self.auth_disabled and not _is_loopback(self.host):
            raise ValueError(
                "auth_disabled is for benchmarks on this machine: the host must be a loopback address"
            )
        return self

    @field_validator("tenant_limits")
    @classmethod
    def _tenants_are_owners(cls, value: dict[str, TenantLimits]) -> dict[str, TenantLimits]:
        bad = [name for name in value if not is_valid_owner(name)]
        if bad:
            raise ValueError(f"not owner names: {', '.join(sorted(bad))}")
        return value


class IngestSettings(WorkerSettings):
    """The ingest worker."""

    thumbnail_width: int = Field(default=640, ge=16, le=4096)
    """Largest thumbnail width; the aspect ratio is kept and no video is scaled up."""
    extract_audio: bool = False
    """Also store the soundtrack as ``audio.wav`` (16-bit mono PCM; ``audio_key`` of
    ``vidsage.video.ingested``). Off by default: the transcriber decodes the source itself, side by
    side with ingest, so the file is only for other consumers that want it."""
    audio_sample_rate: int = Field(default=16000, ge=8000, le=48000)
    """Sample rate of the extracted mono audio."""
    work_dir: Path | None = None
    """Folder for temporary files (default: the system temp dir)."""
    max_frame_pixels: int = Field(default=MAX_FRAME_PIXELS, ge=64 * 64)
    """Largest decoded frame (width x height) ingest decodes for the thumbnail; a larger one fails
    the video (``frame_too_large``) before any frame is decoded. The gateway refuses such uploads
    already (``gateway.max_frame_pixels``); this guards videos stored before or by other means."""


class TranscriberSettings(WorkerSettings):
    """The transcriber worker (faster-whisper)."""

    concurrency: int = Field(default=2, ge=1, le=256)
    """Videos in flight in one process (times ``processes``, the consumer's ``max_ack_pending``):
    while the model decodes one, the next one is downloaded, decoded and run through the VAD; with
    ``batch_across_videos`` their windows share batches."""
    model: str = ""
    """A local CTranslate2 model folder, or a faster-whisper size name (``base``, ``large-v3``...),
    which is downloaded on first use. Empty: the offline base model under ``models_dir``."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where inference runs; ``auto`` takes CUDA when a GPU is visible."""
    compute_type: str = "auto"
    """CTranslate2 compute type; ``auto`` is float16 on CUDA and int8 on CPU."""
    beam_size: int = Field(default=5, ge=1, le=20)
    """Beam search width."""
    language: str | None = None
    """Force a language code (``en``, ``de``...); None detects it from the first speech window."""
    word_timestamps: bool = True
    """Add per-word times to ``transcript.json`` (and cut long segments at sentence ends)."""
    workers: int = Field(default=0, ge=0, le=64)
    """Inference workers: model replicas decoding batches at the same time. 0: on CPU one per core
    (each with one thread: a video's windows are shared among them), on CUDA one."""
    cpu_threads: int = Field(default=0, ge=0, le=256)
    """Threads of each worker on CPU; 0: the cores divided among the workers (never more in all:
    CTranslate2 slows down a lot when oversubscribed)."""
    batch_size: int = Field(default=8, ge=1, le=256)
    """Most 30 s windows in one batch: the memory bound (each window holds its encoder output and
    ``beam_size`` decoder states; see the chart README for GPU figures)."""
    batch_across_videos: bool | None = None
    """Fill a batch with windows of several videos in flight (up to ``batch_size``). None: on when
    the device is CUDA, off on CPU (where a batch costs the same per window, so it would only make
    the first video wait for the others)."""
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    """Silero VAD speech probability threshold."""
    vad_min_silence_ms: int = Field(default=160, ge=0)
    """Silence that ends a speech segment."""
    vad_speech_pad_ms: int = Field(default=400, ge=0)
    """Padding kept around each speech segment."""
    progress_interval_s: float = Field(default=1.0, gt=0)
    """How often progress is published and written to the record while a job runs."""
    max_segment_s: float = Field(default=8.0, gt=0)
    """Longer segments are cut at sentence ends using word times (needs ``word_timestamps``)."""
    work_dir: Path | None = None
    """Folder for the downloaded source while a job runs (default: the system temp dir)."""
    # --- transcription jobs of the OpenAI-compatible endpoint (vidsage.jobs.transcribe) ---
    jobs_concurrency: int = Field(default=2, ge=1, le=256)
    """Transcription jobs in flight (the jobs consumer's ``max_ack_pending``), beside the videos."""
    jobs_ack_wait_s: float = Field(default=30, gt=0)
    """A job whose transcriber stops sending heartbeats (it died) goes to another one after this."""
    jobs_max_deliver: int = Field(default=2, ge=1, le=10)
    """Deliveries of a job: the second one only when the first transcriber died mid-job."""


class IndexerSettings(WorkerSettings):
    """The indexer: embeddings, the vector store, search."""

    model: str = ""
    """A sentence-transformers model folder; empty: the offline all-MiniLM-L6-v2 under ``models_dir``."""
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    """Where embeddings are computed."""
    batch_size: int = Field(default=64, ge=1, le=1024)
    """Passages per encode call."""
    passages: Literal["sentences", "windows", "segments"] = "sentences"
    """How transcripts are cut into search passages: ``sentences`` (one per sentence, with
    ``passage_context`` neighbours each side), ``windows`` (overlapping runs of sentences) or
    ``segments`` (consecutive segments up to ``passage_max_words``). Re-index after a change."""
    passage_max_words: int = Field(default=60, ge=5, le=500)
    """A passage stays within about this many words (context is dropped first)."""
    passage_context: int = Field(default=1, ge=0, le=5)
    """``sentences``: neighbouring sentences on each side of a passage's sentence."""
    store: Literal["edge", "qdrant"] = "edge"
    """``edge``: Qdrant Edge in-process on ``edge_path`` (embedded default); ``qdrant``: a server."""
    edge_path: Path | None = None
    """Folder of the Qdrant Edge shard (default ``<state_dir>/qdrant-edge``)."""
    qdrant_url: str = "http://127.0.0.1:6333"
    """Qdrant server URL (``store=qdrant``)."""
    qdrant_api_key: SecretStr | None = None
    """Qdrant API key (``store=qdrant``)."""
    collection: str = "vidsage_passages"
    """Collection name on the Qdrant server."""
    search_subject: str = names.SEARCH_SUBJECT
    """NATS subject of search requests (request-reply, queue group ``indexer``)."""
    similarity_subject: str = names.SIMILARITY_SUBJECT
    """NATS subject of text-similarity requests (the chat's citation check; queue group ``indexer``)."""
    search_timeout_s: float = Field(default=5, gt=0)
    """How long the gateway waits for a search reply before answering 503."""
    fusion: Literal["rrf", "score"] = "score"
    """How the meaning (dense) and keyword (BM25) rankings are fused: reciprocal rank fusion, or a
    weighted sum of the cosine similarity and the saturated BM25 score."""
    rrf_k: int = Field(default=60, ge=1)
    """Reciprocal rank fusion constant."""
    dense_weight: float = Field(default=0.95, ge=0, le=1)
    """Weight of the meaning ranking in the fusion (the keywords get the rest)."""
    keyword_half: float = Field(default=4.0, gt=0)
    """``score`` fusion: the BM25 score that counts as half a keyword match."""
    prefetch: int = Field(default=50, ge=1, le=1000)
    """Candidates taken from each of the dense and keyword searches before fusion."""


class ChatSettings(BaseModel):
    """Chat: the chat service (LLM, grounding, memory) and the gateway's WebSocket limits."""

    subject: str = names.CHAT_SUBJECT
    """NATS subject of chat requests (queue group ``chat``); cancels go to ``<subject>.cancel.<id>``."""
    llm_base_url: str = "https://api.openai.com/v1"
    """Base URL of any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp)."""
    llm_model: str = "gpt-4o-mini"
    """Model name sent to the server."""
    llm_api_key: SecretStr | None = None
    """API key; unset (the embedded default) runs chat offline in extractive mode."""
    llm_timeout_s: float = Field(default=60, gt=0)
    """Timeout of one LLM request (connect and each read)."""
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    """Retries of a failed LLM request (connection errors, 408, 429, 5xx) before streaming starts."""
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    """Sampling temperature."""
    llm_max_tokens: int = Field(default=800, ge=16, le=32768)
    """Longest answer in tokens."""
    history_messages: int = Field(default=12, ge=0, le=200)
    """Messages (questions and answers) kept per conversation; older ones are dropped."""
    history_max_chars: int = Field(default=12000, ge=0)
    """Characters of history kept per conversation (the newest messages win)."""
    context_passages: int = Field(default=8, ge=1, le=50)
    """Passages retrieved for a library-wide question."""
    extractive_passages: int = Field(default=3, ge=1, le=20)
    """Passages retrieved for an answer in extractive mode (it quotes the best, and others only
    when they add something)."""
    support_threshold: float = Field(default=0.5, ge=0, le=1)
    """A citation of an LLM answer is ``supported`` when its support score (meaning and shared
    content words of the citing sentence and the cited text) reaches this."""
    drop_unsupported: bool = False
    """Leave unsupported citations out of the ``done`` frame (they are still counted)."""
    min_relevance: float = Field(default=0.3, ge=-1, le=1)
    """Below this relevance (cosine similarity of the question and the best passage) the offline
    answer says the video or library does not seem to cover the question, and cites nothing."""
    concurrency: int = Field(default=64, ge=1, le=4096)
    """Answers generated at once by one chat process; more get ``busy``."""
    first_chunk_timeout_s: float = Field(default=10, gt=0)
    """The gateway's wait for the chat service to accept a request."""
    alive_interval_s: float = Field(default=2, gt=0)
    """While it makes an answer, the chat service sends an ``alive`` chunk when it has sent nothing
    else for this long (waiting for the language model's first token, for a search)."""
    chunk_timeout_s: float = Field(default=10, gt=0)
    """The gateway's wait between two chunks of an answer (``alive`` ones included) before it
    reports ``timeout`` and cancels: how soon a client learns that the chat service died
    mid-answer. Keep it several times ``alive_interval_s``."""
    max_frame_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    """Largest WebSocket frame a client may send; a larger one closes the connection with 1009."""
    max_message_chars: int = Field(default=4000, ge=1)
    """Longest question in characters (an ``error`` frame, the connection stays open)."""
    rate_per_minute: float = Field(default=20, gt=0)
    """Messages per minute per connection (token bucket)."""
    rate_burst: int = Field(default=5, ge=1)
    """Messages a connection may send at once before the rate applies."""
    heartbeat_s: float = Field(default=20, gt=0)
    """WebSocket ping interval; a peer that misses a pong is closed."""
    idle_timeout_s: float = Field(default=600, gt=0)
    """A connection with no message from the client for this long is closed (1000)."""
    allowed_origins: list[str] = []
    """Origins (``https://app.example``) allowed to open a WebSocket besides the gateway's own;
    ``*`` allows any. Clients that send no Origin (not browsers) are always allowed."""


# --- webhooks (issue 16b) ---------------------------------------------------------------------------


class WebhookSettings(BaseModel):
    """Webhook endpoints: what the gateway accepts and the notifier calls (``VIDSAGE_WEBHOOKS__*``;
    give both services the same values)."""

    allow_loopback: bool = False
    """Let endpoints point at loopback addresses (127.0.0.0/8, ::1): tests and local receivers."""
    allow_private: bool = False
    """Let endpoints point at private and shared addresses (10/8, 172.16/12, 192.168/16, fc00::/7,
    100.64/10): receivers inside the cluster. Link-local, multicast and unspecified never are."""
    max_per_owner: int = Field(default=20, ge=1, le=1000)
    """Endpoints one tenant may have."""
    deliveries_max_age_s: float = Field(default=7 * 24 * 3600, gt=0)
    """How long delivery records are kept (the deliveries bucket's max age)."""
    deliveries_listed: int = Field(default=50, ge=1, le=500)
    """The most recent deliveries ``GET /api/webhooks/<id>/deliveries`` answers at most."""
    secret_key: SecretStr | None = None
    """The key every webhook's signing secret is derived from (at least 32 characters; generated
    by ``make run``, a Secret in the chart). The gateway and the notifier need the same one; unset,
    the gateway refuses to register webhooks (503) and the notifier does not start. Changing it
    changes every webhook's secret."""

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("the webhook secret key must be at least 32 characters long")
        return value


class NotifierSettings(WorkerSettings):
    """The notifier's consumer and its HTTP deliveries (``VIDSAGE_NOTIFIER__*``). ``max_deliver`` is
    the attempts per delivery; the pause before attempt n+1 is ``backoff_s`` × 2^(n-1), at most
    ``backoff_max_s`` (JetStream redelivers the event after it: nothing waits in the process)."""

    concurrency: int = Field(default=8, ge=1, le=256)
    """Events in flight."""
    max_deliver: int = Field(default=6, ge=1, le=30)
    ack_wait_s: float = Field(default=30, gt=0)
    backoff_s: float = Field(default=5, ge=0)
    backoff_max_s: float = Field(default=600, ge=0)
    connect_timeout_s: float = Field(default=3, gt=0)
    """Connecting to a receiver (each address tried)."""
    timeout_s: float = Field(default=10, gt=0)
    """One attempt, connect to answer: a slow receiver is a failed attempt after it."""
    http_concurrency: int = Field(default=32, ge=1, le=1024)
    """HTTP requests in flight over all endpoints."""


class EventStreamSettings(BaseModel):
    """The gateway's live status streams (Server-Sent Events: ``GET /api/events`` and
    ``GET /api/videos/<id>/events``)."""

    heartbeat_s: float = Field(default=15, gt=0, le=300)
    """A ``: ping`` comment this often on a stream with nothing to say (so proxies keep it open); the
    stream's key or session is checked again at the same pace, and a revoked key or an ended session
    closes the stream."""
    retry_ms: int = Field(default=3000, ge=100, le=600_000)
    """The ``retry:`` hint: how long a browser waits before it reconnects a dropped stream."""
    queue_frames: int = Field(default=256, ge=8, le=65_536)
    """Frames waiting for one slow client; a client that falls this far behind is disconnected (it
    reconnects with ``Last-Event-ID`` and replays from the stream) instead of growing memory."""
    max_per_owner: int = Field(default=20, ge=1, le=100_000)
    """Open streams per tenant on one gateway process; more get 429 ``too_many_streams``."""
    max_streams: int = Field(default=5000, ge=1, le=1_000_000)
    """Open streams on one gateway process; more get 503 ``streams_full``."""
    replay_max_events: int = Field(default=100_000, ge=1)
    """A resume that would read more stream events than this gets ``event: reset`` instead (the
    client refetches the state)."""


class Settings(BaseSettings):
    """Every setting of vidsage. Each service reads the groups it needs."""

    model_config = SettingsConfigDict(
        env_prefix="VIDSAGE_",
        env_nested_delimiter="__",
        extra="ignore",
        hide_input_in_errors=True,  # an invalid setting's error never echoes its value (it may be a secret)
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level."""
    log_format: Literal["auto", "json", "console"] = "auto"
    """``auto``: console on a terminal, JSON otherwise."""
    state_dir: Path = Path(".vidsage")
    """Local state of the embedded setup (models, data, logs)."""
    models_dir: Path = Path(".vidsage/models")
    """Where ``make setup`` puts the offline models."""
    health_file: Path | None = None
    """Heartbeat file (JSON: service, pid, nats, at), written every ``health_interval_s`` while the
    service runs (from when it is ready to work, model loaded); Kubernetes probes read it with
    ``python -m vidsage.health check``. Unset: no file."""
    health_interval_s: float = Field(default=5, gt=0)
    """How often the heartbeat file is rewritten."""
    compute_threads: int = Field(default=0, ge=0, le=256)
    """Threads of the process's one pool for blocking work (media, Whisper, embeddings, the vector
    store); 0 uses the cores this process may run on. S3 calls have their own ``s3.io_threads``."""

    nats: NatsSettings = NatsSettings()
    s3: S3Settings = S3Settings()
    cache: CacheSettings = CacheSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    gateway: GatewaySettings = GatewaySettings()
    ingest: IngestSettings = IngestSettings()
    transcriber: TranscriberSettings = TranscriberSettings()
    indexer: IndexerSettings = IndexerSettings()
    chat: ChatSettings = ChatSettings()
    webhooks: WebhookSettings = WebhookSettings()
    notifier: NotifierSettings = NotifierSettings()
    sse: EventStreamSettings = EventStreamSettings()
