"""The ingest worker: the handler ``EventHubConsumerClient.receive_batch`` calls, and its wiring.

Per partition it owns (load balancing and checkpoints: the SDK with a ``BlobCheckpointStore``), the
worker validates each reading (:mod:`ingest.events`) and aggregates hourly windows after every
batch; at most every ``online_interval_s`` it publishes the windows changed since the last time
(batches in between coalesced): their relative features, then each machine's newest changed window
online. At a batch of 5,000 machines the relative features and the online write cost more than the
rest of the batch, so coalescing is what lets a worker keep up with a large fleet; the price is
that a window reaches the online store up to ``online_interval_s`` after its batch. At most every
``flush_interval_s`` the worker publishes, then makes the partition durable: offline windows, then
the snapshot, then the checkpoint. So a crash loses nothing (the SDK replays from the checkpoint)
and counts nothing twice (the duplicate rule). See :mod:`ingest.partition` for the argument.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from core.contract import TIMESTAMP
from features.store import latest_revisions
from ingest.events import decode_bodies
from ingest.offline_blob import BlobOfflineStore
from ingest.partition import PartitionState, SnapshotStore, coalesce, newest_changed
from ingest.settings import ONLINE_INTERVAL_S

log = logging.getLogger(__name__)

OnlinePush = Callable[[pd.DataFrame], int]
"""Writes each machine's newest window online; returns rows written (``features.store.push_online``)."""


class PartitionContextLike(Protocol):
    """What the handler uses of ``azure.eventhub.PartitionContext``."""

    @property
    def partition_id(self) -> str: ...

    def update_checkpoint(self, event: Any = None, **kwargs: Any) -> None: ...


@dataclass
class WorkerCounts:
    """Totals since start (the health endpoint reports them)."""

    events: int = 0
    readings: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: int = 0
    windows_offline: int = 0
    offline_conflicts: int = 0
    """Offline writes redone because another writer changed the blob first (a partition's two owners
    during a hand-over; writers of different partitions write different blobs)."""
    publishes: int = 0
    """Times changed windows got their relative features (and went online)."""
    pushed_online: int = 0
    checkpoints: int = 0


class IngestWorker:
    """Handles the partitions this process owns. The SDK calls one partition's callbacks from one
    thread at a time; a lock keeps the shared counters and the partitions map consistent."""

    def __init__(
        self,
        offline: BlobOfflineStore,
        snapshots: SnapshotStore,
        online: OnlinePush | None,
        *,
        machine_types: Mapping[str, str] | None = None,
        flush_interval_s: float = 10.0,
        online_interval_s: float = ONLINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._offline = offline
        self._snapshots = snapshots
        self._online = online
        # None: the machine registry in the offline container, read at each partition claim
        self._types = None if machine_types is None else dict(machine_types)
        self._flush_interval_s = flush_interval_s
        self._online_interval_s = online_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._partitions: dict[str, PartitionState] = {}
        self._last_flush: dict[str, float] = {}
        self.counts = WorkerCounts()
        self.rejected: Counter[tuple[str, str]] = Counter()
        self.last_call = clock()

    @property
    def partitions(self) -> list[str]:
        with self._lock:
            return sorted(self._partitions)

    # --- SDK callbacks ------------------------------------------------------------------------------

    def on_partition_initialize(self, context: PartitionContextLike) -> None:
        # the registry as of the claim (unless given): a rollout picks up machines registered since
        types = self._offline.machine_types() if self._types is None else self._types
        state = self._snapshots.restore(context.partition_id, self._offline, types)
        with self._lock:
            self._partitions[context.partition_id] = state
            self._last_flush[context.partition_id] = self._clock()
        log.info(
            "partition %s claimed (%d machines restored, %d in the machine registry)",
            context.partition_id,
            len(state.machines),
            len(types),
        )

    def on_partition_close(self, context: PartitionContextLike, reason: Any) -> None:
        """On shutdown the partition is flushed; when ownership was lost it is only dropped (the new
        owner replays from the checkpoint, so flushing here would race it)."""
        if getattr(reason, "name", str(reason)).upper() == "SHUTDOWN":
            self.flush(context)
        with self._lock:
            self._partitions.pop(context.partition_id, None)
            self._last_flush.pop(context.partition_id, None)

    def on_error(self, context: PartitionContextLike | None, error: Exception) -> None:
        where = context.partition_id if context is not None else "load balancing"
        log.warning("event hubs error (%s): %s", where, error)

    def on_event_batch(self, context: PartitionContextLike, events: Sequence[Any]) -> None:
        self.last_call = self._clock()
        state = self._state(context)
        if events:
            self._handle(state, events)
        if self._clock() - self._last_flush.get(context.partition_id, 0.0) >= self._flush_interval_s:
            self.flush(context)
        elif self._publish_due(state):
            self._publish(state)

    # --- work ---------------------------------------------------------------------------------------

    def _state(self, context: PartitionContextLike) -> PartitionState:
        with self._lock:
            state = self._partitions.get(context.partition_id)
        if state is None:  # the SDK calls initialize first; a bare receive (one partition) may not
            self.on_partition_initialize(context)
            with self._lock:
                state = self._partitions[context.partition_id]
        return state

    def _handle(self, state: PartitionState, events: Sequence[Any]) -> None:
        decoded = decode_bodies(b"".join(e.body) for e in events)
        frame = decoded.frame
        accepted = duplicates = late = 0
        if len(frame):
            state.learn(set(frame["machine_id"].unique()), self._offline, frame[TIMESTAMP].max())
            update = state.aggregator.add(frame)
            if len(update.windows):
                state.changed.append(update)
            accepted, duplicates, late = update.counts.accepted, update.counts.duplicates, update.counts.late
        state.last_event = events[-1]
        state.last_sequence = events[-1].sequence_number
        with self._lock:
            c = self.counts
            c.events += len(events)
            c.readings += len(frame) + decoded.rejected_total
            c.accepted += accepted
            c.duplicates += duplicates
            c.late += late
            c.rejected += decoded.rejected_total
            self.rejected.update(decoded.rejected)

    def _publish_due(self, state: PartitionState) -> bool:
        last = state.last_publish
        return bool(state.changed) and (last is None or self._clock() - last >= self._online_interval_s)

    def _publish(self, state: PartitionState) -> None:
        """Relative features of the windows changed since the last publish (queued for the offline
        store), then each machine's newest changed window online."""
        state.last_publish = self._clock()
        if not state.changed:
            return
        changed, latest = coalesce(state.changed)
        state.changed = []
        windows = state.relative.update(changed)
        pushed = 0
        if len(windows):
            state.pending.append(windows)
            if self._online is not None:
                pushed = self._online(newest_changed(windows, changed, latest))
        with self._lock:
            self.counts.publishes += 1
            self.counts.pushed_online += pushed

    def flush(self, context: PartitionContextLike) -> int:
        """Make the partition durable: offline windows, snapshot, checkpoint. Returns windows written."""
        with self._lock:
            state = self._partitions.get(context.partition_id)
            self._last_flush[context.partition_id] = self._clock()
        if state is None or state.last_event is None:
            return 0
        self._publish(state)
        written = 0
        if state.pending:
            windows = latest_revisions(pd.concat(state.pending, ignore_index=True))
            self._offline.write(windows, part=state.partition_id)
            written = len(windows)
            state.pending = []
        self._snapshots.save(state)
        context.update_checkpoint(state.last_event)
        state.last_event = None
        with self._lock:
            self.counts.windows_offline += written
            self.counts.offline_conflicts = self._offline.conflicts
            self.counts.checkpoints += 1
        return written
