"""A tenant's usage and limits, as ``GET /api/usage`` shows them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Limits(BaseModel):
    """A tenant's limits; 0 is "no limit"."""

    quota_bytes: int = Field(ge=0, description="Stored bytes (the uploaded files' sizes).")
    quota_videos: int = Field(ge=0, description="Number of videos.")
    uploads_per_hour: int = Field(ge=0, description="Accepted uploads per clock hour.")
    requests_per_minute: int = Field(ge=0, description="Authenticated requests per clock minute.")


class Usage(BaseModel):
    """One tenant's usage against its limits."""

    owner: str
    bytes: int = Field(description="Bytes stored: the sum of the sizes of the tenant's videos.")
    videos: int
    reserved_bytes: int = Field(description="Bytes held by uploads in progress.")
    uploads_this_hour: int
    requests_this_minute: int
    limits: Limits


class UsageList(BaseModel):
    """``GET /api/usage?owner=*`` (admins): every tenant that has stored something."""

    items: list[Usage]
