"""The offline store's day parts on Azurite: workers of different partitions flushing the same day at
once never conflict, a partition's two owners during a hand-over still do (and both land), and every
reader (the blob store, a mounted datastore read with ``features.store.read_offline``) sees the
union of the parts, newest revision winning.

What a user would notice: two workers' flushes of one day are both durable and neither redid its
write (``offline_conflicts`` stays 0), so adding a worker does not make the others wait.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from azure.eventhub import PartitionContext
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
from azure.storage.blob import ContainerClient

from core.contract import CREATED_TIMESTAMP, ENTITY_KEY, EVENT_TIMESTAMP, TelemetryReading
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS
from features.relative import windows_of
from features.store import read_offline
from ingest.events import encode_machine
from ingest.offline_blob import OFFLINE_PREFIX, BlobOfflineStore, day_blob
from ingest.partition import SnapshotStore
from ingest.worker import IngestWorker
from tests.ingest_fakes import CONSUMER_GROUP, EVENTHUB, NAMESPACE, event_at, partition_of

START = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)  # every window ends on 2026-11-30
MACHINES = 8
PARTITIONS = ("0", "1")


class _UploadGate:
    """A container client whose offline-blob uploads wait until every armed thread has reached its
    upload: both writers have downloaded (and merged) before either writes, the worst interleaving
    for an optimistic write. Each armed thread waits once (a retry does not wait again)."""

    def __init__(self, container: ContainerClient, parties: int) -> None:
        self._container = container
        self._barrier = threading.Barrier(parties, timeout=30)
        self._armed: set[int] = set()
        self._lock = threading.Lock()

    def arm(self) -> None:
        with self._lock:
            self._armed.add(threading.get_ident())

    def get_blob_client(self, name: str) -> Any:
        blob = self._container.get_blob_client(name)
        if not name.startswith(f"{OFFLINE_PREFIX}/"):
            return blob
        gate = self

        class _Blob:
            def __getattr__(self, attr: str) -> Any:
                return getattr(blob, attr)

            def upload_blob(self, *args: Any, **kwargs: Any) -> Any:
                with gate._lock:
                    armed = threading.get_ident() in gate._armed
                    gate._armed.discard(threading.get_ident())
                if armed:
                    gate._barrier.wait()
                return blob.upload_blob(*args, **kwargs)

        return _Blob()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._container, attr)


def _container(storage: str, prefix: str) -> ContainerClient:
    client = ContainerClient.from_connection_string(storage, f"{prefix}-{uuid.uuid4().hex[:8]}")
    client.create_container()
    return client


def _events(partition: str, hours: range) -> list[Any]:
    """One event per reading of the partition's machines, a reading every 2 minutes of ``hours``."""
    rng = np.random.default_rng(int(partition))
    own = [f"m-{m:02d}" for m in range(MACHINES) if partition_of(f"m-{m:02d}", 2) == partition]
    assert own, "both partitions have machines"
    out: list[Any] = []
    for minute in range(hours.start * 60, hours.stop * 60, 2):
        for machine in own:
            reading = TelemetryReading(
                machine_id=machine,
                timestamp=START + timedelta(minutes=minute),
                vibration_rms_mm_s=float(rng.uniform(1, 8)),
                temperature_c=float(rng.uniform(40, 80)),
                rotational_speed_rpm=float(rng.uniform(1400, 1600)),
            )
            out.append(event_at(encode_machine([reading]), len(out)))
    return out


def _flush_at_once(workers: list[IngestWorker], contexts: list[PartitionContext], gate: _UploadGate) -> None:
    def flush(i: int) -> None:
        gate.arm()
        workers[i].flush(contexts[i])

    with ThreadPoolExecutor(len(workers)) as pool:
        list(pool.map(flush, range(len(workers))))


def test_two_workers_of_different_partitions_flushing_the_same_day_at_once_both_land_without_a_retry(
    azurite: str,
) -> None:
    features = _container(azurite, "features")
    checkpoints = _container(azurite, "checkpoints")
    store = BlobCheckpointStore.from_connection_string(azurite, checkpoints.container_name)
    gate = _UploadGate(features, len(PARTITIONS))
    workers, contexts = [], []
    for pid in PARTITIONS:  # one worker process each in Azure; one thread each here
        worker = IngestWorker(
            BlobOfflineStore(gate),  # type: ignore[arg-type]  # the gate is a ContainerClient
            SnapshotStore(features, NAMESPACE, EVENTHUB, CONSUMER_GROUP),
            None,
            flush_interval_s=1e9,  # only the flushes below
        )
        context = PartitionContext(NAMESPACE, EVENTHUB, CONSUMER_GROUP, pid, store)
        worker.on_partition_initialize(context)
        workers.append(worker)
        contexts.append(context)

    # twice: new day parts (If-None-Match: *), then existing ones (If-Match on each part's ETag)
    for hours in (range(0, 2), range(2, 3)):
        for worker, context in zip(workers, contexts, strict=True):
            worker.on_event_batch(context, _events(context.partition_id, hours))
        _flush_at_once(workers, contexts, gate)

    assert [w.counts.offline_conflicts for w in workers] == [0, 0], "neither flush was redone"
    offline = BlobOfflineStore(features)
    assert offline.day_files() == [day_blob("2026-11-30", pid) for pid in PARTITIONS]
    got = offline.read()
    assert sorted(got[ENTITY_KEY].unique()) == [f"m-{m:02d}" for m in range(MACHINES)]
    assert len(got) == MACHINES * 3  # every machine's three hours: both workers' windows are durable
    assert [w.counts.checkpoints for w in workers] == [2, 2]  # each flush ended in its checkpoint


