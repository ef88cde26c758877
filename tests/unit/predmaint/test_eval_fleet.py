"""``predmaint eval fleet``: two folds on a small simulated fleet, each failure counted once, in the
fold that holds its 24 h lead hour, per failure mode."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from predmaint.cli import app

runner = CliRunner()


def test_each_failure_counts_once_in_the_fold_of_its_lead_hour() -> None:
    """Seed 2, 16 machines x 12 days (fold B from day 6): M004's imbalance fails on day 6 09 h, in
    fold B, but its lead hour is in fold A; M006's bearing wear fails on day 11 (fold B); M001's
    cooling fault on day 14, after the recording, has no label and is not counted."""
    result = runner.invoke(
        app, ["eval", "fleet", "--seed", "2", "--machines", "16", "--history-days", "12", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (fleet,) = json.loads(result.output)
    assert fleet["failures"] == 2
    assert {mode: m["failures"] for mode, m in fleet["modes"].items()} == {"bearing_wear": 1, "imbalance": 1}
    assert 0.0 <= fleet["recall_24h"] <= 1.0
    assert fleet["machine_months"] > 5  # 16 machines x 12 days, less the sparse and repair hours


def test_the_markdown_table_has_a_column_per_failure_mode() -> None:
    result = runner.invoke(
        app,
        ["eval", "fleet", "--seed", "2", "--machines", "16", "--history-days", "12", "--format", "markdown"],
    )
    assert result.exit_code == 0, result.output
    header, _, row = result.output.strip().splitlines()
    assert header == "| seed | recall@24h | bearing_wear | imbalance | false alarms / machine-month |"
    assert row.startswith("| 2 | ")
