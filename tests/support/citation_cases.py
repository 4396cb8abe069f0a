"""A labelled set for the citation support check: answer sentences as a language model writes them,
each citing one sentence of a talk of the relevance corpus correctly, shifted by one, or invented.

Import as ``from tests.support.citation_cases import CLAIMS, cases``. Shared by the chat test
(``tests/integration/test_chat_support.py``, through the OpenAI-compatible test server) and
``python -m benchmarks relevance`` (precision and recall of the check).

* :data:`CLAIMS`: ``(talk, claim, index)``: ``claim`` is one sentence of an answer, written like a
  model's paraphrase, and ``index`` is the sentence of ``benchmarks.relevance_corpus.sentences(talk)``
  that supports it. Written before the check was built or tuned.
* :func:`cases`: each claim three ways: citing its own sentence (supported), the next sentence (the
  one before, for the last) — "shifted by one segment" — and a sentence 7 further on, wrapping
  round — "invented" (a real time of the video, so the citation survives the mapping to segments;
  an invented time that matches nothing is already dropped).
* :func:`transcript_segments`: the talk as a stored transcript, one segment per sentence, 5 s each,
  so a case's cited sentence ``i`` is at ``[mm:ss]`` of ``5 * i`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchmarks.relevance_corpus import sentences
from vidsage.contracts.transcript import Segment

SEGMENT_S = 5.0

CLAIMS: list[tuple[str, str, int]] = [
    ("soup", "The recipe makes enough soup for six people.", 0),
    ("soup", "You rinse the lentils with cold water until it runs clear.", 2),
    ("soup", "The onion needs about eight minutes to get soft.", 5),
    ("soup", "The spices are cumin and smoked paprika.", 6),
    ("soup", "It simmers for 25 minutes with the lid partly open.", 9),
    ("soup", "If you forget to stir, the lentils stick and burn.", 10),
    ("soup", "A splash of hot water thins soup that has become too thick.", 12),
    ("soup", "Lemon juice goes in at the end to brighten the flavors.", 13),
    ("soup", "Serve it with yogurt and toasted bread.", 14),
    ("soup", "Leftovers last four days in the fridge.", 15),
    ("soup", "It can be frozen for up to three months.", 16),
    ("soup", "The speaker's grandmother made it on Sundays in winter.", 17),
    ("faucet", "A leaking faucet can waste over 20 gallons a week.", 0),
    ("faucet", "First shut off the water with the valves under the sink.", 1),
    ("faucet", "A towel in the sink stops small screws from going down the drain.", 3),
    ("faucet", "The decorative cap comes off with a flat screwdriver.", 4),
    ("faucet", "The worn-out part is usually the rubber washer.", 6),
    ("faucet", "Bring the old washer to the store to match the size.", 7),
    ("faucet", "Washers are cheap: a packet costs less than a coffee.", 8),
    ("faucet", "Plumber's tape goes on the threads before the handle.", 9),
    ("faucet", "Over-tightening can crack the brass fittings.", 11),
    ("faucet", "The repair takes about half an hour.", 13),
    ("faucet", "If it still drips, the valve seat may be damaged and you should call a plumber.", 14),
    ("faucet", "Silicone needs a full day to set before the shower is used.", 16),
    ("museum", "The museum opened in 1908.", 0),
    ("museum", "It is closed on Mondays and open from 9 to 5 otherwise.", 1),
    ("museum", "Admission is free on the first Sunday of the month.", 2),
    ("museum", "The dinosaur skeleton in the main hall is 26 meters long.", 3),
    ("museum", "Its bones were found by farmers in 1923.", 4),
    ("museum", "The mineral room has over 800 rocks and crystals.", 5),
    ("museum", "The butterfly greenhouse is kept at 85 degrees.", 6),
    ("museum", "Flash is banned because it fades the paintings.", 7),
    ("museum", "Children can handle fossils at the discovery table.", 9),
    ("museum", "Tours leave every hour and take about 45 minutes.", 10),
    ("museum", "The top floor restaurant looks out over the harbor.", 11),
    ("museum", "Big bags go in the lockers by the entrance.", 12),
]

Kind = Literal["correct", "shifted", "invented"]


@dataclass(frozen=True)
class Case:
    talk: str
    claim: str
    kind: Kind
    cited: int
    """The sentence (segment) of the talk the claim cites."""

    @property
    def supported(self) -> bool:
        return self.kind == "correct"

    @property
    def marker(self) -> str:
        seconds = int(self.cited * SEGMENT_S)
        return f"[{seconds // 60:02d}:{seconds % 60:02d}]"


def cases() -> list[Case]:
    """Every claim cited correctly, shifted by one and invented (see the module docstring)."""
    out: list[Case] = []
    for talk, claim, index in CLAIMS:
        n = len(sentences(talk))
        shifted = index + 1 if index + 1 < n else index - 1
        out += [
            Case(talk, claim, "correct", index),
            Case(talk, claim, "shifted", shifted),
            Case(talk, claim, "invented", (index + 7) % n),
        ]
    return out


def transcript_segments(talk: str) -> list[Segment]:
    """The talk as stored transcript segments: one per sentence, :data:`SEGMENT_S` seconds each."""
    return [
        Segment(id=i, start=i * SEGMENT_S, end=(i + 1) * SEGMENT_S, text=text)
        for i, text in enumerate(sentences(talk))
    ]
