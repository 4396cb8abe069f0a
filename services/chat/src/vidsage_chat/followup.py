"""Follow-up questions: what to search for when a question only makes sense after the one before.

"And how long after that?" alone matches any sentence with a duration in it. The conversation's
memory holds the earlier turns, so retrieval searches with the context: a question that reads as
a follow-up (:func:`is_follow_up`) is searched together with the previous question and the first
sentence of the previous answer; any other question is searched as it is, so changing the
subject is not dragged back.

The language model, when there is one, sees the whole conversation anyway; this is about what is
retrieved (library chat, and every offline answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vidsage_chat.citations import content_words
from vidsage_chat.prompt import Message

_OPENERS = re.compile(
    r"^\s*(and|but|so|also|then|plus|what about|how about|and what|and how|what else|why not|"
    r"what if|ok|okay)\b",
    re.IGNORECASE,
)
_REFERRING = re.compile(
    r"\b(it|its|it's|that|this|those|these|they|them|their|there|then|he|him|his|she|her|one|ones|"
    r"after that|before that|afterwards)\b",
    re.IGNORECASE,
)
MAX_OWN_WORDS = 4
"""A question with a referring word and at most this many content words of its own is a follow-up."""
_MARKER = re.compile(r"\[[^\[\]\n]{1,80}\]")
_CONTEXT_CHARS = 300


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on the one before: it opens like a continuation ("And ...",
    "What about ..."), or it refers back ("it", "that", "his"...) with few words of its own."""
    if _OPENERS.match(question):
        return True
    return bool(_REFERRING.search(question)) and len(content_words(question)) <= MAX_OWN_WORDS


def _first_sentence(answer: str) -> str:
    text = " ".join(_MARKER.sub(" ", answer).split())
    match = re.match(r".+?[.?!](?:\s|$)", text)
    return (match.group(0) if match else text)[:_CONTEXT_CHARS].strip()


def retrieval_query(question: str, history: Sequence[Message]) -> str:
    """What to search for: ``question``, preceded by the previous turn when it is a follow-up."""
    if not history or not is_follow_up(question):
        return question
    previous_q = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    previous_a = next((m["content"] for m in reversed(history) if m["role"] == "assistant"), "")
    context = " ".join(part for part in (previous_q[:_CONTEXT_CHARS], _first_sentence(previous_a)) if part)
    return f"{context} {question}".strip()
