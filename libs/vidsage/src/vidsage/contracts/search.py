"""Search over NATS request-reply: the gateway (and chat) ask, the indexer answers.

Subject ``vidsage.search`` (setting ``indexer.search_subject``), queue group ``indexer``; the
request and the reply are JSON. A reply is either ``{"hits": [...]}`` or ``{"error": {...}}``.
:func:`vidsage.search_client.ask` sends a request and raises the exceptions below.

Every request is scoped: ``owner`` limits the search to that tenant's passages, inside the vector
store's query (a payload filter, never a filter of the results). A request without an owner is
refused (``owner_required``) unless it says ``all_owners`` (an admin's ``?owner=*``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_QUERY_CHARS = 500
MAX_LIMIT = 50


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
    video_id: str | None = Field(default=None, description="Search within one video.")
    owner: str | None = Field(
        default=None, description="Only this owner's videos (required unless all_owners)."
    )
    all_owners: bool = Field(default=False, description="Every owner's videos (an admin's request).")
    limit: int = Field(default=10, ge=1, le=MAX_LIMIT)

    @model_validator(mode="after")
    def _one_scope(self) -> SearchRequest:
        if self.owner is not None and self.all_owners:
            raise ValueError("a search is for one owner or for all owners, not both")
        return self

    @property
    def scoped(self) -> bool:
        """True when the request says whose passages to search (an owner, or all owners)."""
        return self.owner is not None or self.all_owners


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
