"""Fleet simulator throughput: bulk history generation and live stream batches."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from bench.table import Table, percentiles_us
from simulator.fleet import FleetConfig, FleetSimulator
from simulator.scenarios import DriftScenario

REPEATS = 3


def _history(config: FleetConfig) -> tuple[float, int]:
    """Median seconds of a fresh simulator's ``history()`` over REPEATS runs, and the reading count."""
    times, rows = [], 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        rows = len(FleetSimulator(config).history().readings)
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def run() -> list[Table]:
    bulk = Table(
        "Simulator: history generation (median of 3)",
        ["fleet", "readings", "seconds", "readings/s", "vs 50 x 7 d @ 60 s"],
        note="Fresh FleetSimulator per run; includes failure scheduling and building the DataFrame.",
    )
    cases = [
        ("50 machines x 7 d @ 60 s", FleetConfig(machines=50, days=7.0)),
        (
            "50 machines x 7 d @ 60 s, drift",
            FleetConfig(machines=50, days=7.0, drift=DriftScenario.high_speed_regime, drift_at_days=3.0),
        ),
        ("500 machines x 1 d @ 60 s", FleetConfig(machines=500, days=1.0)),
        ("5 machines x 1 d @ 1 s", FleetConfig(machines=5, days=1.0, interval_s=1)),
    ]
    reference = None
    for label, config in cases:
        seconds, rows = _history(config)
        rate = rows / seconds
        reference = reference or rate
        bulk.add(label, rows, seconds, rate, f"{rate / reference:.2f}x")

    stream = Table(
        "Simulator: one live batch (readings_between), 50 machines",
        ["simulated span", "readings", "p50 ms", "p99 ms"],
        note="What stream_readings does per batch: regenerate the span from the per-day noise chunks.",
    )
    sim = FleetSimulator(FleetConfig(machines=50, days=30.0))
    for minutes in (1, 10, 60):
        samples, rows = [], 0
        t0 = sim.config.end
        for i in range(30):
            a = t0 + timedelta(minutes=minutes * i)
            start = time.perf_counter()
            rows = len(sim.readings_between(a, a + timedelta(minutes=minutes)))
            samples.append(time.perf_counter() - start)
        p50, p99 = percentiles_us(samples)
        stream.add(f"{minutes} min", rows, p50 / 1000, p99 / 1000)
    return [bulk, stream]
