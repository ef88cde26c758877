"""NAB scoring of changepoint detections (Lavin & Ahmad, "Evaluating real-time anomaly detection
algorithms: the Numenta Anomaly Benchmark", 2015), as SKAB applies it to changepoints.

Each true changepoint opens a window to its right (SKAB: 60 s); when windows overlap, the earlier one
ends where the next begins. Within a window only the first detection counts, with the scaled sigmoid
``sigma(y) = 2 / (1 + exp(5 y)) - 1`` of its relative position ``y = (t - end) / (end - start)``
(``y = -1`` at the changepoint: about +0.987; ``y = 0`` at the end: 0), times ``A_tp``. A detection
outside every window is a false positive: ``A_fp * sigma(y)`` with ``y`` its distance after the end of
the preceding window in that window's lengths (so between 0 and -A_fp), or ``-A_fp`` before the first
window. Each window without a detection costs ``A_fn``. The raw score is normalised between the null
detector (no detections, ``-A_fn`` per window) and the perfect one (a detection at every changepoint):
``100 * (S - S_null) / (S_perfect - S_null)``; over many files the raw scores are summed first.

SKAB's leaderboard is computed with its own variant (``tsad``'s ``scale_func="improved"``, the only one
it ships): inside a window the first detection earns ``A_tp`` at the changepoint falling to ``-A_fp``
at the window's end along ``tanh`` over ``[-pi/2, pi/2]``; every false positive costs the full
``A_fp``; the perfect detector earns ``A_tp`` per window. ``scale="skab"`` computes that one, so
figures compare with SKAB's table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

Scale = Literal["nab", "skab"]


@dataclass(frozen=True)
class Profile:
    tp: float
    fp: float
    fn: float


PROFILES: Final = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "low_fp": Profile(tp=1.0, fp=0.22, fn=1.0),
    "low_fn": Profile(tp=1.0, fp=0.11, fn=2.0),
}


def sigmoid(y: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass
class RawScore:
    """Sums over files: the detector's, the null detector's and the perfect detector's."""

    score: float = 0.0
    null: float = 0.0
    perfect: float = 0.0
    detected: int = 0
    missed: int = 0
    false_positives: int = 0

    def add(self, other: RawScore) -> None:
        self.score += other.score
        self.null += other.null
        self.perfect += other.perfect
        self.detected += other.detected
        self.missed += other.missed
        self.false_positives += other.false_positives

    @property
    def normalised(self) -> float:
        span = self.perfect - self.null
        return 100.0 * (self.score - self.null) / span if span else 0.0


def windows(changepoints: Sequence[float], width: float) -> list[tuple[float, float]]:
    """``[cp, cp + width]`` to the right of each changepoint, cut where the next one begins."""
    cps = sorted(changepoints)
    out = []
    for i, cp in enumerate(cps):
        end = cp + width
        if i + 1 < len(cps):
            end = min(end, cps[i + 1])
        out.append((cp, end))
    return out


def skab_tp(relative: float, profile: Profile) -> float:
    """SKAB's in-window score at ``relative`` position (0 at the changepoint, 1 at the window end)."""
    x = -math.pi / 2 + math.pi * min(max(relative, 0.0), 1.0)
    half = (profile.tp + profile.fp) / 2
    return half * -math.tanh(x) / math.tanh(math.pi / 2) + half - profile.fp


def score_file(
    changepoints: Sequence[float],
    detections: Sequence[float],
    width: float,
    profile: Profile,
    scale: Scale = "nab",
) -> RawScore:
    """Raw NAB score of one file (times in seconds, any origin)."""
    wins = windows(changepoints, width)
    raw = RawScore()
    raw.null = -profile.fn * len(wins)
    raw.perfect = profile.tp * (sigmoid(-1.0) if scale == "nab" else 1.0) * len(wins)
    first: dict[int, float] = {}
    for t in sorted(detections):
        inside = next((i for i, (s, e) in enumerate(wins) if s <= t <= e), None)
        if inside is not None:
            first.setdefault(inside, t)
            continue
        before = [i for i, (_, e) in enumerate(wins) if e < t]
        raw.false_positives += 1
        if not before or scale == "skab":
            raw.score -= profile.fp
        else:
            s, e = wins[before[-1]]
            y = (t - e) / (e - s) if e > s else 1.0
            raw.score += profile.fp * sigmoid(y)
    for i, (s, e) in enumerate(wins):
        if i in first:
            y = (first[i] - e) / (e - s) if e > s else -1.0
            raw.score += profile.tp * sigmoid(y) if scale == "nab" else skab_tp(1.0 + y, profile)
            raw.detected += 1
        else:
            raw.score -= profile.fn
            raw.missed += 1
    return raw


def nab_scores(
    files: Sequence[tuple[Sequence[float], Sequence[float]]], width: float, scale: Scale = "nab"
) -> dict[str, RawScore]:
    """Per profile, the summed raw scores of ``(changepoints, detections)`` pairs, one per file."""
    out = {}
    for name, profile in PROFILES.items():
        total = RawScore()
        for cps, dets in files:
            total.add(score_file(cps, dets, width, profile, scale))
        out[name] = total
    return out
