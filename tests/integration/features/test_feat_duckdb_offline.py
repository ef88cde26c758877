"""The DuckDB offline store behind historical features: repo-relative directory, tie-breaks, the CWD."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.contract import CREATED_TIMESTAMP, ENTITY_KEY, EVENT_TIMESTAMP, VIBRATION
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS
from features.relative import windows_of
from features.store import apply, historical_features, open_store

MEAN = f"{VIBRATION.name}_mean"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    """Run the test from a directory that is not the data directory (relative paths must not care)."""
    cwd = Path.cwd()
    other = tmp_path / "elsewhere"
    other.mkdir()
    os.chdir(other)
    try:
        yield other
    finally:
        os.chdir(cwd)


def _write_raw(layout: DataLayout, name: str, windows: pd.DataFrame) -> None:
    """Write a parquet file straight into the offline directory (no merge), as another writer might."""
    layout.windows_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(windows[list(WINDOW_COLUMNS)], preserve_index=False)
    pq.write_table(table, layout.windows_dir / name)


def test_two_revisions_of_a_window_resolve_to_the_newest_created_from_any_cwd(
    layout: DataLayout,
    day: datetime,
    hour_readings: Callable[..., pd.DataFrame],
    elsewhere: Path,
) -> None:
    created = day + timedelta(days=1)
    old = windows_of(hour_readings("m", 0, 1.0), created_at=created)
    new = windows_of(hour_readings("m", 0, 7.0), created_at=created + timedelta(minutes=1))
    assert old[EVENT_TIMESTAMP].tolist() == new[EVENT_TIMESTAMP].tolist()
    # the newer revision sits in the file that sorts first, so file order cannot decide the tie
    _write_raw(layout, "a-new.parquet", new)
    _write_raw(layout, "b-old.parquet", old)
    # a merge's temporary file and a non-parquet file in the directory are never read
    # (it holds a still newer revision, which would win if it were read)
    hidden = windows_of(hour_readings("m", 0, 99.0), created_at=created + timedelta(hours=1))
    _write_raw(layout, ".windows-x.parquet", hidden)
    (layout.windows_dir / ".lock").write_bytes(b"")
    store = open_store(layout)
    apply(store)

    end = new[EVENT_TIMESTAMP].iloc[0]
    rows = pd.DataFrame(
        {ENTITY_KEY: ["m", "m", "unknown"], EVENT_TIMESTAMP: [end, end + timedelta(minutes=5), end]}
    )
    out = historical_features(store, rows)

    assert out[MEAN].iloc[:2].tolist() == [7.0, 7.0]
    assert pd.isna(out[MEAN].iloc[2])  # a machine the store has never seen
    assert new[CREATED_TIMESTAMP].iloc[0] > old[CREATED_TIMESTAMP].iloc[0]
