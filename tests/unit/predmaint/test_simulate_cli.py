"""``predmaint simulate``: history on disk with labels and hourly features; clear errors otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
            "--history-days",
            "2",
            "--seed",
            "4",
            "--failures-per-machine-month",
            "0",
            "--data-dir",
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
            "--history-days",
            "1",
            "--drift",
            "vibration_gain_change",
            "--drift-onset-hours",
            "12",
            "--no-ingest",
            "--data-dir",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "vibration_gain_change" in result.output
    assert "drift: vibration_gain_change from 2026-01-01 12:00 UTC" in " ".join(result.output.split())
    assert (DataLayout(out).telemetry_dir / HISTORY_FILE).exists()
    assert not DataLayout(out).windows_dir.exists()


def test_unknown_drift_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--drift", "earthquake", "--drift-onset-hours", "1", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "unknown drift scenario" in result.output and "ambient_temperature_shift" in result.output


def test_drift_without_a_time_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--drift", "high_speed_regime", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--drift-onset-hours" in result.output


def test_end_now_ends_the_history_at_the_current_hour(tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    result = runner.invoke(
        app,
        [
            "simulate",
            "--machines",
            "2",
            "--history-days",
            "1",
            "--end",
            "now",
            "--no-ingest",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    after = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    readings = pd.read_parquet(DataLayout(tmp_path).telemetry_dir / HISTORY_FILE)
    newest = readings["timestamp"].max().to_pydatetime()
    assert before - timedelta(minutes=5) <= newest < after  # the last reading of the last hour
    assert newest >= after - timedelta(hours=1, minutes=5)


def test_deprecated_spellings_still_work(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "simulate",
            "--machines",
            "2",
            "--days",
            "1",
            "--drift",
            "high_speed_regime",
            "--drift-at-days",
            "0.25",
            "--no-ingest",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "from 2026-01-01 06:00 UTC" in " ".join(result.output.split())
    assert (DataLayout(tmp_path).telemetry_dir / HISTORY_FILE).exists()


def test_stream_without_a_history_says_to_simulate_first(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "stream", "--data-dir", str(tmp_path), "--no-realtime"])
    assert result.exit_code == 2
    assert "no simulated history" in result.output and "predmaint simulate" in result.output


def test_stream_to_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    made = runner.invoke(
        app,
        ["simulate", "--machines", "2", "--history-days", "1", "--no-ingest", "--data-dir", str(tmp_path)],
    )
    assert made.exit_code == 0, made.output
    url = f"http://127.0.0.1:{free_port()}/ingest"
    result = runner.invoke(
        app,
        [
            "simulate",
            "stream",
            "--url",
            url,
            "--data-dir",
            str(tmp_path),
            "--minutes",
            "0.05",
            "--no-realtime",
        ],
    )
    assert result.exit_code == 2
    assert "cannot reach" in result.output and "predmaint serve" in result.output
    assert "Traceback" not in result.output


def test_a_stream_ahead_of_the_wall_clock_says_so(tmp_path: Path) -> None:
    made = runner.invoke(
        app,
        [
            "simulate",
            "--machines",
            "2",
            "--history-days",
            "1",
            "--end",
            "now",
            "--no-ingest",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert made.exit_code == 0, made.output
    url = f"http://127.0.0.1:{free_port()}/ingest"
    args = ["simulate", "stream", "--url", url, "--data-dir", str(tmp_path), "--speedup", "3600"]
    result = runner.invoke(app, [*args, "--minutes", "0.05", "--no-realtime"])
    assert "ahead of the wall clock" in " ".join(result.output.split())
