"""The tail file: raw readings of the windows still open, so a live Ingestor continues them.

Written by the bulk history path (the readings that can still change a window once live ingest
continues) and by every :class:`~features.ingest.Ingestor` checkpoint (the aggregator's open
windows); read by a starting Ingestor before it replays its write-ahead log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from core.contract import ENTITY_KEY, LATE_GRACE, TIMESTAMP, WINDOW
from core.layout import DataLayout
from features.validate import READING_COLUMNS
from features.wal import fsync_file

TAIL_FILE: Final = "ingest-tail.parquet"
"""Under ``layout.telemetry_dir``: the raw readings of the last ``LATE_GRACE + WINDOW`` per machine."""


def tail_of(clean: pd.DataFrame) -> pd.DataFrame:
    """Readings that can still change a window once live ingest continues (per machine: the last
    ``LATE_GRACE + WINDOW`` before its newest reading)."""
    if len(clean) == 0:
        return clean
    newest = clean.groupby(ENTITY_KEY)[TIMESTAMP].transform("max")
    return clean.loc[clean[TIMESTAMP] >= newest - (LATE_GRACE + WINDOW)]


def read_tail(layout: DataLayout) -> pd.DataFrame | None:
    """The tail's readings in time order, or None when there is none."""
    path = layout.telemetry_dir / TAIL_FILE
    if not path.is_file():
        return None
    tail = pd.read_parquet(path)
    if len(tail) == 0:
        return None
    return tail.sort_values(TIMESTAMP, kind="stable")[list(READING_COLUMNS)]


def write_tail(layout: DataLayout, tail: pd.DataFrame, *, durable: bool = False) -> Path:
    """Replace the tail file atomically; ``durable`` also fsyncs it (before the log it covers goes)."""
    layout.telemetry_dir.mkdir(parents=True, exist_ok=True)
    path = layout.telemetry_dir / TAIL_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tail[list(READING_COLUMNS)].to_parquet(tmp, index=False)
    if durable:
        fsync_file(tmp)
    tmp.replace(path)
    if durable:
        fsync_file(path)
    return path
