"""Labels land where the layout says; the stream paces itself on the accelerated clock."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from core.layout import DataLayout
from simulator.fleet import FleetConfig, FleetSimulator
from simulator.labels import write_labels
from simulator.stream import stream_readings


def test_write_labels_writes_failures_and_maintenance(layout: DataLayout) -> None:
    result = FleetSimulator(
        FleetConfig(machines=4, days=8.0, seed=1, failures_per_machine_month=10.0)
    ).history()
    assert len(result.failures) > 0
    failures_path, maintenance_path = write_labels(layout, result)
    assert failures_path == layout.failures_path and maintenance_path == layout.maintenance_path
    failures = pd.read_parquet(layout.failures_path)
    maintenance = pd.read_parquet(layout.maintenance_path)
    assert list(failures.columns) == ["machine_id", "failure_time", "mode", "onset_time"]
    assert list(maintenance.columns) == ["machine_id", "start", "end"]
    pd.testing.assert_frame_equal(failures, result.failures)
    pd.testing.assert_frame_equal(maintenance, result.maintenance)
    assert str(failures["failure_time"].dt.tz) == "UTC"
    # every maintenance period starts at a failure of the same machine
    merged = maintenance.merge(
        failures, left_on=["machine_id", "start"], right_on=["machine_id", "failure_time"]
    )
    assert len(merged) == len(maintenance)


def test_write_labels_without_failures_writes_empty_files(layout: DataLayout) -> None:
    result = FleetSimulator(FleetConfig(machines=2, days=1.0, failures_per_machine_month=0.0)).history()
    write_labels(layout, result)
    assert pd.read_parquet(layout.failures_path).empty
    assert pd.read_parquet(layout.maintenance_path).empty


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_realtime_stream_advances_sim_time_speedup_times_faster_than_wall_time() -> None:
    config = FleetConfig(machines=3, days=1.0)
    clock = FakeClock()
    stream = stream_readings(
        FleetSimulator(config), config.end, speedup=600, batch_seconds=2.0, clock=clock, sleep=clock.sleep
    )
    batches = [next(stream) for _ in range(5)]
    times = [t for t, _ in batches]
    assert times == [config.end + timedelta(seconds=1200 * (i + 1)) for i in range(5)]
    assert clock.now - 100.0 == 10.0  # five batches of two wall seconds
    for _, frame in batches:
        # 20 simulated minutes of 3 machines at one reading a minute (minus the odd dropout)
        assert 55 <= len(frame) <= 60
        assert frame["timestamp"].min() >= config.end


def test_a_slow_consumer_does_not_make_the_stream_drift() -> None:
    config = FleetConfig(machines=2, days=1.0)
    clock = FakeClock()
    stream = stream_readings(
        FleetSimulator(config), config.end, speedup=60, batch_seconds=1.0, clock=clock, sleep=clock.sleep
    )
    next(stream)
    clock.now += 3.5  # the consumer took 3.5 s: the next batches are due at once
    next(stream)
    next(stream)
    next(stream)
    assert clock.sleeps[1:] == []
    next(stream)
    assert clock.sleeps[-1] == 0.5
