"""Ingest workers: readings/s per worker, 1 vs 2 worker processes, batch-to-online latency.

The real handler (:class:`ingest.worker.IngestWorker`: contract validation of every reading,
window aggregation, relative features, offline day files and snapshots on Azurite, checkpoints with
the real ``BlobCheckpointStore``) runs over events handed to it as the SDK would (one reading an
event, ``max_batch_size`` events a call). Event Hubs itself is not here: its network time is not
in these figures. The online push goes to Redis when ``PREDMAINT_BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/14``, flushed) answers, else it is off and the table says so.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.redis_db import FEATURES_REDIS_URL as REDIS_URL
from bench.table import Table, percentiles_us

READINGS = 50_000
BATCH = 5_000
PARTITIONS = 4
SCALING_READINGS = 4 * READINGS
"""The 1-vs-2-process run: long enough (about a second a worker) that a flush to Azurite and the
processes' start skew do not dominate the wall clock."""
SCALING_REPEATS = 5
"""1 and 2 processes alternate this many times; the table shows each one's median."""
HISTORY_DAYS = 8
"""Days of offline windows a worker loads for its machines in the with-history rows (baselines)."""
START = datetime(2026, 1, 1, tzinfo=UTC)


def _events(machines: int, readings: int, partition: int = 0, partitions: int = 1) -> list[Any]:
    """One event per reading (as a device publishes), machines of ``partition`` only, time order."""
    import orjson

    from tests.ingest_fakes import event_at

    rng = np.random.default_rng(partition)
    own = [m for m in range(machines) if m % partitions == partition]
    per_machine = max(1, readings // (machines // partitions or 1))
    step = timedelta(hours=3) / per_machine  # three hours of readings, whatever the fleet size
    out: list[Any] = []
    for i in range(per_machine):
        ts = (START + i * step).isoformat()
        for m in own:
            body = orjson.dumps(
                {
                    "machine_id": f"m-{m:05d}",
                    "timestamp": ts,
                    "vibration_rms_mm_s": float(rng.uniform(1, 8)),
                    "temperature_c": float(rng.uniform(40, 80)),
                    "rotational_speed_rpm": float(rng.uniform(1400, 1600)),
                }
            )
            out.append(event_at(body, len(out)))
    return out


class _Context:
    def __init__(self, partition_id: str, store: Any) -> None:
        from azure.eventhub import PartitionContext

        from tests.ingest_fakes import CONSUMER_GROUP, EVENTHUB, NAMESPACE

        self._inner = PartitionContext(NAMESPACE, EVENTHUB, CONSUMER_GROUP, partition_id, store)
        self.partition_id = partition_id

    def update_checkpoint(self, event: Any = None, **kwargs: Any) -> None:
        self._inner.update_checkpoint(event, **kwargs)


def _online(layout_dir: Path) -> Any:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).flushdb()
    except redis.exceptions.ConnectionError:
        return None
    from core.layout import DataLayout
    from features.applied_registry import build_registry
    from features.store import open_store, push_online

    registry = layout_dir / "registry.db"
    if not registry.exists():
        build_registry(registry)
    store = open_store(DataLayout(layout_dir), "redis", REDIS_URL, registry_path=registry)
    return functools.partial(push_online, store)


def _containers(storage: str) -> str:
    """A fresh pair of containers (``features-<suffix>``, ``checkpoints-<suffix>``); the suffix."""
    from azure.storage.blob import ContainerClient

    suffix = uuid.uuid4().hex[:8]
    for name in ("features", "checkpoints"):
        ContainerClient.from_connection_string(storage, f"{name}-{suffix}").create_container()
    return suffix


def _worker(storage: str, online: Any, suffix: str | None = None) -> tuple[Any, Any, Any]:
    """A worker on the containers of ``suffix`` (shared with other workers, as in Azure), or on
    fresh ones of its own when None."""
    from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore
    from azure.storage.blob import ContainerClient

    from ingest.offline_blob import BlobOfflineStore
    from ingest.partition import SnapshotStore
    from ingest.worker import IngestWorker
    from tests.ingest_fakes import CONSUMER_GROUP, EVENTHUB, NAMESPACE

    suffix = suffix or _containers(storage)
    features = ContainerClient.from_connection_string(storage, f"features-{suffix}")
    store = BlobCheckpointStore.from_connection_string(storage, f"checkpoints-{suffix}")
    snapshots = SnapshotStore(features, NAMESPACE, EVENTHUB, CONSUMER_GROUP)
    offline = BlobOfflineStore(features)
    return IngestWorker(offline, snapshots, online, flush_interval_s=10.0), store, offline


