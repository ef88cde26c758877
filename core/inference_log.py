"""The inference log format: written by the scoring facade, tailed by the drift sidecar.

The log is a directory of JSON Lines segments named ``inference-<seq>.jsonl`` with a zero-padded,
ever-increasing sequence number. The writer appends to the highest segment and starts the next one
when it passes the size limit; it never renames a file, so a reader can remember ``(seq, offset)``
and resume exactly where it stopped. Old segments beyond the retention count are deleted by the
writer; a reader that falls that far behind skips to the oldest segment left and counts the loss.

Every record carries ``seq``, the row's number in the writer's sequence (one more than the row
before it, continued across restarts of the writer). Rows the writer could not keep (queue full,
full disk) and rows deleted by retention before they were read leave a gap in it, so a reader counts
lost rows exactly: ``seq - (previous seq + 1)``. A ``seq`` not above the previous one means the log
was started afresh (an emptied directory); it is not a loss.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict

SHADOW_SUBDIR: Final = "shadow"
"""Where a candidate's shadow scores go, under the inference log directory (``scoring.shadow``)."""
SEGMENT_PREFIX: Final = "inference-"
SEGMENT_SUFFIX: Final = ".jsonl"
SEGMENT_DIGITS: Final = 10
_SEGMENT_RE: Final = re.compile(rf"^{SEGMENT_PREFIX}(\d{{{SEGMENT_DIGITS}}}){re.escape(SEGMENT_SUFFIX)}$")

DEFAULT_SEGMENT_BYTES: Final = 16 * 1024 * 1024
DEFAULT_RETAINED_SEGMENTS: Final = 8


class InferenceRecord(BaseModel):
    """One scored input, one line of the log."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: int | None = None
    """The row's number in the writer's sequence (absent in logs written before it existed)."""
    ts: float
    """Unix time (seconds) at which the facade scored the row."""
    model_version: str
    features: dict[str, float]
    """Model input columns (``core.contract.MODEL_FEATURES``) and their values."""
    anomaly_score: float
    is_anomaly: bool
    machine_id: str | None = None
    event_timestamp: float | None = None
    """Event time of the features (Unix seconds) when they came from the online store."""
    top_features: list[dict[str, str | float]] | None = None
    """The features that drove the score, highest contribution first: ``feature``, ``sensor``,
    ``contribution`` (as in the ``/predict`` answer); absent when the model carries no attribution."""


def segment_name(seq: int) -> str:
    return f"{SEGMENT_PREFIX}{seq:0{SEGMENT_DIGITS}d}{SEGMENT_SUFFIX}"


def segment_seq(path: Path) -> int | None:
    """Sequence number of a segment file, or None for any other file."""
    m = _SEGMENT_RE.match(path.name)
    return int(m.group(1)) if m else None


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """Segments in the directory, oldest first."""
    if not directory.is_dir():
        return []
    found = [(seq, p) for p in directory.iterdir() if (seq := segment_seq(p)) is not None]
    return sorted(found)


_SEQ_RE: Final = re.compile(rb'"seq":(\d+)')


def last_seq(data: bytes) -> int | None:
    """``seq`` of the last complete line of a segment's bytes, or None (no line, or none numbered)."""
    end = data.rfind(b"\n")
    if end < 0:
        return None
    start = data.rfind(b"\n", 0, end) + 1
    m = _SEQ_RE.search(data, start, end)
    return int(m.group(1)) if m else None
