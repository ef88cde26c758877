"""What the live loop observes: every score, every drift verdict, every /predict outcome.

The report, the alert-quality figures and ``summary.json`` are computed from this record only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class ScoreRow:
    sim_time: datetime
    machine_id: str
    anomaly_score: float
    is_anomaly: bool
    threshold: float
    model_version: str
    top_features: list[dict[str, object]] | None = None
    """The /predict answer's explanation: feature, sensor, contribution (highest first)."""


@dataclass(frozen=True)
class DriftRow:
    sim_time: datetime
    wall_s: float
    detected: bool | None
    """None while the sidecar has no verdict (window too small, no reference)."""
    share: float | None
    share_threshold: float | None
    columns: dict[str, float]
    """Drift score per feature."""
    column_thresholds: dict[str, float]
    model_version: str | None
    reference_hash: str | None
    window_rows: int | None


@dataclass(frozen=True)
class FailureEvent:
    machine_id: str
    failure_time: datetime
    mode: str
    onset_time: datetime | None


@dataclass
class PredictStats:
    requests: int = 0
    rows: int = 0
    failed: int = 0
    """Requests that did not answer 200 (or raised)."""
    failed_rows: int = 0
    stale_rows: int = 0
    """Rows answered without a score because their features were stale or missing."""
    failed_during_swap: int = 0
    errors: list[str] = field(default_factory=list)

    def note_error(self, message: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(message)


@dataclass
class RunRecord:
    """Mutable record of one run; appended to by the loop (one thread) and read at the end."""

    live_start: datetime | None = None
    live_end: datetime | None = None
    drift_onset: datetime | None = None
    scores: list[ScoreRow] = field(default_factory=list)
    drift: list[DriftRow] = field(default_factory=list)
    failures: list[FailureEvent] = field(default_factory=list)
    predict: PredictStats = field(default_factory=PredictStats)
    served_versions: list[tuple[datetime, str]] = field(default_factory=list)
    """(sim time, version) whenever the facade's /model answered a new version."""
    peak: DriftRow | None = None
    evidently_report: Path | None = None
    retrains: list[dict[str, object]] = field(default_factory=list)
    clock: list[tuple[datetime, float]] = field(default_factory=list)
    """(simulated hour, wall seconds since the start) of every live hour."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wall_at(self, sim_time: datetime) -> float | None:
        """Wall seconds at which the live loop reached ``sim_time`` (the first hour at or after it)."""
        for when, wall in self.clock:
            if when >= sim_time:
                return wall
        return self.clock[-1][1] if self.clock else None

    def note_version(self, sim_time: datetime, version: str) -> bool:
        """Remember the served version; True when it changed."""
        if self.served_versions and self.served_versions[-1][1] == version:
            return False
        self.served_versions.append((sim_time, version))
        return True
