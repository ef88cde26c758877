"""``predmaint eval skab`` on small SKAB-shaped CSVs made here (the real data is never needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from typer.testing import CliRunner

from aml.skab import (
    CALIBRATION_RUN_ROWS,
    Confusion,
    anomaly_free_files,
    evaluate_files,
    labelled_files,
)
from predmaint import cmd_eval

COLUMNS = [
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
]


def write_run(path: Path, seed: int, *, labelled: bool = True, rows: int = 700) -> None:
    rng = np.random.default_rng(seed)
    centre = np.array([0.027, 0.04, 1.3, 0.05, 79.0, 26.0, 233.0, 32.0])
    data = centre + centre * 0.01 * rng.standard_normal((rows, len(COLUMNS)))
    anomaly = np.zeros(rows)
    if labelled:
        anomaly[500:620] = 1.0
        data[500:620, 7] -= 3.0  # the flow rate drops while the valve is faulty
        data[500:620, 2] += 0.05
    frame = pd.DataFrame(data, columns=COLUMNS)
    frame.insert(0, "datetime", pd.date_range("2020-03-09 10:00:00", periods=rows, freq="s").astype(str))
    if labelled:
        frame["anomaly"] = anomaly
        frame["changepoint"] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False)


def make_data(root: Path) -> Path:
    for i in range(3):
        write_run(root / "valve1" / f"{i}.csv", seed=i)
    write_run(
        root / "anomaly-free" / "anomaly-free.csv", seed=9, labelled=False, rows=2 * CALIBRATION_RUN_ROWS + 10
    )
    return root


def test_pointwise_metrics_follow_skab_definitions() -> None:
    c = Confusion()
    c.add(np.array([1, 1, 0, 0, 0]), np.array([1, 0, 1, 0, 0]))
    assert c.f1 == 1 / (1 + (1 + 1) / 2)
    assert c.far == 100 / 3 and c.mar == 50.0


def test_only_labelled_files_are_used(tmp_path: Path) -> None:
    files = labelled_files(make_data(tmp_path))
    assert [p.name for p in files] == ["0.csv", "1.csv", "2.csv"]


def test_ours_beats_the_baseline_on_a_sustained_fault(tmp_path: Path) -> None:
    report = evaluate_files(labelled_files(make_data(tmp_path)))
    ours, base = report.results.values()
    assert report.test_rows == 3 * 300 and report.anomalies == 3 * 120
    assert ours.f1 > base.f1 + 0.2
    assert ours.mar < base.mar


def test_the_anomaly_free_recording_checks_the_false_alarm_rate(tmp_path: Path) -> None:
    data = make_data(tmp_path)
    assert [p.name for p in anomaly_free_files(data)] == ["anomaly-free.csv"]
    report = evaluate_files(labelled_files(data), anomaly_free=anomaly_free_files(data))
    assert report.anomaly_free_runs == 2
    ours = next(iter(report.anomaly_free.values()))
    assert ours.tp == ours.fn == 0 and ours.fp + ours.tn == 2 * (CALIBRATION_RUN_ROWS - 400)
    assert ours.far < 5.0


def test_cli_json_carries_the_anomaly_free_rate(tmp_path: Path) -> None:
    app = typer.Typer()
    cmd_eval.register(app)
    result = CliRunner().invoke(app, ["eval", "skab", "--data", str(make_data(tmp_path)), "--format", "json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload["SKAB baseline (IsolationForest)"]) == {"f1", "far", "mar", "anomaly_free_far"}


def test_cli_prints_both_detectors(tmp_path: Path) -> None:
    app = typer.Typer()
    cmd_eval.register(app)
    result = CliRunner().invoke(
        app, ["eval", "skab", "--data", str(make_data(tmp_path)), "--format", "markdown"]
    )
    assert result.exit_code == 0, result.output
    assert "| ours (multi-scale levels, max robust deviation) |" in result.output
    assert "| SKAB baseline (IsolationForest) |" in result.output


def test_cli_without_labelled_files_fails_cleanly(tmp_path: Path) -> None:
    app = typer.Typer()
    cmd_eval.register(app)
    result = CliRunner().invoke(app, ["eval", "skab", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
