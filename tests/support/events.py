"""Stream events as a worker publishes them, small (for tests and benchmarks that publish events
themselves instead of running the worker)."""

from __future__ import annotations

from vidsage.contracts.events import VideoIngested


def ingested(video_id: str, owner: str) -> VideoIngested:
    """A small ``ingested`` event of ``video_id`` (keys and media facts are placeholders)."""
    return VideoIngested(
        video_id=video_id,
        owner=owner,
        source_key="s",
        thumbnail_key="t",
        audio_key=None,
        duration_s=1,
        width=2,
        height=2,
        video_codec="h264",
        has_audio=False,
    )
