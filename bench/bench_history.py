"""Bulk history and local ingest durability.

- ``predmaint simulate``'s writer (:func:`simulator.history.write_history`: simulate, raw readings
  file, labels, hourly windows with relative features into the day files) at 50, 500 and 2,000
  machines x 30 days, each in a fresh subprocess whose peak resident memory (``VmHWM``, see
  :mod:`bench.memory`) is reported with the wall time. Target: peak memory within 1.5x between 50
  and 2,000 machines.
- The live ``Ingestor`` (offline side only, so the online store's cost does not hide it) with and
  without its write-ahead log (an ``fsync`` per batch; sequential batches, so no group commit).

``PREDMAINT_BENCH_HISTORY_FLEETS`` (e.g. ``50,500``) narrows the fleets for a quick run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.memory import peak_rss_mib
from bench.table import Table

DAYS = 30.0
FLEETS = tuple(int(n) for n in os.environ.get("PREDMAINT_BENCH_HISTORY_FLEETS", "50,500,2000").split(","))
INGEST_READINGS = 60_000
INGEST_BATCH = 500
INGEST_MACHINES = 50


def _child(machines: int, days: float) -> None:
    """Runs in the subprocess: one history, then a JSON line with the figures."""
    from core.layout import DataLayout
    from simulator.fleet import FleetConfig, FleetSimulator
    from simulator.history import write_history

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        written = write_history(
            FleetSimulator(FleetConfig(machines=machines, days=days)), DataLayout(Path(tmp))
        )
        seconds = time.perf_counter() - start
        assert written.summary is not None
        windows = written.summary.windows
    peak_mb = peak_rss_mib()
    print(
        json.dumps({"seconds": seconds, "peak_mb": peak_mb, "readings": written.readings, "windows": windows})
    )


def _history() -> Table:
    table = Table(
        f"Bulk history: predmaint simulate's writer, machines x {DAYS:g} days (one subprocess each)",
        ["machines", "readings", "windows", "wall s", "readings/s", "peak RSS MB", "peak vs 50 machines"],
        note="Peak RSS = VmHWM of the subprocess (interpreter, numpy/pandas/pyarrow included). "
        "Target: peak within 1.5x between 50 and 2,000 machines; time linear in machines x days.",
    )
    base = None
    for machines in FLEETS:
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_history", str(machines), str(DAYS)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        base = base or r["peak_mb"]
        table.add(
            machines,
            f"{r['readings']:,}",
            f"{r['windows']:,}",
            r["seconds"],
            r["readings"] / r["seconds"],
            r["peak_mb"],
            f"{r['peak_mb'] / base:.2f}x",
        )
    return table


def _frames() -> list[pd.DataFrame]:
    from core.contract import ENTITY_KEY, SENSOR_NAMES, TIMESTAMP

    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
    n = INGEST_READINGS
    frame = pd.DataFrame(
        {
            ENTITY_KEY: [f"machine-{i:04d}" for i in np.arange(n) % INGEST_MACHINES],
            TIMESTAMP: pd.DatetimeIndex(
                [start + timedelta(minutes=int(m)) for m in np.arange(n) // INGEST_MACHINES]
            ),
        }
    )
    for name in SENSOR_NAMES:
        frame[name] = 10.0
    return [frame.iloc[i : i + INGEST_BATCH].reset_index(drop=True) for i in range(0, n, INGEST_BATCH)]


def _ingest(durable: bool) -> tuple[float, float]:
    """(readings/s, median ms per batch) of the offline-only Ingestor, with or without the log."""
    from core.layout import DataLayout
    from features.ingest import Ingestor

    frames = _frames()
    with tempfile.TemporaryDirectory() as tmp:
        ingestor = Ingestor(None, DataLayout(Path(tmp)), online=False, warm_start=durable, durable=durable)
        per_batch = []
        start = time.perf_counter()
        for frame in frames:
            t0 = time.perf_counter()
            ingestor.ingest_frame(frame)
            per_batch.append(time.perf_counter() - t0)
        ingestor.close()  # the final checkpoint is part of the work
        total = time.perf_counter() - start
    return INGEST_READINGS / total, float(np.median(per_batch)) * 1000


def _wal() -> Table:
    table = Table(
        f"Local ingest with and without the write-ahead log ({INGEST_BATCH}-reading batches, "
        f"{INGEST_MACHINES} machines, offline side only)",
        ["path", "readings/s", "median ms per batch"],
        note="With the log every batch is appended and fsynced before the call returns; "
        "concurrent requests share an fsync (group commit), sequential ones here do not.",
    )
    for durable in (False, True):
        table.add("Ingestor, write-ahead log" if durable else "Ingestor, no log (before)", *_ingest(durable))
    table.add("the log alone: append + fsync", *_log_alone())
    return table


def _log_alone() -> tuple[float, float]:
    """(readings/s, median ms per batch) of IngestWal.append + sync alone, on the data disk."""
    from features.wal import IngestWal

    frames = _frames()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        wal = IngestWal(Path(tmp))
        per_batch = []
        for frame in frames:
            t0 = time.perf_counter()
            wal.sync(wal.append(frame))
            per_batch.append(time.perf_counter() - t0)
        wal.close()
    return INGEST_READINGS / sum(per_batch), float(np.median(per_batch)) * 1000


def run() -> list[Table]:
    return [_history(), _wal()]


if __name__ == "__main__":
    _child(int(sys.argv[1]), float(sys.argv[2]))
