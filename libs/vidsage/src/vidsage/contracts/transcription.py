"""Transcription jobs on the bus: what the gateway's OpenAI-compatible endpoint
(``POST /v1/audio/transcriptions``) asks of the transcriber pool, and what comes back.

The gateway stores the uploaded file under a temporary key
(:func:`vidsage.contracts.names.transcription_key`), publishes a :class:`TranscriptionJob` to the
work-queue stream :data:`~vidsage.contracts.names.JOBS_STREAM` on
:data:`~vidsage.contracts.names.TRANSCRIBE_JOB_SUBJECT` (``Nats-Msg-Id`` = the job id), and waits
on its own inbox (``reply_to``). A transcriber takes the job with its durable pull consumer, reads
the object, transcribes it with its loaded model and publishes one :class:`TranscriptionReply`
(segments, or an error) to ``reply_to``. A job past its ``deadline`` is dropped unanswered: nobody
waits for it any more. The gateway deletes the temporary object whatever happens.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vidsage.contracts.transcript import Score, Segment

MAX_PROMPT_CHARS = 2000
"""The longest ``prompt`` accepted (Whisper reads at most 223 tokens of it: the rest is cut)."""


class TranscriptionJob(BaseModel):
    """One file to transcribe, with the request's options."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(min_length=1, max_length=64, description="Unique id (also the Nats-Msg-Id).")
    owner: str = Field(description="The tenant the request acts for (logs and metrics only).")
    object_key: str = Field(description="The temporary object holding the file.")
    format: str = Field(description="Its container, sniffed by content (`vidsage.media.MediaFormat` value).")
    language: str | None = Field(default=None, description="ISO-639-1 code; None: detect it.")
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Text to prime the model."
    )
    temperature: float = Field(default=0.0, ge=0, le=1, description="0: beam search; above: sampling.")
    word_timestamps: bool = Field(default=False, description="Compute per-word times.")
    reply_to: str = Field(description="Where the reply goes (the gateway's inbox).")
    deadline: float = Field(description="Unix time after which nobody waits for the answer.")


class ReplySegment(Segment):
    """A segment as OpenAI's ``verbose_json`` describes one (the tokens and decoding details too)."""

    seek: int = 0
    tokens: list[int] = Field(default_factory=list)
    temperature: float = 0.0
    compression_ratio: Score = None


class JobError(BaseModel):
    code: str
    message: str
    status: Literal[400, 500, 503] = 500
    """How the gateway should answer: 400 the file's fault, 503 try again, 500 otherwise."""


class TranscriptionReply(BaseModel):
    """``segments`` (with ``language`` and ``duration_s``), or ``error``."""

    job_id: str
    language: str | None = None
    duration_s: float = 0.0
    model: str = ""
    segments: list[ReplySegment] = Field(default_factory=list)
    error: JobError | None = None

    @property
    def text(self) -> str:
        return " ".join(" ".join(s.text for s in self.segments).split())


# Whisper's language codes and names (the names OpenAI's verbose_json answers with).
_LANGUAGES = (
    "en:english de:german es:spanish ru:russian ko:korean fr:french ja:japanese pt:portuguese tr:turkish "
    "pl:polish ca:catalan nl:dutch ar:arabic sv:swedish it:italian id:indonesian hi:hindi fi:finnish "
    "vi:vietnamese he:hebrew uk:ukrainian el:greek ms:malay cs:czech ro:romanian da:danish hu:hungarian "
    "ta:tamil no:norwegian th:thai ur:urdu hr:croatian bg:bulgarian lt:lithuanian la:latin mi:maori "
    "ml:malayalam cy:welsh sk:slovak te:telugu fa:persian lv:latvian bn:bengali sr:serbian az:azerbaijani "
    "sl:slovenian kn:kannada et:estonian mk:macedonian br:breton eu:basque is:icelandic hy:armenian "
    "ne:nepali mn:mongolian bs:bosnian kk:kazakh sq:albanian sw:swahili gl:galician mr:marathi pa:punjabi "
    "si:sinhala km:khmer sn:shona yo:yoruba so:somali af:afrikaans oc:occitan ka:georgian be:belarusian "
    "tg:tajik sd:sindhi gu:gujarati am:amharic yi:yiddish lo:lao uz:uzbek fo:faroese ht:haitian_creole "
    "ps:pashto tk:turkmen nn:nynorsk mt:maltese sa:sanskrit lb:luxembourgish my:myanmar bo:tibetan "
    "tl:tagalog mg:malagasy as:assamese tt:tatar haw:hawaiian ln:lingala ha:hausa ba:bashkir jw:javanese "
    "su:sundanese yue:cantonese"
)
LANGUAGES: dict[str, str] = {
    code: name.replace("_", " ") for code, name in (item.split(":") for item in _LANGUAGES.split())
}
"""Whisper's languages: ISO-639-1 code (``jw``, ``yue``: Whisper's own) → English name."""
