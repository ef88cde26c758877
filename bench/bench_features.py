"""Feature store: ingest throughput (validation, aggregation, push) and one-machine online reads.

Ingest runs the facade's path for a JSON body: ``TelemetryBatch.model_validate_json`` ->
``Ingestor.ingest`` (WindowAggregator, push of changed windows to the SQLite online store, merge into
the offline day files). Reads compare ``features.store.read_online`` on SQLite and Redis with Feast's
own ``get_online_features`` and a raw Redis ``HGETALL`` of the same key.

Redis: ``PREDMAINT_BENCH_REDIS_URL`` (default database ``bench.redis_db.FEATURES_DB``; the benchmark flushes
that database, which it owns). Without Redis the Redis rows say so.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.redis_db import FEATURES_REDIS_URL
from bench.table import Table, percentiles_us
from core.contract import ENTITY_KEY, SENSORS, TIMESTAMP, TelemetryBatch
from core.layout import DataLayout

REDIS_URL = FEATURES_REDIS_URL
READINGS = 40_000
READS = 2_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def _bodies(batch: int, machines: int) -> list[bytes]:
    """JSON bodies of ``batch`` readings: ``machines`` machines reporting every minute, in time order."""
    rng = np.random.default_rng(0)
    n = READINGS
    minute = np.arange(n) // machines
    frame = pd.DataFrame(
        {
            ENTITY_KEY: [f"machine-{i:04d}" for i in np.arange(n) % machines],
            TIMESTAMP: [(START + timedelta(minutes=int(m))).isoformat() for m in minute],
        }
    )
    for spec in SENSORS:
        lo, hi = spec.minimum, spec.maximum
        frame[spec.name] = rng.uniform(lo + (hi - lo) * 0.2, lo + (hi - lo) * 0.4, n).round(3)
    records = frame.to_dict(orient="records")
    return [json.dumps({"readings": records[i : i + batch]}).encode() for i in range(0, n, batch)]


def _ingest(batch: int, machines: int, online: str | None) -> tuple[float, float, float, float]:
    """(readings/s wall clock, readings per CPU second of this process, validation share of the
    wall time, median ms per batch) over one pass of READINGS."""
    from features.ingest import Ingestor
    from features.store import apply, open_store

    bodies = _bodies(batch, machines)
    with tempfile.TemporaryDirectory() as tmp:
        layout = DataLayout(Path(tmp))
        if online == "redis":
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()
        store = open_store(layout, "redis" if online == "redis" else "sqlite", REDIS_URL)
        apply(store)
        ingestor = Ingestor(store, layout, online=online is not None, warm_start=False)
        validate_s = 0.0
        per_batch = []
        cpu_start = time.process_time()
        start = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            parsed = TelemetryBatch.model_validate_json(body)
            t1 = time.perf_counter()
            ingestor.ingest(parsed)
            per_batch.append(time.perf_counter() - t0)
            validate_s += t1 - t0
        ingestor.flush()  # the queued offline windows are part of the work
        total = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
    return READINGS / total, READINGS / cpu, validate_s / total, statistics.median(per_batch) * 1000


def _timed(fn: Callable[[], Any], n: int = READS) -> tuple[float, float]:
    for _ in range(50):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return percentiles_us(samples)


def _redis_reachable() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
        return True
    except redis.exceptions.ConnectionError:
        return False


def _reads() -> Table:
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from features.ingest import ingest_history
    from features.store import FEATURE_REFS, apply, materialize, open_store, read_online

    table = Table(
        "Features: one-machine online read (2,000 reads after 50 warm-up)",
        ["path", "p50 us", "p99 us", "p50 vs raw HGETALL", "p99 vs raw HGETALL"],
        note="read_online = Feast get_online_features + age/stale/sparse; raw = redis-py HGETALL of the "
        "same Feast key. Target: read_online on Redis p99 within 3x raw.",
    )
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        layout = DataLayout(Path(tmp))
        readings = pd.DataFrame(
            {
                ENTITY_KEY: np.repeat([f"machine-{i:04d}" for i in range(20)], 120),
                TIMESTAMP: np.tile(pd.date_range(START, periods=120, freq="min"), 20),
            }
        ).assign(**{s.name: (s.minimum + s.maximum) / 3 for s in SENSORS})
        ingest_history(layout, readings)
        machine = "machine-0007"
        sqlite = open_store(layout)
        apply(sqlite)
        materialize(sqlite)
        rows.append(("read_online, SQLite", *_timed(lambda: read_online(sqlite, [machine]))))
        rows.append(
            (
                "Feast get_online_features, SQLite",
                *_timed(lambda: sqlite.get_online_features(list(FEATURE_REFS), [{ENTITY_KEY: machine}])),
            )
        )
        if _redis_reachable():
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            client.flushdb()
            store = open_store(layout, "redis", REDIS_URL)
            apply(store)
            materialize(store)
            rows.append(("read_online, Redis", *_timed(lambda: read_online(store, [machine]))))
            rows.append(
                (
                    "Feast get_online_features, Redis",
                    *_timed(lambda: store.get_online_features(list(FEATURE_REFS), [{ENTITY_KEY: machine}])),
                )
            )
            key = _redis_key(
                store.project,
                EntityKey(join_keys=[ENTITY_KEY], entity_values=[Value(string_val=machine)]),
                entity_key_serialization_version=store.config.entity_key_serialization_version,
            )
            assert client.hgetall(key), "the Feast key of the machine is not in Redis"
            rows.append(("raw Redis HGETALL", *_timed(lambda: client.hgetall(key))))
        else:
            table.note += f" Redis rows skipped: nothing answers at {REDIS_URL}."
    raw = next(((p50, p99) for name, p50, p99 in rows if name.startswith("raw")), None)
    for name, p50, p99 in rows:
        ratios = (f"{p50 / raw[0]:.2f}x", f"{p99 / raw[1]:.2f}x") if raw else ("-", "-")
        table.add(name, p50, p99, *ratios)
    return table


def run() -> list[Table]:
    ingest = Table(
        f"Features: ingest throughput ({READINGS:,} readings, JSON body -> online + offline)",
        [
            "machines",
            "batch",
            "online push",
            "readings/s",
            "readings/CPU-s",
            "validation share",
            "median ms/batch",
        ],
        note="Per batch: TelemetryBatch.model_validate_json, WindowAggregator, push of each machine's "
        "newest changed window (push_online: the push source's views, provider ingest_df); changed "
        "windows are merged into the "
        "offline day files every 5 s and at the end (included). Every machine reports once a minute, "
        "so a batch changes min(machines, batch) windows. readings/CPU-s divides by this process's CPU "
        "time (Redis server time excluded): the figure to trust on a shared, loaded machine. "
        "Target: >= 20,000 readings/s.",
    )
    cases: list[tuple[int, int, str | None]] = [
        (50, 1_000, "sqlite"),
        (50, 5_000, "sqlite"),
        (500, 1_000, "sqlite"),
        (500, 5_000, "sqlite"),
        (50, 5_000, None),
    ]
    if _redis_reachable():
        cases += [(50, 1_000, "redis"), (50, 5_000, "redis")]
    for machines, batch, online in cases:
        rate, cpu_rate, share, ms = _ingest(batch, machines, online)
        ingest.add(machines, f"{batch:,}", online or "off", rate, cpu_rate, f"{share:.0%}", ms)
    return [ingest, _reads()]
