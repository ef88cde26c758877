"""The tail file: raw readings of the windows still open, so a live Ingestor continues them.

Written by the bulk history path (the readings that can still change a window once live ingest
continues) and by every :class:`~features.ingest.Ingestor` checkpoint (the aggregator's open
windows); read by a starting Ingestor before it replays its write-ahead log.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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


def write_readings(readings: pd.DataFrame | pa.Table, sink: Path | IO[bytes]) -> None:
    """Readings (contract columns) as Parquet: the tail file, and an ingest worker's snapshot.
    Only the machine ids are dictionary-encoded: Arrow's default tries a dictionary for every
    column, which for sensor floats is wasted work (5-20x the write time of 100,000 readings)."""
    if isinstance(readings, pd.DataFrame):
        readings = pa.Table.from_pandas(readings[list(READING_COLUMNS)], preserve_index=False)
    pq.write_table(readings.select(list(READING_COLUMNS)), sink, use_dictionary=[ENTITY_KEY])


def read_readings(source: Path | IO[bytes]) -> pd.DataFrame:
    """What :func:`write_readings` wrote (or pandas' own Parquet of the same columns), in time
    order, ``machine_id`` as str."""
    readings: pd.DataFrame = pq.read_table(source).to_pandas()
    readings[ENTITY_KEY] = readings[ENTITY_KEY].astype(object)  # categorical when dictionary-encoded
    ordered: pd.DataFrame = readings.sort_values(TIMESTAMP, kind="stable")[list(READING_COLUMNS)]
    return ordered


def read_tail(layout: DataLayout) -> pd.DataFrame | None:
    """The tail's readings in time order, or None when there is none."""
    path = layout.telemetry_dir / TAIL_FILE
    if not path.is_file():
        return None
    tail = read_readings(path)
    return tail if len(tail) else None


def write_tail(layout: DataLayout, tail: pd.DataFrame | pa.Table, *, durable: bool = False) -> Path:
    """Replace the tail file atomically; ``durable`` also fsyncs it (before the log it covers goes)."""
    layout.telemetry_dir.mkdir(parents=True, exist_ok=True)
    path = layout.telemetry_dir / TAIL_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    write_readings(tail, tmp)
    if durable:
        fsync_file(tmp)
    tmp.replace(path)
    if durable:
        fsync_file(path)
    return path
