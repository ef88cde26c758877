"""Drift: one check of a 1,000-row window against a 10,000-row reference over the features the sidecar
compares (``DRIFT_FEATURES``, the model's absolute statistics): today's fixed-threshold check next
to the calibrated one (calibration timed separately: it runs once per reference), each with
Evidently's DataDriftPreset (new API and ``evidently.legacy``) and with the same statistic computed
with scipy; and the sidecar tailer's resident memory while it tails 1,000,000 logged rows (in a
subprocess, so the figure is the tailer's own). Targets: calibrated check <= 0.25 s; memory flat in
the log's length.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.table import Table
from core.contract import DRIFT_FEATURES, MODEL_FEATURES

REFERENCE_ROWS = 10_000
WINDOW_ROWS = 1_000
REPEATS = 5
TAIL_ROWS = 1_000_000
CHECKPOINTS = (100_000, 500_000, 1_000_000)
SEGMENT_ROWS = 20_000


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    cols = list(DRIFT_FEATURES)
    reference = pd.DataFrame(rng.normal(10.0, 2.0, size=(REFERENCE_ROWS, len(cols))), columns=cols)
    window = pd.DataFrame(rng.normal(10.3, 2.0, size=(WINDOW_ROWS, len(cols))), columns=cols)
    return reference, window


def _time(fn: object, repeats: int = REPEATS) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return out


def _check_table() -> Table:
    from scipy.stats import wasserstein_distance

    from drift.calibration import calibrate
    from drift.detector import DriftConfig, check_drift, import_evidently

    reference, window = _frames()
    start = time.perf_counter()
    import_evidently()
    import_s = time.perf_counter() - start
    cols = list(DRIFT_FEATURES)
    calibration_s = _time(lambda: calibrate(reference, cols, WINDOW_ROWS, reference_hash="bench"), repeats=1)
    cal = calibrate(reference, cols, WINDOW_ROWS, reference_hash="bench")
    new_api = DriftConfig(engine="evidently")
    check_drift(reference, window, columns=cols)  # warm-up (first-run caches)
    check_drift(reference, window, columns=cols, config=new_api)
    evidently = _time(lambda: check_drift(reference, window, columns=cols))
    html = _time(lambda: check_drift(reference, window, columns=cols).html(), repeats=2)
    calibrated_new_api = _time(
        lambda: check_drift(reference, window, columns=cols, config=new_api, calibration=cal)
    )
    calibrated = _time(lambda: check_drift(reference, window, columns=cols, calibration=cal))
    calibrated_scipy = _time(
        lambda: check_drift(
            reference, window, columns=cols, config=DriftConfig(engine="scipy"), calibration=cal
        )
    )
    sidecar_scipy = _time(
        lambda: check_drift(reference, window, columns=cols, config=DriftConfig(engine="scipy"))
    )

    def raw() -> None:
        for c in cols:
            r = reference[c].to_numpy()
            wasserstein_distance(r, window[c].to_numpy()) / np.std(r)

    scipy_raw = _time(raw)
    base = statistics.median(scipy_raw)
    table = Table(
        f"Drift check: {WINDOW_ROWS:,}-row window vs {REFERENCE_ROWS:,}-row reference, {len(cols)} features",
        ["implementation", "median s", "min s", "x scipy direct", "target"],
        note=f"Median of {REPEATS} runs after one warm-up. Evidently's import (once per process): "
        f"{import_s:.1f} s. Calibration ({cal.draws} moving-block draws per feature, once per "
        f"reference): {calibration_s[0]:.2f} s. Scores agree to 1e-9 (tests/unit/drift/).",
    )
    for name, samples, target in (
        ("today: fixed threshold, Evidently legacy DataDriftPreset", evidently, ""),
        ("today: fixed threshold, Evidently legacy + HTML report rendering", html, ""),
        ("calibrated, Evidently legacy DataDriftPreset (sidecar default)", calibrated, "<= 0.25 s"),
        ("calibrated, Evidently new-API DataDriftPreset", calibrated_new_api, ""),
        ("calibrated, scipy engine (same verdict, no report)", calibrated_scipy, "<= 0.25 s"),
        ("today: fixed threshold, scipy engine", sidecar_scipy, ""),
        ("scipy wasserstein_distance / std, direct", scipy_raw, ""),
    ):
        med = statistics.median(samples)
        table.add(name, med, min(samples), med / base, target)
    return table


def _rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tail_rss(rows: int, checkpoints: tuple[int, ...]) -> dict[str, float]:
    """Write ``rows`` log rows in segments, tail them, keep 2 segments (retention); RSS at checkpoints."""
    import orjson

    from core.inference_log import list_segments, segment_name
    from drift.tailer import LogTailer, SlidingWindow

    rng = np.random.default_rng(0)
    values = rng.normal(10.0, 2.0, size=(SEGMENT_ROWS, len(MODEL_FEATURES)))
    lines = [
        orjson.dumps(
            {
                "ts": 1_700_000_000.0 + i,
                "model_version": "1",
                "features": dict(zip(MODEL_FEATURES, values[i].tolist(), strict=True)),
                "anomaly_score": 0.4,
                "is_anomaly": False,
                "machine_id": f"m-{i % 50:03d}",
            }
        )
        for i in range(SEGMENT_ROWS)
    ]
    segment = b"\n".join(lines) + b"\n"
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log_dir, state = Path(tmp) / "log", Path(tmp) / "state.json"
        log_dir.mkdir()
        tailer = LogTailer(log_dir, state, SlidingWindow(1_200))
        out["start"] = _rss_mib()
        written, seq = 0, 0
        started = time.perf_counter()
        while written < rows:
            (log_dir / segment_name(seq)).write_bytes(segment)
            seq += 1
            written += SEGMENT_ROWS
            tailer.drain()
            for _seq, path in list_segments(log_dir)[:-2]:
                path.unlink()
            if written in checkpoints:
                out[str(written)] = _rss_mib()
        out["seconds"] = time.perf_counter() - started
        out["rows_read"] = float(tailer.state.rows_read_total)
    return out


def _memory_table() -> Table:
    code = (
        "import json, sys; from bench.bench_drift import tail_rss; "
        f"print(json.dumps(tail_rss({TAIL_ROWS}, {CHECKPOINTS!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=900
    )
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    table = Table(
        "Drift sidecar tailer: resident memory while tailing the inference log",
        ["rows tailed", "RSS MiB", "vs 100k"],
        note=f"Subprocess; segments of {SEGMENT_ROWS:,} rows, 2 kept (retention), window of 1,200 rows. "
        f"{int(figures['rows_read']):,} rows read in {figures['seconds']:.1f} s "
        f"({figures['rows_read'] / figures['seconds']:,.0f} rows/s). Target: flat.",
    )
    table.add("0 (tailer created)", figures["start"], "")
    base = figures[str(CHECKPOINTS[0])]
    for n in CHECKPOINTS:
        table.add(f"{n:,}", figures[str(n)], f"{figures[str(n)] / base:.3f}x")
    return table


def run() -> list[Table]:
    return [_check_table(), _memory_table()]
