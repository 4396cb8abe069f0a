"""Follow-up questions: where to look when a question only makes sense after the one before.

"And how long after that?" or "How big was his best one?" lean on the conversation. Measured on the
follow-ups of ``benchmarks/relevance_followups.py`` (``python -m benchmarks relevance``), pasting the
previous question (and answer) into the search query does harm: the old topic outweighs the new
words and the previous answer comes back. What the conversation adds is *where*: a follow-up
(:func:`is_follow_up`) in library chat is searched as it is, within the video the previous answer
cited (the conversation's memory records it), and across the library only when nothing there is
relevant enough. A chat about one video is already scoped; a language model, when there is one,
also sees the whole conversation.
"""

from __future__ import annotations

import re

from vidsage_chat.citations import content_words

_OPENERS = re.compile(
    r"^\s*(and|but|so|also|then|plus|what about|how about|what else|what if|ok|okay)\b",
    re.IGNORECASE,
)
_REFERRING = re.compile(
    r"\b(it|its|it's|that|this|those|these|they|them|their|there|then|he|him|his|she|her|one|ones|"
    r"after that|before that|afterwards)\b",
    re.IGNORECASE,
)
MAX_OWN_WORDS = 4
"""A question with a referring word and at most this many content words of its own is a follow-up."""


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on the one before: it opens like a continuation ("And ...",
    "What about ..."), or it refers back ("it", "that", "his"...) with few words of its own."""
    if _OPENERS.match(question):
        return True
    return bool(_REFERRING.search(question)) and len(content_words(question)) <= MAX_OWN_WORDS


def look_first_in(question: str, cited_video: str | None) -> str | None:
    """The video to search first for ``question`` in library chat: the one the previous answer
    cited, when the question is a follow-up; None: search the whole library."""
    return cited_video if cited_video is not None and is_follow_up(question) else None