def _history(machines: int, days: int) -> Any:
    """``days`` of hourly windows before ``START`` for every machine (what the offline store holds
    for a fleet that has been running): the relative features' baselines."""
    import pandas as pd

    from core.contract import (
        BASELINE_DAYS_FEATURE,
        BASELINE_IS_COLD,
        CREATED_TIMESTAMP,
        ENTITY_KEY,
        EVENT_TIMESTAMP,
        IS_SPARSE,
        READING_COUNT,
        STAT_FEATURES,
    )
    from features.aggregate import WINDOW_COLUMNS, WINDOW_START, empty_windows

    rng = np.random.default_rng(7)
    ends = pd.date_range(START - timedelta(days=days) + timedelta(hours=1), START, freq="h")
    n = machines * len(ends)
    frame = empty_windows().reindex(range(n))
    frame[ENTITY_KEY] = np.repeat([f"m-{m:05d}" for m in range(machines)], len(ends))
    frame[EVENT_TIMESTAMP] = np.tile(ends, machines)
    frame[WINDOW_START] = frame[EVENT_TIMESTAMP] - timedelta(hours=1)
    scale = {"vibration_rms_mm_s": 4.5, "temperature_c": 60.0, "rotational_speed_rpm": 1500.0}
    for name, column, stat in STAT_FEATURES:
        frame[name] = scale[column] * (0.1 if stat == "std" else 1.0) * rng.uniform(0.9, 1.1, n)
    frame[READING_COUNT] = 60
    frame[IS_SPARSE] = False
    frame[BASELINE_IS_COLD] = False
    frame[CREATED_TIMESTAMP] = pd.Timestamp(START)
    frame[BASELINE_DAYS_FEATURE] = 7.0
    return frame[list(WINDOW_COLUMNS)].fillna({c: 0.0 for c in frame.columns if frame[c].dtype == float})


class _Owned:
    """A worker that owns one partition, initialised and ready for batches."""

    def __init__(
        self, storage: str, partition: str, online: Any, *, history: Any = None, containers: str | None = None
    ) -> None:
        self.worker, store, offline = _worker(storage, online, containers)
        self.context = _Context(partition, store)
        self.worker.on_partition_initialize(self.context)
        if history is not None:  # loaded before the clock starts: a worker does it once per machine
            offline.write(history, part=partition)
            newest = history["event_timestamp"].max()
            self.worker._state(self.context).learn(set(history["machine_id"]), offline, newest)
            # a worker loads it while claiming the partition: its flush interval starts after that
            self.worker.flush(self.context)

    def run(self, events: list[Any]) -> tuple[float, list[float]]:
        """Seconds to handle ``events`` in ``BATCH``-sized calls and flush; each call's seconds.
        ``cpu_s`` is then this process's CPU seconds for the same."""
        latencies = []
        cpu = time.process_time()
        start = time.perf_counter()
        for lo in range(0, len(events), BATCH):
            t = time.perf_counter()
            self.worker.on_event_batch(self.context, events[lo : lo + BATCH])
            latencies.append(time.perf_counter() - t)
        self.worker.flush(self.context)
        seconds = time.perf_counter() - start
        self.cpu_s = time.process_time() - cpu
        return seconds, latencies


