"""Where Whisper looks: speech found by voice activity detection, merged into windows of at most
30 s (Whisper's input), and those windows shared out among the inference workers.

Pure functions over sample indices; the VAD itself (Silero, bundled with faster-whisper) runs in
:meth:`vidsage_transcriber.engine.Engine.prepare`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Samples ``[start, end)`` of the audio."""

    start: int
    end: int


def merge_speech(
    speech: Sequence[Span], *, max_samples: int, pad_samples: int, sample_rate: int
) -> list[Span]:
    """Merge speech segments (as Silero VAD returns them, padded) into windows of at most
    ``max_samples``, each from the start of its first segment to the end of its last one, the
    pauses between them included.

    The rule the peer (speaches) applies before passing the windows to faster-whisper as
    ``clip_timestamps``: where two padded neighbours overlap, the padding on that side is taken
    back; a window closes when the next segment would end more than ``max_samples`` after the
    window's start. The bounds then go through faster-whisper's own clip arithmetic (seconds,
    then ``int(seconds * rate)``), so the windows are sample for sample the ones the library cuts
    from the same clip timestamps.
    """
    windows: list[Span] = []
    if not speech:
        return windows
    bounds = [[s.start, s.end] for s in speech]  # trimmed in place, as the rule reads them
    start, end = bounds[0][0], 0
    for i, seg in enumerate(bounds):
        if i > 0 and seg[0] < bounds[i - 1][1]:
            seg[0] += pad_samples
        if i + 1 < len(bounds) and seg[1] > bounds[i + 1][0]:
            seg[1] -= pad_samples
        if seg[1] - start > max_samples and end - start > 0:
            windows.append(Span(start, end))
            start = seg[0]
        end = seg[1]
    windows.append(Span(start, end))
    return [_as_clip(w, sample_rate) for w in windows]


def _as_clip(span: Span, rate: int) -> Span:
    """The span after a round trip through seconds, as faster-whisper cuts ``clip_timestamps``."""
    return Span(int(span.start / rate * rate), int(span.end / rate * rate))


def share(durations: Sequence[float], parts: int, *, fixed_cost: float) -> list[list[int]]:
    """Split window indices into at most ``parts`` groups of about equal work, longest first onto
    the least loaded group (each window costs ``fixed_cost`` plus its duration: the encoder's
    cost does not depend on the duration, the decoder's grows with it).

    Groups keep their windows in order and come in the order of their first window, so the group
    holding window 0 (from which the language is detected) is always first. Empty groups are
    dropped.
    """
    parts = max(1, min(parts, len(durations)))
    loads = [0.0] * parts
    groups: list[list[int]] = [[] for _ in range(parts)]
    for index in sorted(range(len(durations)), key=lambda i: (-durations[i], i)):
        target = min(range(parts), key=lambda g: (loads[g], g))
        groups[target].append(index)
        loads[target] += fixed_cost + durations[index]
    return sorted((sorted(g) for g in groups if g), key=lambda g: g[0])
