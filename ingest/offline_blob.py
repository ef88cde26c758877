"""The offline store on blob storage (ADLS Gen2 in Azure, Azurite here): the day files, in parts.

Blobs sit where the local store's files sit relative to the data directory
(``offline/sensor_stats/``), so an AzureML datastore on the container, mounted as the data
directory, is read by the same code (:func:`features.store.read_offline`, Feast's offline source).

Each Event Hubs partition writes its own part of a day
(``windows-YYYY-MM-DD.partition-<id>.parquet``, :data:`features.store.DAY_PART_FILE`): machines of
one day sit in every partition, and when every worker merged into one blob per day, two workers
flushing at once conflicted on it and one redid its download, merge and upload, so flushes
serialised as workers were added. A machine's readings stay in one partition, so a window is still
one row of one blob. Readers (:meth:`BlobOfflineStore.read`, and anything reading the mounted
directory) take every part and whole-day file (``windows-YYYY-MM-DD.parquet``, what ``write``
without a part leaves) and merge them with :func:`features.store.latest_revisions`: the newest
``created_timestamp`` per window wins, so a replay after ownership moved stays idempotent.

A part can still have two writers: the old and the new owner of a partition during a hand-over. So
a write is an optimistic read-modify-write: download with its ETag, merge (newest revision wins),
upload only if the blob is unchanged (``If-Match``; ``If-None-Match: *`` for a new blob), and redo
on conflict (counted in :attr:`BlobOfflineStore.conflicts`). This is why it talks to the blob
endpoint with ``azure-storage-blob`` rather than through ``adlfs``: fsspec has no conditional write.
The blob API is served by ADLS Gen2 accounts too (multi-protocol access), and Azurite has no dfs
endpoint at all, so the code tested here is the code that runs in Azure.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pandas as pd

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, MACHINE_TYPE
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS, empty_windows
from features.relative import machine_types_of
from features.store import DAY_FILE, DAY_PART_FILE, day_names, day_of_file, latest_revisions, offline_schema
from ingest.errors import OfflineWriteConflict

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

OFFLINE_PREFIX: Final = DataLayout(Path("/")).windows_dir.relative_to("/").as_posix()
"""Folder of the day files in the container: the local layout's, relative to the data directory."""
MACHINES_BLOB: Final = DataLayout(Path("/")).machines_path.relative_to("/").as_posix()
"""The machine registry in the container: where the local data directory holds it, so the mounted
datastore has it where :func:`features.relative.read_machine_types` looks."""
MAX_WRITE_ATTEMPTS: Final = 50
"""Conflicting writers retry a blob this often; each retry means another writer succeeded."""


def day_blob(day: str, part: str | None = None) -> str:
    """The blob of ``day``: partition ``part``'s part of it, or the whole-day file when None."""
    if part is None:
        return f"{OFFLINE_PREFIX}/{DAY_FILE.format(day=day)}"
    if not part or "/" in part or part.startswith("."):
        raise ValueError(f"not a partition id for a blob name: {part!r}")
    return f"{OFFLINE_PREFIX}/{DAY_PART_FILE.format(day=day, part=part)}"


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
        self.conflicts = 0
        """Writes redone because another writer changed the blob first (since start)."""

    def write(self, windows: pd.DataFrame, *, part: str | None = None) -> list[str]:
        """Merge windows into partition ``part``'s part of their days (the whole-day files when
        None); returns the blobs written. Durable on return."""
        if len(windows) == 0:
            return []
        frame = windows[list(WINDOW_COLUMNS)]
        days = day_names(frame[EVENT_TIMESTAMP])
        return [self._merge(day_blob(str(day), part), rows) for day, rows in frame.groupby(days, sort=True)]

    def _merge(self, name: str, part: pd.DataFrame) -> str:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

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
                self.conflicts += 1
                continue  # another writer got there first: merge into its version
        raise OfflineWriteConflict(name, MAX_WRITE_ATTEMPTS)

    def machine_types(self) -> dict[str, str]:
        """The machine registry (``machine_id -> machine_type``, peers are machines of one type);
        empty when none was registered (every machine is then of type ``unknown``)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data = self._container.get_blob_client(MACHINES_BLOB).download_blob().readall()
        except ResourceNotFoundError:
            return {}
        return machine_types_of(pd.read_parquet(io.BytesIO(data)), f"blob {MACHINES_BLOB}")

    def register_machines(self, types: Mapping[str, str]) -> None:
        """Replace the machine registry with ``types`` (what :func:`machine_types_of` returns)."""
        frame = pd.DataFrame({ENTITY_KEY: list(types), MACHINE_TYPE: list(types.values())})
        sink = io.BytesIO()
        frame.to_parquet(sink, index=False)
        self._container.get_blob_client(MACHINES_BLOB).upload_blob(sink.getvalue(), overwrite=True)

    def day_files(self) -> list[str]:
        """The blob names of the day files and day parts, oldest day first."""
        names = self._container.list_blob_names(name_starts_with=f"{OFFLINE_PREFIX}/")
        return sorted(n for n in names if n.endswith(".parquet") and not n.rsplit("/", 1)[-1].startswith("."))

    def read(self, *, start: datetime | None = None, machines: Iterable[str] | None = None) -> pd.DataFrame:
        """Windows with ``event_timestamp >= start`` (all when None), of ``machines`` (all when None),
        from every part of every day, newest revision each, sorted by machine and event time."""
        wanted = None if machines is None else set(machines)
        if wanted is not None and not wanted:
            return empty_windows()
        first_day = None if start is None else pd.Timestamp(start).tz_convert("UTC").strftime("%Y-%m-%d")
        parts = []
        for name in self.day_files():
            if first_day is not None and day_of_file(name) < first_day:
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
