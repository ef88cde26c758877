"""Ingest workers against a fake Event Hubs (faked at the edge: no emulator runs here) with the real
handler, the real ``BlobCheckpointStore`` and offline day files on Azurite, and real Redis.

What a user would notice: the offline store (what training reads) and the online store (what
scoring reads) hold the same windows whether one worker or two own the partitions, and whether or
not a worker was killed with SIGKILL mid-stream; and the windows are the bulk aggregation's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
from azure.storage.blob import ContainerClient

from core.contract import CREATED_TIMESTAMP, ENTITY_KEY, EVENT_TIMESTAMP, TelemetryReading
from features.aggregate import AGGREGATE_COLUMNS, WINDOW_COLUMNS, aggregate_windows
from features.applied_registry import build_registry
from features.validate import READING_COLUMNS
from ingest.events import encode_machine
from ingest.offline_blob import BlobOfflineStore
from ingest.partition import SnapshotStore
from ingest.settings import DEFAULT_CHECKPOINT_CONTAINER, DEFAULT_OFFLINE_CONTAINER
from ingest.worker import IngestWorker, OnlinePush
from predmaint.demo.processes import free_port
from tests.ingest_fakes import (
    CONSUMER_GROUP,
    EVENTHUB,
    NAMESPACE,
    FakeEventHubConsumerClient,
    FileEventHub,
)
from tests.waiting import wait_until

PARTITIONS = 4
MACHINES = 12
HOURS = 3
STEP = timedelta(seconds=90)
START = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)  # crosses midnight: two day files
WORKER_SCRIPT = Path(__file__).with_name("fake_eventhub_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def _readings() -> list[TelemetryReading]:
    rng = np.random.default_rng(12)
    out = []
    for step in range(int(timedelta(hours=HOURS) / STEP)):
        for m in range(MACHINES):
            out.append(
                TelemetryReading(
                    machine_id=f"m-{m:02d}",
                    timestamp=START + step * STEP + timedelta(seconds=int(rng.integers(0, 30))),
                    vibration_rms_mm_s=float(rng.uniform(1, 8)),
                    temperature_c=float(rng.uniform(40, 80)),
                    rotational_speed_rpm=float(rng.uniform(1400, 1600)),
                )
            )
    return out


def _publish(hub: FileEventHub, readings: list[TelemetryReading]) -> None:
    for r in readings:  # one event per reading, keyed by machine, as a device publishes
        hub.publish(r.machine_id, [encode_machine([r])])


def _container(storage: str, name: str) -> ContainerClient:
    client = ContainerClient.from_connection_string(storage, name)
    client.create_container()
    return client


def _offline(storage: str, container: str) -> pd.DataFrame:
    frame = BlobOfflineStore(ContainerClient.from_connection_string(storage, container)).read()
    return (
        frame.drop(columns=[CREATED_TIMESTAMP])
        .sort_values([ENTITY_KEY, EVENT_TIMESTAMP])
        .reset_index(drop=True)
    )


def _bulk(readings: list[TelemetryReading]) -> pd.DataFrame:
    frame = pd.DataFrame([r.model_dump() for r in readings])[list(READING_COLUMNS)]
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    cols = [c for c in AGGREGATE_COLUMNS if c != CREATED_TIMESTAMP]
    return aggregate_windows(frame)[cols].sort_values([ENTITY_KEY, EVENT_TIMESTAMP]).reset_index(drop=True)


def _run_in_process(
    hub: FileEventHub, storage: str, owners: list[list[str]], online: OnlinePush | None = None
) -> str:
    """Run one worker per owner list (in turn) into fresh containers; returns the offline container."""
    suffix = uuid.uuid4().hex[:8]
    offline_name, checkpoint_name = f"features-{suffix}", f"checkpoints-{suffix}"
    features = _container(storage, offline_name)
    offline = BlobOfflineStore(features)
    _container(storage, checkpoint_name)
    store = BlobCheckpointStore.from_connection_string(storage, checkpoint_name)
    for owned in owners:
        worker = IngestWorker(
            offline,
            SnapshotStore(features, NAMESPACE, EVENTHUB, CONSUMER_GROUP),
            online,
            flush_interval_s=0,
        )
        FakeEventHubConsumerClient(hub, store, owned).receive_batch(
            worker.on_event_batch,
            max_batch_size=200,
            on_partition_initialize=worker.on_partition_initialize,
            on_partition_close=worker.on_partition_close,
        )
        assert worker.counts.rejected == 0
    done = {
        c["partition_id"]: c["sequence_number"]
        for c in store.list_checkpoints(NAMESPACE, EVENTHUB, CONSUMER_GROUP)
    }
    assert done == {p: hub.count(p) - 1 for p in hub.partition_ids()}, (
        "every partition checkpointed to its end"
    )
    return offline_name


def test_two_workers_on_different_partitions_give_the_windows_of_one_fake_eventhub(
    azurite: str, tmp_path: Path
) -> None:
    hub = FileEventHub(tmp_path / "hub", PARTITIONS)
    readings = _readings()
    _publish(hub, readings)

    one = _offline(azurite, _run_in_process(hub, azurite, [hub.partition_ids()]))
    two = _offline(azurite, _run_in_process(hub, azurite, [["0", "2"], ["1", "3"]]))

    pd.testing.assert_frame_equal(one, two)
    assert len(one) == MACHINES * (HOURS + 1) or len(one) == MACHINES * HOURS  # whole hours
    bulk = _bulk(readings)
    pd.testing.assert_frame_equal(one[bulk.columns.tolist()], bulk, check_dtype=False)


def test_a_worker_claiming_a_partition_mid_stream_continues_its_open_windows_fake_eventhub(
    azurite: str, tmp_path: Path
) -> None:
    """Ownership moves after half the stream (the first owner flushed and went away): the second
    owner restores the snapshot and the windows open across the move are complete, not restarted."""
    readings = _readings()
    half = len(readings) // 2 + 5  # not on an hour boundary
    hub = FileEventHub(tmp_path / "hub", PARTITIONS)
    _publish(hub, readings[:half])
    suffix = uuid.uuid4().hex[:8]
    offline_container = _container(azurite, f"features-{suffix}")
    offline = BlobOfflineStore(offline_container)
    _container(azurite, f"checkpoints-{suffix}")
    store = BlobCheckpointStore.from_connection_string(azurite, f"checkpoints-{suffix}")

    def run() -> None:
        worker = IngestWorker(
            offline, SnapshotStore(offline_container, NAMESPACE, EVENTHUB, CONSUMER_GROUP), None
        )
        FakeEventHubConsumerClient(hub, store, hub.partition_ids()).receive_batch(
            worker.on_event_batch,
            on_partition_initialize=worker.on_partition_initialize,
            on_partition_close=worker.on_partition_close,
        )

    run()
    _publish(hub, readings[half:])
    run()
    got = _offline(azurite, f"features-{suffix}")
    bulk = _bulk(readings)
    pd.testing.assert_frame_equal(got[bulk.columns.tolist()], bulk, check_dtype=False)


def _online(redis_url: str, registry: Path, data_dir: Path) -> pd.DataFrame:
    from core.layout import DataLayout
    from features.store import open_store, read_online

    store = open_store(DataLayout(data_dir), "redis", redis_url, registry_path=registry)
    rows = read_online(store, [f"m-{m:02d}" for m in range(MACHINES)], now=START + timedelta(hours=HOURS))
    return pd.DataFrame(
        [
            {
                "machine": r.machine_id,
                "event_time": r.event_timestamp,
                "sparse": r.is_sparse,
                **(r.values or {}),
            }
            for r in rows
        ]
    )


def _worker(config: dict[str, Any], path: Path) -> subprocess.Popen[bytes]:
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(path.with_suffix(".log"), "wb") as log:
        return subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), str(path)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _finished(proc: subprocess.Popen[bytes], config: Path) -> None:
    code = proc.wait(300)
    assert code == 0, config.with_suffix(".log").read_text()


def test_kill_9_mid_stream_then_restart_gives_the_windows_of_an_uninterrupted_run_fake_eventhub(
    azurite: str, redis_url: str, tmp_path: Path
) -> None:
    import redis

    hub = FileEventHub(tmp_path / "hub", PARTITIONS)
    readings = _readings()
    _publish(hub, readings)
    registry = tmp_path / "registry.db"
    build_registry(registry)
    total = len(readings)

    def config(storage_suffix: str) -> dict[str, Any]:
        return {
            "storage": azurite,
            "hub": str(hub.folder),
            "partitions": PARTITIONS,
            "owned": hub.partition_ids(),
            "redis_url": redis_url,
            "feast_registry": str(registry),
            "data_dir": str(tmp_path / f"data-{storage_suffix}"),
            "health_port": free_port(),
            "max_batch_size": 100,
            "flush_interval_s": 0.2,
        }

    # uninterrupted, in this process (the same handler; saves a worker start-up)
    import functools

    from core.layout import DataLayout
    from features.store import open_store, push_online

    online = open_store(DataLayout(tmp_path / "ref"), "redis", redis_url, registry_path=registry)
    ref_name = _run_in_process(hub, azurite, [hub.partition_ids()], functools.partial(push_online, online))
    ref_offline = _offline(azurite, ref_name)
    ref_online = _online(redis_url, registry, tmp_path / "read")
    redis.Redis.from_url(redis_url).flushdb()

    crash_cfg = config("crash")
    store = BlobCheckpointStore.from_connection_string(azurite, DEFAULT_CHECKPOINT_CONTAINER)

    def checkpointed() -> int:
        try:
            return sum(
                int(c["sequence_number"]) + 1
                for c in store.list_checkpoints(NAMESPACE, EVENTHUB, CONSUMER_GROUP)
            )
        except Exception:  # the container does not exist before the worker creates it
            return 0

    proc = _worker(crash_cfg, tmp_path / "crash.json")
    wait_until(lambda: checkpointed() >= total // 3 or proc.poll() is not None, 300, "a third checkpointed")
    assert proc.poll() is None, "the worker finished before it could be killed: make the stream longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    at_kill = checkpointed()
    assert at_kill < total, "killed mid-stream"

    _finished(_worker(crash_cfg, tmp_path / "restart.json"), tmp_path / "restart.json")
    assert checkpointed() == total

    pd.testing.assert_frame_equal(_offline(azurite, DEFAULT_OFFLINE_CONTAINER), ref_offline)
    pd.testing.assert_frame_equal(_online(redis_url, registry, tmp_path / "read"), ref_online)
    bulk = _bulk(readings)
    pd.testing.assert_frame_equal(ref_offline[bulk.columns.tolist()], bulk, check_dtype=False)
    assert set(ref_offline.columns) == {c for c in WINDOW_COLUMNS if c != CREATED_TIMESTAMP}


def test_batches_within_the_online_interval_go_online_together_with_the_values_of_each_batch_fake_eventhub(
    azurite: str, tmp_path: Path
) -> None:
    """A worker publishes (relative features, then each machine's newest window online) at most
    every ``online_interval_s``; the batches in between are coalesced. Scoring then sees windows
    at most that much later, with the values, and training the offline windows, that publishing
    after every batch gives."""
    from features.store import online_rows

    hub = FileEventHub(tmp_path / "hub", 1)
    _publish(hub, _readings())
    interval, step = 0.5, 0.1  # the fake clock moves ``step`` a handler call

    def run(online_interval_s: float) -> tuple[pd.DataFrame, pd.DataFrame, list[float], float]:
        suffix = uuid.uuid4().hex[:8]
        features = _container(azurite, f"features-{suffix}")
        _container(azurite, f"checkpoints-{suffix}")
        now = [0.0]
        online: dict[str, pd.Series] = {}
        pushed_at: list[float] = []

        def push(windows: pd.DataFrame) -> int:
            pushed_at.append(now[0])
            for _, row in online_rows(windows).iterrows():
                online[row[ENTITY_KEY]] = row
            return len(windows)

        worker = IngestWorker(
            BlobOfflineStore(features),
            SnapshotStore(features, NAMESPACE, EVENTHUB, CONSUMER_GROUP),
            push,
            online_interval_s=online_interval_s,
            clock=lambda: now[0],
        )

        def on_event_batch(context: Any, events: list[Any]) -> None:
            worker.on_event_batch(context, events)
            now[0] += step

        store = BlobCheckpointStore.from_connection_string(azurite, f"checkpoints-{suffix}")
        FakeEventHubConsumerClient(hub, store, hub.partition_ids()).receive_batch(
            on_event_batch,
            max_batch_size=40,
            on_partition_initialize=worker.on_partition_initialize,
            on_partition_close=worker.on_partition_close,
        )
        rows = pd.DataFrame(online.values()).drop(columns=[CREATED_TIMESTAMP]).sort_values(ENTITY_KEY)
        return _offline(azurite, f"features-{suffix}"), rows.reset_index(drop=True), pushed_at, now[0]

    every_offline, every_online, every_pushes, _ = run(0.0)
    offline, online, pushes, end = run(interval)

    assert len(pushes) <= end / interval + 2 < len(every_pushes)  # each interval, and the last flush
    assert (np.diff(pushes[:-1]) >= interval - 1e-9).all()  # the last push: the shutdown flush
    pd.testing.assert_frame_equal(online, every_online)
    pd.testing.assert_frame_equal(offline, every_offline)
