"""Hostile requests to the drift sidecar as its image runs it (``python -m drift``, with its API key):
no key, the issue's 15.5 MiB request (with a length and chunked), values out of range, and the cost
model (``drift.cost``) against what each shape really costs.

CPU seconds are the sidecar process's own (``/proc/<pid>/stat``), per request. The real cost of a
shape the cap refuses is measured on a second sidecar without the cap (``DRIFT_MAX_REQUEST_COST_S``
at its maximum). Run alone: ``python -m bench.bench_faults_sidecar``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from bench.fault_rig import Sidecar
from bench.table import Table
from drift.calibration import DEFAULT_DRAWS
from drift.cost import estimated_cost_s
from drift.settings import DriftSettings

KEY = "bench-sidecar-key-0123456789abcdef"
SHAPES = ((625, 32), (5_000, 4), (4_000, 4), (2_000, 10), (1_000, 20), (1_000, 4), (300, 32), (200, 8))
"""(rows, columns) on both sides of an ad-hoc request."""
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rows(rows: int, columns: int, seed: int) -> list[dict[str, float]]:
    values = np.random.default_rng(seed).normal(size=(rows, columns)).round(6)
    names = [f"c{j}" for j in range(columns)]
    return [dict(zip(names, row, strict=True)) for row in values.tolist()]


def _ad_hoc(rows: int, columns: int) -> bytes:
    return orjson.dumps({"reference": _rows(rows, columns, 3), "current": _rows(rows, columns, 4)})


def _post(sidecar: Sidecar, **kwargs: Any) -> tuple[int, str, float, float]:
    """(status, error code, sidecar CPU s, wall s) of one POST /drift with the key."""
    headers = {"x-api-key": KEY, "content-type": "application/json", **kwargs.pop("headers", {})}
    before, started = _cpu_s(sidecar.proc.pid), time.perf_counter()
    r = httpx.post(f"{sidecar.base}/drift", headers=headers, timeout=300, **kwargs)
    wall = time.perf_counter() - started
    time.sleep(0.05)  # let the process finish its accounting of the answer
    code = (
        r.json().get("error", "") if r.headers.get("content-type", "").startswith("application/json") else ""
    )
    return r.status_code, str(code or "ok"), _cpu_s(sidecar.proc.pid) - before, wall


def _sidecar(root: Path, bundle_dir: Path, name: str, env: dict[str, str]) -> Sidecar:
    base = {
        "PREDMAINT_DATA_DIR": str(root / name),
        "DRIFT_MODEL_PATH": str(bundle_dir),
        "DRIFT_API_KEY": KEY,
        "DRIFT_INFERENCE_LOG_DIR": str(root / name / "log"),
        "DRIFT_CHECK_INTERVAL_S": "86400",  # no scheduled check inside a measurement
    }
    return Sidecar({**base, **env}, root / f"{name}.log")


def run() -> list[Table]:
    from tests.scoring_fixtures import build_test_bundle

    defaults = DriftSettings.model_fields
    cap = defaults["max_request_cost_s"].default
    hostile = Table(
        "Sidecar: hostile requests (python -m drift, API key set)",
        ["request", "status", "error", "sidecar CPU s", "wall s", "sidecar RSS MiB after"],
    )
    costs = Table(
        f"Sidecar cost model (drift.cost) against measured CPU, cap {cap:g} s (DRIFT_MAX_REQUEST_COST_S)",
        [
            "rows x columns a side",
            "estimate s",
            "measured CPU s (uncapped)",
            "capped sidecar",
            "capped CPU s",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="bench-sidecar-") as tmp:
        root = Path(tmp)
        bundle_dir = build_test_bundle(root).directory
        with _sidecar(root, bundle_dir, "capped", {}) as sidecar:
            pid = sidecar.proc.pid
            r = httpx.post(f"{sidecar.base}/drift", json={"current": _rows(50, 2, 0)}, timeout=30)
            hostile.add("POST /drift without the key", r.status_code, r.json()["error"], "", "", "")
            r = httpx.get(f"{sidecar.base}/drift", timeout=30)
            hostile.add("GET /drift without the key", r.status_code, r.json()["error"], "", "", "")
            big = orjson.dumps({"reference": _rows(7_500, 100, 1), "current": _rows(7_500, 100, 2)})
            mib = len(big) / 2**20
            status, code, cpu, wall = _post(sidecar, content=big)
            hostile.add(
                f"7,500 x 100 a side ({mib:.1f} MiB), Content-Length", status, code, cpu, wall, _rss_mib(pid)
            )

            def chunks() -> Iterator[bytes]:
                for i in range(0, len(big), 64 * 1024):
                    yield big[i : i + 64 * 1024]

            status, code, cpu, wall = _post(sidecar, content=chunks())
            hostile.add(f"the same, chunked ({mib:.1f} MiB)", status, code, cpu, wall, _rss_mib(pid))
            rows = ",".join('{"a": 1.0, "b": 2.0}' for _ in range(50))
            for value in ("1e308", "NaN"):
                text = f'{{"reference": [{rows}], "current": [{{"a": {value}, "b": 2.0}}, {rows}]}}'
                status, code, cpu, wall = _post(sidecar, content=text.encode())
                hostile.add(f"`{value}` in current", status, code, cpu, wall, _rss_mib(pid))
            capped = {}
            for rows_, columns in SHAPES:
                capped[(rows_, columns)] = _post(sidecar, content=_ad_hoc(rows_, columns))
        uncapped_max = str(next(m.le for m in defaults["max_request_cost_s"].metadata if hasattr(m, "le")))
        with _sidecar(root, bundle_dir, "uncapped", {"DRIFT_MAX_REQUEST_COST_S": uncapped_max}) as free:
            for rows_, columns in SHAPES:
                _, _, measured, _ = _post(free, content=_ad_hoc(rows_, columns))
                estimate = estimated_cost_s(
                    rows_, rows_, columns, calibrated_columns=columns, draws=DEFAULT_DRAWS
                )
                status, code, cpu, _ = capped[(rows_, columns)]
                costs.add(f"{rows_:,} x {columns}", estimate, measured, f"{status} {code}", cpu)
    load = os.getloadavg()[0]
    hostile.note = f"Load average {load:.1f} at the end (2-core machine)."
    costs.note = (
        f"Load average {load:.1f}. Targets: no request costs more than 1 s of CPU before it is refused; "
        "the estimate tracks the measurement."
    )
    return [hostile, costs]


if __name__ == "__main__":
    for t in run():
        print(t.markdown())
