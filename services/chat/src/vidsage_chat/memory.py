"""Conversation memory in the shared cache bucket (24 h TTL), per conversation id and scope.

Keys (:func:`vidsage.contracts.names.conversation_cache_key`):
``video.<video_id>.chat.<owner>.<conversation_id>`` for a video (so deleting the video forgets its
conversations with the rest of its cache) and
``chat.library.<owner>.<conversation_id>`` for the library: a conversation is its tenant's, and
another tenant sending the same id starts an empty one.
Only the questions and answers are kept, never the transcript, bounded by a message count and a
character budget (the newest messages win). An answer also records the video its first citation
is from (``video_id``), where a follow-up in library chat looks first.
"""

from __future__ import annotations

from vidsage.cache import Cache
from vidsage.contracts.names import conversation_cache_key
from vidsage_chat.prompt import Message


def bounded(messages: list[Message], max_messages: int, max_chars: int) -> list[Message]:
    """The newest messages within both limits, starting at a question (never an orphan answer)."""
    kept: list[Message] = []
    used = 0
    for msg in reversed(messages[-max_messages:] if max_messages else []):
        used += len(msg["content"])
        if used > max_chars:
            break
        kept.append(msg)
    kept.reverse()
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return kept


class Memory:
    def __init__(self, cache: Cache, max_messages: int, max_chars: int) -> None:
        self.cache = cache
        self.max_messages = max_messages
        self.max_chars = max_chars

    async def context(
        self, owner: str, video_id: str | None, conversation_id: str
    ) -> tuple[list[Message], str | None]:
        """The conversation so far (bounded) and the video the last answer cited first (None: none)."""
        data = await self.cache.get(conversation_cache_key(owner, video_id, conversation_id), fresh=True)
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            return [], None
        messages = [
            {"role": m["role"], "content": m["content"]}
            for m in data["messages"]
            if isinstance(m, dict)
            and m.get("role") in ("user", "assistant")
            and isinstance(m.get("content"), str)
        ]
        cited = data.get("cited_video")
        return bounded(messages, self.max_messages, self.max_chars), cited if isinstance(cited, str) else None

    async def history(self, owner: str, video_id: str | None, conversation_id: str) -> list[Message]:
        """The conversation so far (bounded), for the language model."""
        return (await self.context(owner, video_id, conversation_id))[0]

    async def append(
        self,
        owner: str,
        video_id: str | None,
        conversation_id: str,
        question: str,
        answer: str,
        cited_video: str | None = None,
    ) -> None:
        messages = await self.history(owner, video_id, conversation_id)
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        kept = bounded(messages, self.max_messages, self.max_chars)
        data: dict[str, object] = {"messages": kept}
        if cited_video is not None:
            data["cited_video"] = cited_video
        await self.cache.set(conversation_cache_key(owner, video_id, conversation_id), data)
