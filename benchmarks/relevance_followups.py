"""Follow-up questions over the relevance corpus (:mod:`benchmarks.relevance_corpus`): pure data.

Each :class:`FollowUp` is a two-turn conversation about one talk: a first question, then a
follow-up that only makes sense after it ("and how long after that?"), with the sentence that
answers the follow-up, copied verbatim from the talk. Written before any follow-up handling was
built or measured, like the corpus; the benchmark asks the first question, then the follow-up in
the same conversation, and checks the offline answer's first citation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FollowUp:
    talk: str
    first: str
    follow_up: str
    answer: str
    """The sentence of ``TALKS[talk]`` that answers ``follow_up``."""


FOLLOW_UPS: list[FollowUp] = [
    FollowUp(
        "soup",
        "How long do I fry the onion for?",
        "And which spices go in after that?",
        "Stir in a teaspoon of ground cumin and a pinch of smoked paprika.",
    ),
    FollowUp(
        "soup",
        "What do I do once everything is boiling?",
        "And how long after that?",
        "Let the pot simmer gently for 25 minutes with the lid slightly open.",
    ),
    FollowUp(
        "faucet",
        "Which part usually wears out?",
        "Where do I get a new one?",
        "Take the old washer with you to the hardware store, so that you can buy a new one of the same size.",
    ),
    FollowUp(
        "garden",
        "Who is the oldest member of the garden?",
        "How big was his best one?",
        "His largest pumpkin weighed 212 pounds and won first prize at the county fair.",
    ),
    FollowUp(
        "train",
        "When did the train leave?",
        "And when did it get in?",
        "We finally pulled into the station at 9 o'clock at night, 50 minutes behind schedule.",
    ),
    FollowUp(
        "museum",
        "How long does a guided tour take?",
        "And how long for everything?",
        "Most visitors need about 3 hours to see everything.",
    ),
    FollowUp(
        "fitness",
        "How many squats are in a round?",
        "And how long is the break after it?",
        "After each round I rest for 90 seconds and have a glass of water.",
    ),
    FollowUp(
        "bookshop",
        "What do the books cost?",
        "And what is their biggest expense?",
        "Rent is our biggest cost, and it eats almost half of what we earn each month.",
    ),
    FollowUp(
        "bookshop",
        "Who did they hire?",
        "How many hours does she work?",
        "We hired our first employee, a student named Lucy, who works 12 hours a week.",
    ),
    FollowUp(
        "museum",
        "What stands in the main hall?",
        "When were its bones found?",
        "Farmers dug up its bones in 1923, and it took 11 years to put them together.",
    ),
]
