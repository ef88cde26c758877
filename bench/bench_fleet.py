"""Fleet scale: relative features, training and hourly whole-fleet scoring at 50, 500 and 5,000 machines.

Windows, not readings: the simulator's 50-machine fleet (seed 0, one reading a minute, through
``features.relative.windows_of``) is aggregated once; a fleet of N machines is those hourly window
statistics tiled to N machine ids (types kept, 2 % multiplicative jitter per machine), so the
relative features, the forest and the scoring see N distinct machines without simulating N x 1,440
readings a day. 50 and 500 machines: 30 days; 5,000 machines: 10 days (the baseline needs 7).

Per size, in a fresh process (its peak RSS is the figure): relative features of the whole history
(bulk path, ``with_relative``); training as the ``train`` step does it (IsolationForest 100 trees x
256 samples over ``MODEL_FEATURES``, threshold at the 0.995 quantile, compact ONNX export) on every
window; then each of the last 6 hours as it arrives: the streaming relative features of the whole
fleet (``RelativeState.update``) and one ONNX run over the fleet's rows, median and worst hour.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Final

import numpy as np
import pandas as pd

from bench.memory import peak_rss_mib
from bench.table import Table
from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, MODEL_FEATURES

SIZES: Final = ((50, 30), (500, 30), (5_000, 10))
"""(machines, days)."""
SCORED_HOURS: Final = 6
JITTER: Final = 0.02


def _fleet(machines: int, days: int) -> tuple[pd.DataFrame, dict[str, str]]:
    from features.aggregate import AGGREGATE_COLUMNS
    from features.relative import windows_of
    from simulator.fleet import FleetConfig, FleetSimulator

    sim = FleetSimulator(FleetConfig(machines=50, days=days, seed=0))
    base = windows_of(sim.readings_between(sim.config.start, sim.config.end))[list(AGGREGATE_COLUMNS)]
    types = dict(zip(sim.machines[ENTITY_KEY], sim.machines["machine_type"], strict=True))
    stats = [c for c in MODEL_FEATURES if c in base.columns]
    rng = np.random.default_rng(1)
    parts: list[pd.DataFrame] = []
    fleet_types: dict[str, str] = {}
    for copy in range(-(-machines // 50)):
        part = base.copy()
        factor = 1.0 + JITTER * rng.standard_normal(50)
        codes = part[ENTITY_KEY].str[1:].astype(int).to_numpy() - 1
        part[stats] = part[stats].to_numpy() * factor[codes][:, None]
        part[ENTITY_KEY] = part[ENTITY_KEY] + f"-{copy:03d}"
        fleet_types |= {f"{m}-{copy:03d}": t for m, t in types.items()}
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    keep = sorted(frame[ENTITY_KEY].unique())[:machines]
    frame = frame.loc[frame[ENTITY_KEY].isin(keep)].reset_index(drop=True)
    return frame, {m: fleet_types[m] for m in keep}


def measure(machines: int, days: int) -> dict[str, float]:
    """One size, in this process: timings in seconds and the peak RSS in MiB."""
    import onnxruntime as ort

    from aml.detector import Detector, DetectorConfig
    from aml.onnx_export import to_onnx
    from features.relative import RelativeState, with_relative

    frame, types = _fleet(machines, days)
    hours = np.sort(frame[EVENT_TIMESTAMP].unique())
    live_from = hours[-SCORED_HOURS]
    start = time.perf_counter()
    windows = with_relative(frame, types)
    relative_s = time.perf_counter() - start

    history = windows.loc[windows[EVENT_TIMESTAMP] < live_from]
    start = time.perf_counter()
    detector = Detector(
        DetectorConfig(window=None, n_estimators=100, max_samples=256, threshold_quantile=0.995, seed=0),
        columns=list(MODEL_FEATURES),
    ).fit(history)
    assert detector.model is not None
    proto = to_onnx(detector.model, list(MODEL_FEATURES))
    train_s = time.perf_counter() - start

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    state = RelativeState(types, history)
    features_s, score_s = [], []
    for hour in hours[-SCORED_HOURS:]:
        arriving = frame.loc[frame[EVENT_TIMESTAMP] == hour]
        t0 = time.perf_counter()
        rows = state.update(arriving)
        t1 = time.perf_counter()
        session.run(None, {"X": rows[list(MODEL_FEATURES)].to_numpy(np.float32)})
        t2 = time.perf_counter()
        features_s.append(t1 - t0)
        score_s.append(t2 - t1)
    return {
        "machines": machines,
        "days": days,
        "windows": len(windows),
        "relative_s": relative_s,
        "train_windows": len(history),
        "train_s": train_s,
        "hour_features_p50_s": float(np.median(features_s)),
        "hour_features_max_s": float(np.max(features_s)),
        "hour_score_p50_s": float(np.median(score_s)),
        "hour_score_max_s": float(np.max(score_s)),
        "peak_rss_mib": peak_rss_mib(),
    }


def run() -> list[Table]:
    table = Table(
        "Fleet scale: relative features, training, hourly whole-fleet scoring, peak memory",
        [
            "machines",
            "days",
            "windows",
            "relative features, bulk (s)",
            "training + ONNX export (s)",
            "hourly fleet features p50 / max (ms)",
            "hourly fleet ONNX scoring p50 / max (ms)",
            "peak RSS (MiB)",
        ],
        note=__doc__.split("\n\n", 1)[1].replace("\n", " ").strip(),
    )
    for machines, days in SIZES:
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_fleet", "--machines", str(machines), "--days", str(days)],
            check=True,
            capture_output=True,
            text=True,
        )
        m = json.loads(out.stdout.strip().splitlines()[-1])
        table.add(
            machines,
            days,
            f"{m['windows']:,}",
            m["relative_s"],
            m["train_s"],
            f"{m['hour_features_p50_s'] * 1e3:.0f} / {m['hour_features_max_s'] * 1e3:.0f}",
            f"{m['hour_score_p50_s'] * 1e3:.1f} / {m['hour_score_max_s'] * 1e3:.1f}",
            m["peak_rss_mib"],
        )
    return [table]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.bench_fleet")
    parser.add_argument("--machines", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(measure(args.machines, args.days)))