def _publish_to_online(
    storage: str, online: Any, machines: int = 500, rate: int = 5_000, seconds: float = 10.0
) -> list[float]:
    """Each reading's seconds from its publish time to the end of the handler call that put its
    window online, for a stream published at ``rate`` readings/s: the handler is called, as the
    SDK's receive loop does, with whatever arrived since the last call (up to ``BATCH`` events).
    A window waits for the worker's next publish (``online_interval_s``), so the figure includes it."""
    events = _events(machines, int(rate * seconds))
    owned = _Owned(storage, "latency", online)
    worker, context = owned.worker, owned.context
    latencies: list[float] = []
    start = time.perf_counter()
    sent = online_from = 0  # readings handed to the worker; the first not yet online
    while sent < len(events):
        now = time.perf_counter() - start
        due = min(len(events), int(now * rate) + 1, sent + BATCH)
        if due <= sent:
            time.sleep((sent + 1) / rate - now)
            continue
        publishes = worker.counts.publishes
        worker.on_event_batch(context, events[sent:due])
        sent = due
        if worker.counts.publishes > publishes:
            done = time.perf_counter() - start
            latencies.extend(done - i / rate for i in range(online_from, sent))
            online_from = sent
    worker.flush(context)
    done = time.perf_counter() - start
    latencies.extend(done - i / rate for i in range(online_from, sent))
    return latencies


