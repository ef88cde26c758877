"""The offline store's day files: one parquet file per UTC day of window ends.

Offline layout: one parquet file per UTC day of window ends under ``layout.windows_dir``
(``windows-YYYY-MM-DD.parquet``), holding exactly one row per (machine, window): the newest
revision. A write merges its windows into the day files it touches (read, replace, write under a dot
name, rename into place), under an exclusive lock file, so readers never see half a file and
concurrent writers never lose each other's rows. Feast's offline store reads the directory as one
dataset: its DuckDB store (:mod:`features.duckdb_offline`, ~20x faster point-in-time joins than the
file store's dask; ``type: file`` still works). Why not one append-only file per batch: a window
revised by a late reading would then sit in two files with the same ``event_timestamp``, and
Feast's dask offline store does not break that tie by ``created_timestamp`` reliably (it sorts
twice with an unstable sort), so a point-in-time join could return the stale revision. A live batch
touches one or two day files of ``machines x 24`` rows each, a few milliseconds to rewrite.

On ADLS Gen2 the ingest workers write a day as parts, one per Event Hubs partition
(``windows-YYYY-MM-DD.partition-<id>.parquet``, :data:`DAY_PART_FILE`, :mod:`ingest.offline_blob`):
a machine's readings stay in one partition, so each (machine, window) is still one row of one file,
and writers of different partitions never touch the same file. Every reader here takes the
directory's ``*.parquet`` files, so it reads a mounted container's parts as it reads day files, and
merges what it reads with :func:`latest_revisions` (newest ``created_timestamp`` per window wins).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from core.contract import (
    BASELINE_IS_COLD,
    CREATED_TIMESTAMP,
    DAY_NS,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    IS_SPARSE,
    READING_COUNT,
)
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS, empty_windows
from features.errors import NoOfflineData

if TYPE_CHECKING:
    import pyarrow as pa

_OFFLINE_SUFFIX: Final = ".parquet"


def offline_schema() -> pa.Schema:
    """The Arrow schema of an offline day file."""
    return _arrow_schema()


def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    ts = pa.timestamp("ns", tz="UTC")
    types = {ENTITY_KEY: pa.string(), READING_COUNT: pa.int64(), IS_SPARSE: pa.bool_()}
    types |= {BASELINE_IS_COLD: pa.bool_(), EVENT_TIMESTAMP: ts, "window_start": ts, CREATED_TIMESTAMP: ts}
    return pa.schema([pa.field(c, types.get(c, pa.float64())) for c in WINDOW_COLUMNS])


DAY_FILE: Final = "windows-{day}.parquet"
"""An offline day file's name (``day``: YYYY-MM-DD of its windows' ends)."""
DAY_PART_FILE: Final = "windows-{day}.partition-{part}.parquet"
"""One part of a day file (ADLS Gen2): the windows of the machines of Event Hubs partition ``part``."""
_DAY_START: Final = len(DAY_FILE.split("{", 1)[0])


def day_of_file(name: str) -> str:
    """The day (``YYYY-MM-DD``) of a day file's or a day part's name (bare, or a blob name)."""
    base = name.rsplit("/", 1)[-1]
    return base[_DAY_START : _DAY_START + len("YYYY-MM-DD")]


@contextmanager
def _offline_lock(layout: DataLayout) -> Iterator[None]:
    """An exclusive lock on the offline store for one read-modify-write (POSIX ``flock``)."""
    import fcntl

    layout.windows_dir.mkdir(parents=True, exist_ok=True)
    with open(layout.windows_dir / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def day_names(timestamps: pd.Series) -> np.ndarray[Any, np.dtype[Any]]:
    """The UTC day (``YYYY-MM-DD``, a day file's) of each of tz-aware ``timestamps``, formatted once
    per distinct day (``strftime`` of every row was a third of a worker's flush)."""
    days, inverse = np.unique(pd.DatetimeIndex(timestamps).as_unit("ns").asi8 // DAY_NS, return_inverse=True)
    names = [pd.Timestamp(int(d) * DAY_NS, tz="UTC").strftime("%Y-%m-%d") for d in days]
    return np.asarray(names, dtype=object)[inverse.reshape(-1)]


def write_offline(layout: DataLayout, windows: pd.DataFrame) -> list[Path]:
    """Merge windows into the offline store (newest ``created_timestamp`` wins per window); returns
    the day files written. See the module docstring for the layout."""
    if len(windows) == 0:
        return []
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema()
    frame = windows[list(WINDOW_COLUMNS)]
    written = []
    with _offline_lock(layout):
        for day, part in frame.groupby(day_names(frame[EVENT_TIMESTAMP]), sort=True):
            path = layout.windows_dir / DAY_FILE.format(day=day)
            if path.exists():
                existing = pq.read_table(path, schema=schema).to_pandas()
                part = latest_revisions(pd.concat([existing, part], ignore_index=True))
            else:
                part = latest_revisions(part)
            table = pa.Table.from_pandas(part[list(WINDOW_COLUMNS)], schema=schema, preserve_index=False)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
            pq.write_table(table, tmp, compression="snappy")
            tmp.replace(path)
            written.append(path)
    return written


class DayFileAppender:
    """Bulk writes in time order (history ingest): each day file is written once, a row group per
    :meth:`write`, instead of being read, merged and rewritten for every chunk (at 2,000 machines a
    day file is 48,000 rows and a chunk two hours). A day goes into place (dot name, rename, under
    the lock) when a later day starts or at :meth:`close`; a day file that already exists, before or
    meanwhile, is merged as :func:`write_offline` does. The windows written must not repeat a
    (machine, window) and must come in time order (a day is never written again once closed)."""

    def __init__(self, layout: DataLayout) -> None:
        self._layout = layout
        self._day: str | None = None
        self._writer: Any = None  # pyarrow.parquet.ParquetWriter of the open day, if new
        self._tmp: Path | None = None
        self._schema = _arrow_schema()

    def write(self, windows: pd.DataFrame) -> list[Path]:
        """Add windows; returns the day files they go to (in place once closed)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if len(windows) == 0:
            return []
        frame = windows[list(WINDOW_COLUMNS)]
        paths = []
        for day, part in frame.groupby(day_names(frame[EVENT_TIMESTAMP]), sort=True):
            path = self._layout.windows_dir / DAY_FILE.format(day=day)
            if str(day) != self._day:
                self.close()
                self._day = str(day)
                if not path.exists():
                    self._layout.windows_dir.mkdir(parents=True, exist_ok=True)
                    self._tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
                    self._writer = pq.ParquetWriter(self._tmp, self._schema, compression="snappy")
            if self._writer is None:  # the day was there before: merge, as a live write does
                write_offline(self._layout, part)
            else:
                self._writer.write_table(
                    pa.Table.from_pandas(part, schema=self._schema, preserve_index=False)
                )
            paths.append(path)
        return paths

    def close(self) -> None:
        """Put the open day file in place."""
        writer, tmp, day = self._writer, self._tmp, self._day
        self._writer = self._tmp = self._day = None
        if writer is None or tmp is None or day is None:
            return
        writer.close()
        path = self._layout.windows_dir / DAY_FILE.format(day=day)
        with _offline_lock(self._layout):
            if not path.exists():
                tmp.replace(path)
                return
        import pyarrow.parquet as pq

        # written meanwhile (a live ingest beside the history): merge like any write
        write_offline(self._layout, pq.read_table(tmp, schema=self._schema).to_pandas())
        tmp.unlink()


def offline_files(layout: DataLayout) -> list[Path]:
    """The offline store's parquet files (day files and day parts), oldest day first."""
    if not layout.windows_dir.is_dir():
        return []
    return sorted(
        p for p in layout.windows_dir.iterdir() if p.suffix == _OFFLINE_SUFFIX and not p.name.startswith(".")
    )


def latest_revisions(windows: pd.DataFrame) -> pd.DataFrame:
    """Keep the newest revision (latest ``created_timestamp``) of every (machine, window)."""
    ordered = windows.sort_values([ENTITY_KEY, EVENT_TIMESTAMP, CREATED_TIMESTAMP], kind="stable")
    return ordered.drop_duplicates([ENTITY_KEY, EVENT_TIMESTAMP], keep="last").reset_index(drop=True)


def read_offline(
    layout: DataLayout, *, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """Every window in the offline store (day files and day parts merged, newest revision each),
    optionally with ``start <= event_timestamp < end``, sorted by machine and event time. Raises
    :class:`NoOfflineData` when there are no files."""
    import pyarrow.dataset as ds

    files = offline_files(layout)
    if not files:
        raise NoOfflineData(str(layout.windows_dir))
    dataset = ds.dataset([str(p) for p in files], schema=_arrow_schema(), format="parquet")
    cond = None
    if start is not None:
        cond = ds.field(EVENT_TIMESTAMP) >= pd.Timestamp(start).tz_convert("UTC")
    if end is not None:
        upper = ds.field(EVENT_TIMESTAMP) < pd.Timestamp(end).tz_convert("UTC")
        cond = upper if cond is None else cond & upper
    frame = dataset.to_table(filter=cond).to_pandas()
    if len(frame) == 0:
        return empty_windows()
    return latest_revisions(frame)[list(WINDOW_COLUMNS)]
