"""The direct Redis writer (features/online_redis.py) against Feast's own write on a real Redis:
the same keys, fields and bytes, Feast's online read returns what it wrote, and a row not newer
than the stored one is skipped as Feast skips it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import redis

from core.contract import (
    BASELINE_IS_COLD,
    EVENT_TIMESTAMP,
    FEATURE_VIEW,
    IS_SPARSE,
    MODEL_FEATURES,
    READING_COUNT,
    RELATIVE_FEATURES,
)
from core.layout import DataLayout
from features.aggregate import WINDOW_COLUMNS, WindowAggregator
from features.online_redis import RedisOnlineWriter
from features.relative import RelativeState
from features.store import apply, online_rows, open_store, read_online

HourReadings = Callable[..., pd.DataFrame]


def _rows(
    machines: list[str], day: datetime, hour_readings: HourReadings, *, with_nan: bool = False
) -> pd.DataFrame:
    readings = pd.concat(
        [hour_readings(m, 2, 1.0 + i, n=3 + i) for i, m in enumerate(machines)], ignore_index=True
    )
    windows = RelativeState({}).update(WindowAggregator().add(readings).windows)
    rows = online_rows(windows)[list(WINDOW_COLUMNS)].reset_index(drop=True)
    # every kind of value Feast encodes: NaN (an empty proto), both booleans, ints, doubles
    if with_nan:
        rows.loc[0, RELATIVE_FEATURES[0][0]] = np.nan
    rows[IS_SPARSE] = [i % 2 == 0 for i in range(len(rows))]
    rows[BASELINE_IS_COLD] = [i % 2 == 1 for i in range(len(rows))]
    return rows


def _hashes(client: redis.Redis, keys: list[bytes]) -> dict[bytes, dict[bytes, bytes]]:
    return {key: client.hgetall(key) for key in keys}


def test_direct_write_is_byte_identical_to_feasts_and_feast_reads_it(
    layout: DataLayout,
    redis_url: str,
    day: datetime,
    hour_readings: HourReadings,
    machine_ids: Callable[[int], list[str]],
) -> None:
    store = open_store(layout, "redis", redis_url)
    apply(store)
    machines = machine_ids(4)
    rows = _rows(machines, day, hour_readings, with_nan=True)
    writer = RedisOnlineWriter(store, FEATURE_VIEW)
    keys = [writer.redis_key(m) for m in machines]
    client = redis.Redis.from_url(redis_url)

    store._get_provider().ingest_df(store.get_feature_view(FEATURE_VIEW), rows)  # Feast's own path
    feasts = _hashes(client, keys)
    assert all(feasts.values()), "Feast wrote every machine"
    client.delete(*keys)

    assert writer.write(rows) == len(machines)
    assert _hashes(client, keys) == feasts

    client.delete(*keys)
    rows = _rows(machines, day, hour_readings)  # a NaN model feature cannot be scored or read back
    assert writer.write(rows) == len(machines)
    read = {r.machine_id: r for r in read_online(store, machines, now=day + timedelta(hours=3))}
    for i, machine in enumerate(machines):
        values = read[machine].values
        assert values is not None
        assert values[READING_COUNT] == 3 + i
        assert read[machine].is_sparse == (i % 2 == 0)
        assert read[machine].baseline_is_cold == (i % 2 == 1)
        assert read[machine].event_timestamp == day + timedelta(hours=3)
        assert [values[n] for n in MODEL_FEATURES[:2]] == [rows[n].to_numpy()[i] for n in MODEL_FEATURES[:2]]


def test_row_not_newer_than_the_stored_one_is_skipped_as_feast_skips_it(
    layout: DataLayout,
    redis_url: str,
    day: datetime,
    hour_readings: HourReadings,
    machine_ids: Callable[[int], list[str]],
) -> None:
    store = open_store(layout, "redis", redis_url)
    apply(store)
    machine = machine_ids(1)[0]
    rows = _rows([machine], day, hour_readings)
    writer = RedisOnlineWriter(store, FEATURE_VIEW)
    assert writer.write(rows) == 1

    older = rows.copy()
    older[EVENT_TIMESTAMP] = older[EVENT_TIMESTAMP] - timedelta(hours=1)
    older[READING_COUNT] = 99
    assert writer.write(older) == 0
    assert writer.write(rows) == 0  # the same instant is not newer either
    (row,) = read_online(store, [machine], now=day + timedelta(hours=3))
    assert row.values is not None and row.values[READING_COUNT] == 3
