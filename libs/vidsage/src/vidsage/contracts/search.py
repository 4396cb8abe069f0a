"""Search over NATS request-reply: the gateway (and chat) ask, the indexer answers.

Subject ``vidsage.search`` (setting ``indexer.search_subject``), queue group ``indexer``; the
request and the reply are JSON. A reply is either ``{"hits": [...]}`` or ``{"error": {...}}``.
:func:`vidsage.search_client.ask` sends a request and raises the exceptions below.

Every request is scoped: ``owner`` limits the search to that tenant's passages, inside the vector
store's query (a payload filter, never a filter of the results). A request without an owner is
refused (``owner_required``) unless it says ``all_owners`` (an admin's ``?owner=*``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    """One passage that matches, and the sentence in it that matches best."""

    video_id: str
    filename: str = Field(description="The video's original file name (its title).")
    start: float = Field(description="Start of the passage, in seconds from the start of the video.")
    end: float = Field(description="End of the passage, in seconds.")
    text: str = Field(description="The passage: the matching sentence with its neighbours.")
    score: float = Field(description="Fused rank score of meaning and keywords; orders the hits.")
    relevance: float = Field(
        default=0.0,
        description="Cosine similarity of the question and the passage (meaning only, -1..1; 0 when "
        "only the keywords matched). Comparable across queries, unlike `score`: below about 0.3 the "
        "passage rarely answers.",
    )
    match_start: float = Field(
        description="Start of the best-matching sentence, in seconds: where a player should seek."
    )
    match_end: float = Field(description="End of the best-matching sentence, in seconds.")
    match_chars: tuple[int, int] = Field(
        description="`[start, end)` character offsets of the best-matching sentence in `text` "
        "(Unicode code points): `text[start:end]` is the sentence."
    )

    @model_validator(mode="before")
    @classmethod
    def _whole_passage_by_default(cls, data: Any) -> Any:
        """A hit without a match (from an older indexer) matches as a whole."""
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("match_start", data.get("start"))
            data.setdefault("match_end", data.get("end"))
            data.setdefault("match_chars", (0, len(str(data.get("text", "")))))
        return data

    segment_ids: list[int] = Field(description="Transcript segments this passage covers.")
    link: str = Field(description="Plays the matching sentence: /api/videos/<id>#t=<match_start>.")


class SearchError(BaseModel):
    code: str
    message: str


class SearchReply(BaseModel):
    hits: list[SearchHit] | None = None
    error: SearchError | None = None


MAX_PAIRS = 64
MAX_PAIR_TEXT_CHARS = 2000


class SimilarityRequest(BaseModel):
    """Pairs of texts to compare with the indexer's embedding model (the chat's citation check).

    Subject ``vidsage.similarity`` (setting ``indexer.similarity_subject``), queue group ``indexer``.
    """

    model_config = ConfigDict(extra="forbid")

    pairs: list[tuple[str, str]] = Field(min_length=1, max_length=MAX_PAIRS)

    @field_validator("pairs")
    @classmethod
    def _short_enough(cls, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for a, b in pairs:
            if len(a) > MAX_PAIR_TEXT_CHARS or len(b) > MAX_PAIR_TEXT_CHARS:
                raise ValueError(f"a text is longer than {MAX_PAIR_TEXT_CHARS} characters")
        return pairs


class SimilarityReply(BaseModel):
    """``{"scores": [...]}`` (cosine similarity of each pair, in order) or ``{"error": {...}}``."""

    scores: list[float] | None = None
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
