"""The offline store on blob storage (ADLS Gen2 in Azure, Azurite here): the same day files.

Blobs are named as the local store's files relative to the data directory
(``offline/sensor_stats/windows-YYYY-MM-DD.parquet``), so an AzureML datastore on the container,
mounted as the data directory, is read by the same code (:func:`features.store.read_offline`).

Several workers merge into one day file (machines of one day sit in every partition), so a write
is an optimistic read-modify-write: download with its ETag, merge (newest ``created_timestamp`` per
window wins, :func:`features.store.latest_revisions`), upload only if the blob is unchanged
(``If-Match``; ``If-None-Match: *`` for a new file), and redo on conflict. This is why it talks to
the blob endpoint with ``azure-storage-blob`` rather than through ``adlfs``: fsspec has no
conditional write. The blob API is served by ADLS Gen2 accounts too (multi-protocol access), and
Azurite has no dfs endpoint at all, so the code tested here is the code that runs in Azure.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pandas as pd

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS, empty_windows
from features.store import DAY_FILE, day_names, latest_revisions, offline_schema
from ingest.errors import OfflineWriteConflict

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

OFFLINE_PREFIX: Final = DataLayout(Path("/")).windows_dir.relative_to("/").as_posix()
"""Folder of the day files in the container: the local layout's, relative to the data directory."""
MAX_WRITE_ATTEMPTS: Final = 50
"""Conflicting writers retry a day file this often; each retry means another writer succeeded."""
_DAY_START: Final = len(DAY_FILE.split("{", 1)[0])


def day_blob(day: str) -> str:
    return f"{OFFLINE_PREFIX}/{DAY_FILE.format(day=day)}"


def _day_of(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base[_DAY_START : _DAY_START + len("YYYY-MM-DD")]


def _to_parquet(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame[list(WINDOW_COLUMNS)], schema=offline_schema(), preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def _from_parquet(data: bytes) -> pd.DataFrame:
    import pyarrow.parquet as pq

    frame: pd.DataFrame = pq.read_table(io.BytesIO(data), schema=offline_schema()).to_pandas()
    return frame


class BlobOfflineStore:
    """Day files in one blob container (see the module docstring)."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def write(self, windows: pd.DataFrame) -> list[str]:
        """Merge windows into their day files; returns the blobs written. Durable on return."""
        if len(windows) == 0:
            return []
        frame = windows[list(WINDOW_COLUMNS)]
        days = day_names(frame[EVENT_TIMESTAMP])
        return [self._merge(str(day), part) for day, part in frame.groupby(days, sort=True)]

    def _merge(self, day: str, part: pd.DataFrame) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        name = day_blob(day)
        blob = self._container.get_blob_client(name)
        for _ in range(MAX_WRITE_ATTEMPTS):
            try:
                download = blob.download_blob()
                etag: str | None = download.properties.etag
                merged = latest_revisions(
                    pd.concat([_from_parquet(download.readall()), part], ignore_index=True)
                )
            except ResourceNotFoundError:
                etag, merged = None, latest_revisions(part)
            data = _to_parquet(merged)
            try:
                if etag is None:
                    blob.upload_blob(data, overwrite=False)
                else:
                    blob.upload_blob(
                        data, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
                return name
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another writer got there first: merge into its version
        raise OfflineWriteConflict(name, MAX_WRITE_ATTEMPTS)

    def day_files(self) -> list[str]:
        """The day files' blob names, oldest day first."""
        names = self._container.list_blob_names(name_starts_with=f"{OFFLINE_PREFIX}/")
        return sorted(n for n in names if n.endswith(".parquet") and not n.rsplit("/", 1)[-1].startswith("."))

    def read(self, *, start: datetime | None = None, machines: Iterable[str] | None = None) -> pd.DataFrame:
        """Windows with ``event_timestamp >= start`` (all when None), of ``machines`` (all when None),
        newest revision each, sorted by machine and event time."""
        wanted = None if machines is None else set(machines)
        if wanted is not None and not wanted:
            return empty_windows()
        first_day = None if start is None else pd.Timestamp(start).tz_convert("UTC").strftime("%Y-%m-%d")
        parts = []
        for name in self.day_files():
            if first_day is not None and _day_of(name) < first_day:
                continue
            frame = _from_parquet(self._container.get_blob_client(name).download_blob().readall())
            if wanted is not None:
                frame = frame.loc[frame[ENTITY_KEY].isin(wanted)]
            if start is not None:
                frame = frame.loc[frame[EVENT_TIMESTAMP] >= pd.Timestamp(start).tz_convert("UTC")]
            parts.append(frame)
        if not parts:
            return empty_windows()
        return latest_revisions(pd.concat(parts, ignore_index=True))[list(WINDOW_COLUMNS)]