def _scaling_process(
    storage: str,
    containers: str,
    machines: int,
    partitions: list[int],
    total: int,
    barrier: Any,
    results: Any,
) -> None:
    """One worker process of the scaling run: it builds its partitions' events and workers (on the
    run's containers, which every worker of the run shares, as a consumer group's workers share one
    offline file system and checkpoint store), waits for the others, then handles its partitions in
    turn; reports (start, end) on the monotonic clock, which every process of this machine shares,
    its CPU seconds and its offline writes redone on conflict."""
    jobs = [
        (
            _Owned(storage, str(p), None, containers=containers),
            _events(machines, SCALING_READINGS // total, p, total),
        )
        for p in partitions
    ]
    _Owned(storage, "warm-up", None).run(jobs[0][1][:BATCH])  # first-call imports, not timed
    barrier.wait()
    start, cpu = time.monotonic(), time.process_time()
    for owned, events in jobs:
        owned.run(events)
    conflicts = sum(owned.worker.counts.offline_conflicts for owned, _ in jobs)
    results.put((start, time.monotonic(), time.process_time() - cpu, conflicts))


def _scaling(storage: str, processes: int, machines: int = 500, total: int = 2) -> tuple[float, float, int]:
    """Wall seconds, first start to last end, CPU seconds of all and offline writes redone, for
    ``processes`` worker processes sharing ``total`` partitions (each process its own partitions:
    no GIL is shared) and one set of containers."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    owned = [list(range(total))[i::processes] for i in range(processes)]
    containers = _containers(storage)
    procs = [
        ctx.Process(
            target=_scaling_process, args=(storage, containers, machines, own, total, barrier, results)
        )
        for own in owned
    ]
    for proc in procs:
        proc.start()
    spans = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(end for _, end, _, _ in spans) - min(start for start, _, _, _ in spans)
    return wall, sum(cpu for _, _, cpu, _ in spans), sum(redone for *_, redone in spans)


def run() -> list[Table]:
    from features.store import DAY_PART_FILE
    from tests.ingest_fakes import start_azurite

    per_worker = Table(
        "Ingest worker: readings/s (one process, one partition)",
        [
            "machines",
            "history",
            "readings",
            "seconds",
            "readings/s",
            "readings/CPU-s",
            "batch p50 ms",
            "batch p99 ms",
        ],
    )
    latency = Table(
        "Ingest worker: publish to online store (500 machines, 5,000 readings/s for 10 s)",
        ["readings", "p50 ms", "p99 ms", "max ms"],
    )
    scale = Table(
        "Ingest workers: 1 vs 2 processes (500 machines, 2 partitions)",
        ["processes", "readings", "wall s", "readings/s", "speed-up", "CPU s (all)", "writes redone"],
    )
    with (
        tempfile.TemporaryDirectory(prefix="predmaint-bench-ingest-") as tmp,
        start_azurite(Path(tmp) / "azurite") as storage,
    ):
        online = _online(Path(tmp))
        per_worker.note = (
            f"{BATCH:,} events a handler call, one reading an event; online push "
            + ("to Redis" if online else "OFF (no Redis)")
            + "; offline day files, snapshots and checkpoints on Azurite (flush every 10 s and at the end). "
            "Batch latency = one handler call; a call that publishes (relative features, then online: at "
            "most every online_interval_s, and in the flush) is the slow one. Event Hubs' own "
            "send/receive time is not in it. "
            "readings/CPU-s divides by this process's CPU time (Redis and Azurite excluded): the figure "
            "to trust on a shared, loaded machine. history: none = a fresh partition; "
            f"{HISTORY_DAYS} d = that many days of hourly windows of every machine in the offline store, "
            "loaded by the worker before the clock starts (the relative features' baselines). none, first: "
            f"a fresh partition's first {READINGS:,} readings, every machine new to the worker (its Redis "
            "key built and created, its offline history looked up); none, next: the same worker's next "
            f"{READINGS:,} readings of the same machines, the steady state. "
            "Target: >= 50,000 readings/s."
        )
        _Owned(storage, "warm-up", online).run(_events(50, BATCH))  # first-call imports, not timed
        cases = [(50, 0), (500, 0), (5_000, 0), (500, HISTORY_DAYS), (5_000, HISTORY_DAYS)]
        for machines, days in cases:
            history = _history(machines, days) if days else None
            owned = _Owned(storage, "0", online, history=history)
            # a fresh partition: its first readings (every machine new to the worker), then the
            # next ones of the same machines (what a running worker spends its life on)
            events = _events(machines, READINGS if days else 2 * READINGS)
            phases = [f"{days} d"] if days else ["none, first", "none, next"]
            for phase, lo in zip(phases, range(0, len(events), READINGS), strict=True):
                seconds, latencies = owned.run(events[lo : lo + READINGS])
                p50, p99 = percentiles_us(latencies)
                per_worker.add(
                    machines,
                    phase,
                    READINGS,
                    seconds,
                    READINGS / seconds,
                    READINGS / owned.cpu_s,
                    p50 / 1e3,
                    p99 / 1e3,
                )
        if online is not None:
            lat = np.asarray(_publish_to_online(storage, online)) * 1e3
            latency.add(len(lat), *np.percentile(lat, [50, 99]).tolist(), float(lat.max()))
        latency.note = (
            "A reading's publish time (its place in a steady stream) to the end of the handler call "
            "that pushed its machine's window to Redis (the worker's publish cadence included); the "
            "handler gets what arrived since its last call, as the SDK's receive loop does. Event "
            "Hubs' own send/receive time (tens of ms in "
            "one region) is not in it. " + ("" if online is not None else "Not measured: no Redis.")
        )
        runs: dict[int, list[tuple[float, float, int]]] = {1: [], 2: []}
        for _ in range(SCALING_REPEATS):
            for processes, spans in runs.items():
                spans.append(_scaling(storage, processes))
        rates = {}
        for processes, spans in runs.items():
            wall, cpu = (float(np.median([s[i] for s in spans])) for i in (0, 1))
            rates[processes] = SCALING_READINGS / wall
            redone = sum(s[2] for s in spans)
            scale.add(
                processes, SCALING_READINGS, wall, rates[processes], rates[processes] / rates[1], cpu, redone
            )
        scale.note = (
            f"The same {SCALING_READINGS:,} readings in 2 partitions: one worker process handles "
            "both in turn, or two processes one each, at once (each process on its own partitions, "
            "as workers of a consumer group are; timed from a common start after imports and a "
            f"warm-up batch, online push off; medians of {SCALING_REPEATS} alternating runs); "
            f"{os.cpu_count()} CPUs here, shared with Azurite. Each run's workers share one features "
            "and one checkpoint container, as in Azure, and each flush (included) writes its "
            f"partition's own part of the day ({DAY_PART_FILE.format(day='YYYY-MM-DD', part='<id>')}), so "
            "workers never wait for each other's writes: writes redone = offline writes repeated "
            f"because another writer changed the blob first, summed over the {SCALING_REPEATS} runs. "
            "CPU s (all): the workers' CPU time together; equal for 1 and 2 means nothing is shared "
            "between workers, so the speed-up is bounded by free cores only: two busy workers leave "
            "no core for Azurite or anything else running, one leaves one. Single pairs (1 then 2, "
            "in run order): "
            + ", ".join(f"{one[0] / two[0]:.2f}x" for one, two in zip(runs[1], runs[2], strict=True))
            + ". Target: 2 >= 1.8x one."
        )
    return [per_worker, latency, scale]
