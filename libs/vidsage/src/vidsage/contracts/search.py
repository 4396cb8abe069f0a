"""Search over NATS request-reply: the gateway (and chat) ask, the indexer answers.

Subject ``vidsage.search`` (setting ``indexer.search_subject``), queue group ``indexer``; the
request and the reply are JSON. A reply is either ``{"hits": [...]}`` or ``{"error": {...}}``.
:func:`vidsage.search_client.ask` sends a request and raises the exceptions below.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_QUERY_CHARS = 500
MAX_LIMIT = 50


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
    video_id: str | None = Field(default=None, description="Search within one video.")
    owner: str | None = Field(default=None, description="Only this owner's videos.")
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)


class SearchHit(BaseModel):
    video_id: str
    filename: str = Field(description="The video's original file name (its title).")
    start: float = Field(description="Seconds from the start of the video.")
    end: float
    text: str
    score: float = Field(description="Fused rank score (reciprocal rank fusion of meaning and keywords).")
    segment_ids: list[int] = Field(description="Transcript segments this passage covers.")
    link: str = Field(description="Plays this moment: /api/videos/<id>#t=<start>.")


class SearchError(BaseModel):
    code: str
    message: str


class SearchReply(BaseModel):
    hits: list[SearchHit] | None = None
    error: SearchError | None = None


def moment_link(video_id: str, start: float) -> str:
    return f"/api/videos/{video_id}#t={start:.2f}"


class SearchUnavailable(Exception):
    """No indexer answered (none running, or not in time)."""


class SearchFailed(Exception):
    """The indexer answered with an error (or with something that is not a reply)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
