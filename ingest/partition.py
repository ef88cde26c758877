"""One Event Hubs partition's aggregation state, and the snapshot that makes it durable.

A partition's owner keeps a :class:`features.aggregate.WindowAggregator` (raw readings of the
windows that can still change) and a :class:`features.relative.RelativeState` (recent windows, for
the relative features) for the machines of that partition only, so a partition's windows do not
depend on which worker owns it or on what else that worker owns.

Between flushes, the windows batches change are coalesced and get their relative features (and go
online) at most every ``online_interval_s`` (:func:`coalesce`; see :mod:`ingest.worker`).

Durability, in this order at every flush (:meth:`ingest.worker.IngestWorker.flush`):

1. the windows changed since the last publish get their relative features (and go online), then
   every changed window is merged into the offline store (ADLS: the partition's part of each day);
2. the snapshot is saved: the aggregator's open-window readings and the partition's machines;
3. the partition's checkpoint moves to the last event handled.

A new owner (after a crash, a scale-out or a rebalance) restores the snapshot, loads the recent
offline windows of the snapshot's machines, and the SDK replays from the checkpoint. The snapshot
is never older than the checkpoint, so nothing between them is missing; what it already holds is
dropped again as duplicates (first arrival wins) or as late, so the replay is idempotent.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import orjson
import pandas as pd

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, TIMESTAMP
from features.aggregate import WindowAggregator, WindowUpdate
from features.relative import HISTORY_NEEDED, RelativeState
from features.tail import read_readings, write_readings

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from ingest.offline_blob import BlobOfflineStore

STATE_PREFIX: Final = "ingest-state"
"""Folder of the snapshots in the checkpoint container (beside the SDK's checkpoint blobs)."""
_READINGS: Final = "open-readings.parquet"
_MACHINES: Final = "machines.json"
_SEQUENCE_META: Final = "sequencenumber"


@dataclass
class PartitionState:
    """What one owned partition holds between flushes."""

    partition_id: str
    aggregator: WindowAggregator
    relative: RelativeState
    machines: set[str] = field(default_factory=set)
    changed: list[WindowUpdate] = field(default_factory=list)
    """Aggregated since the last publish: their relative features are still to compute."""
    last_publish: float | None = None
    pending: list[pd.DataFrame] = field(default_factory=list)
    last_event: Any = None
    """The newest handled event not yet checkpointed (``azure.eventhub.EventData``)."""
    last_sequence: int | None = None

    def learn(self, machines: set[str], offline: BlobOfflineStore, newest: pd.Timestamp) -> None:
        """Machines seen for the first time: load their recent offline windows as history."""
        new = machines - self.machines
        if not new:
            return
        since = (newest - HISTORY_NEEDED - timedelta(days=1)).to_pydatetime()
        self.relative.add_history(offline.read(start=since, machines=new))
        self.machines |= new


class SnapshotStore:
    """Snapshots of partitions as blobs ``ingest-state/<hub>/<group>/<partition>/...``."""

    def __init__(
        self, container: ContainerClient, namespace: str, eventhub: str, consumer_group: str
    ) -> None:
        self._container = container
        self._folder = f"{STATE_PREFIX}/{namespace}/{eventhub}/{consumer_group}".lower()

    def _blob(self, partition_id: str, name: str) -> Any:
        return self._container.get_blob_client(f"{self._folder}/{partition_id}/{name}")

    def save(self, state: PartitionState) -> None:
        """Durable on return; the machines first, so a snapshot's readings always have them."""
        meta = {_SEQUENCE_META: str(state.last_sequence if state.last_sequence is not None else -1)}
        self._blob(state.partition_id, _MACHINES).upload_blob(
            orjson.dumps(sorted(state.machines)), overwrite=True, metadata=meta
        )
        sink = io.BytesIO()
        write_readings(state.aggregator.open_readings(), sink)
        self._blob(state.partition_id, _READINGS).upload_blob(sink.getvalue(), overwrite=True, metadata=meta)

    def restore(
        self, partition_id: str, offline: BlobOfflineStore, machine_types: Mapping[str, str]
    ) -> PartitionState:
        """The partition's state as of its last snapshot (empty when it never had one)."""
        from azure.core.exceptions import ResourceNotFoundError

        state = PartitionState(partition_id, WindowAggregator(), RelativeState(machine_types))
        try:
            machines = set(orjson.loads(self._blob(partition_id, _MACHINES).download_blob().readall()))
            data = self._blob(partition_id, _READINGS).download_blob().readall()
        except ResourceNotFoundError:
            return state
        readings = read_readings(io.BytesIO(data))
        if len(readings):
            newest = readings[TIMESTAMP].max()
            state.learn(machines, offline, newest)
            state.aggregator.add(readings)
        else:
            state.machines = machines
        return state


def coalesce(updates: list[WindowUpdate]) -> tuple[pd.DataFrame, np.ndarray]:
    """The windows several batches changed, each once with its newest values (a later batch's
    revision holds every reading of an earlier one), and their latest flags as of that revision."""
    if len(updates) == 1:
        return updates[0].windows, updates[0].latest
    windows = pd.concat([u.windows for u in updates], ignore_index=True)
    latest = np.concatenate([u.latest for u in updates])
    last = ~windows.duplicated([ENTITY_KEY, EVENT_TIMESTAMP], keep="last").to_numpy()
    return windows.loc[last].reset_index(drop=True), latest[last]


def newest_changed(windows: pd.DataFrame, changed: pd.DataFrame, latest: Any) -> pd.DataFrame:
    """Rows of ``windows`` that are a changed window and their machine's newest (what goes online)."""
    keys = [ENTITY_KEY, EVENT_TIMESTAMP]
    wanted = pd.MultiIndex.from_frame(changed.loc[latest, keys])
    return windows.loc[pd.MultiIndex.from_frame(windows[keys]).isin(wanted)]
