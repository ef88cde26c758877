"""``predmaint simulate``: history on disk with labels and hourly features; clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from core.layout import DataLayout
from predmaint.cli import app
from predmaint.cmd_simulate import HISTORY_FILE
from predmaint.demo.processes import free_port

runner = CliRunner()


def test_simulate_writes_readings_labels_and_hourly_features(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--machines",
            "3",
            "--days",
            "2",
            "--seed",
            "4",
            "--failures-per-machine-month",
            "0",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    layout = DataLayout(out)
    readings = pd.read_parquet(layout.telemetry_dir / HISTORY_FILE)
    assert readings["machine_id"].nunique() == 3
    assert len(readings) > 3 * 2 * 1400
    assert layout.failures_path.exists() and layout.maintenance_path.exists()
    windows = pd.concat(pd.read_parquet(p) for p in layout.windows_dir.rglob("*.parquet"))
    assert len(windows) >= 3 * 47  # one window per machine-hour
    assert "ingested" in result.output


def test_simulate_without_ingest_and_with_drift(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--machines",
            "2",
            "--days",
            "1",
            "--drift",
            "vibration_gain_change",
            "--drift-at-days",
            "0.5",
            "--no-ingest",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "vibration_gain_change" in result.output
    assert (DataLayout(out).telemetry_dir / HISTORY_FILE).exists()
    assert not DataLayout(out).windows_dir.exists()


def test_unknown_drift_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--drift", "earthquake", "--drift-at-days", "1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "unknown drift scenario" in result.output and "ambient_temperature_shift" in result.output


def test_drift_without_a_time_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--drift", "high_speed_regime", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--drift-at-days" in result.output


def test_stream_to_an_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/ingest"
    result = runner.invoke(
        app, ["simulate", "stream", "--url", url, "--machines", "2", "--minutes", "0.05", "--no-realtime"]
    )
    assert result.exit_code == 2
    assert "cannot reach" in result.output and "predmaint serve" in result.output
    assert "Traceback" not in result.output