def test_two_owners_of_one_partition_writing_its_part_at_once_conflict_and_both_land(azurite: str) -> None:
    """A hand-over (old and new owner of one partition flushing together) still races on the part:
    the conditional write makes the later one merge into the earlier one's blob, so nothing is lost."""
    features = _container(azurite, "features")
    gate = _UploadGate(features, 2)
    stores = [BlobOfflineStore(gate), BlobOfflineStore(gate)]  # type: ignore[arg-type]
    base = START + timedelta(hours=1)
    frames = [_windows(f"m-0{i}", base, float(i + 1), base + timedelta(days=1)) for i in range(2)]

    def write(i: int) -> None:
        gate.arm()
        stores[i].write(frames[i], part="0")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(2)))

    assert sorted(s.conflicts for s in stores) == [0, 1]
    assert BlobOfflineStore(features).day_files() == [day_blob("2026-11-30", "0")]
    assert sorted(BlobOfflineStore(features).read()[ENTITY_KEY]) == ["m-00", "m-01"]


def _windows(machine: str, end: datetime, vibration: float, created: datetime) -> pd.DataFrame:
    """One hourly window of ``machine`` ending at ``end``, as the offline store holds it."""
    times = pd.date_range(end - timedelta(hours=1), periods=30, freq="2min", tz="UTC")
    readings = pd.DataFrame(
        {
            ENTITY_KEY: machine,
            "timestamp": times,
            "vibration_rms_mm_s": vibration,
            "temperature_c": 60.0,
            "rotational_speed_rpm": 1500.0,
        }
    )
    windows = windows_of(readings, created_at=created)
    assert windows[EVENT_TIMESTAMP].tolist() == [pd.Timestamp(end)]
    return windows[list(WINDOW_COLUMNS)]


def test_readers_see_the_union_of_day_parts_and_whole_day_files_newest_revision_winning(
    azurite: str, tmp_path: Path
) -> None:
    """A window in two blobs (a whole-day file from before the parts; a partition whose machines moved
    when the partition count grew) resolves to its newest ``created_timestamp`` for every reader: the
    blob store (the workers' history) and a mounted datastore read as local files (the pipeline's
    ``prepare`` and ``evaluate`` steps, Feast's DuckDB offline source)."""
    features = _container(azurite, "features")
    offline = BlobOfflineStore(features)
    end = START + timedelta(hours=1)
    created = end + timedelta(minutes=5)
    offline.write(_windows("m-00", end, 2.0, created))  # whole-day file, older revision
    offline.write(_windows("m-00", end, 5.0, created + timedelta(minutes=1)), part="1")  # newest
    offline.write(_windows("m-00", end, 3.0, created - timedelta(minutes=1)), part="0")  # oldest
    offline.write(_windows("m-01", end, 4.0, created), part="0")
    offline.write(_windows("m-02", end + timedelta(days=1), 6.0, created), part="0")  # the next day
    assert offline.day_files() == [
        f"{OFFLINE_PREFIX}/windows-2026-11-30.parquet",
        day_blob("2026-11-30", "0"),
        day_blob("2026-11-30", "1"),
        day_blob("2026-12-01", "0"),
    ]

    got = offline.read()
    mean = "vibration_rms_mm_s_mean"
    assert dict(zip(got[ENTITY_KEY], got[mean], strict=True)) == {"m-00": 5.0, "m-01": 4.0, "m-02": 6.0}
    assert offline.read(machines=["m-00"])[mean].tolist() == [5.0]
    assert offline.read(start=end + timedelta(hours=1))[ENTITY_KEY].tolist() == ["m-02"]

    layout = DataLayout(tmp_path / "mounted")  # what the AzureML datastore mount shows
    for name in offline.day_files():
        path = layout.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(features.get_blob_client(name).download_blob().readall())
    mounted = read_offline(layout)
    pd.testing.assert_frame_equal(mounted.reset_index(drop=True), got.reset_index(drop=True))
    assert mounted.loc[mounted[ENTITY_KEY] == "m-00", CREATED_TIMESTAMP].tolist() == [
        pd.Timestamp(created + timedelta(minutes=1))
    ]
