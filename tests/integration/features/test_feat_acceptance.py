"""Acceptance: simulate a small fleet, then `predmaint features apply`, `materialize` and `get`
give back every machine's features; and the commands fail clearly when a step is missing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from core.contract import FEATURE_VIEW
from core.layout import DATA_DIR_ENV, DataLayout
from features.store import open_store, read_online
from predmaint.cli import app
from simulator.fleet import FleetConfig, FleetSimulator
from simulator.history import write_history


@pytest.fixture
def runner(layout: DataLayout, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv(DATA_DIR_ENV, str(layout.root))
    return CliRunner()


def test_simulated_fleet_comes_back_from_the_online_store(runner: CliRunner, layout: DataLayout) -> None:
    sim = FleetSimulator(FleetConfig(machines=6, days=1.0, seed=3))
    summary = write_history(sim, layout, raw=False).summary
    assert summary is not None
    machines = sorted(sim.machines["machine_id"])
    assert summary.machines == len(machines) and summary.windows >= len(machines) * 23

    applied = runner.invoke(app, ["features", "apply"])
    assert applied.exit_code == 0, applied.output
    assert FEATURE_VIEW in applied.output

    materialized = runner.invoke(app, ["features", "materialize"])
    assert materialized.exit_code == 0, materialized.output
    assert f"materialised {len(machines)} machines" in " ".join(materialized.output.split())

    assert summary.last_window_end is not None
    as_of = summary.last_window_end + timedelta(minutes=10)
    got = runner.invoke(app, ["features", "get", *machines, "--now", as_of.isoformat()])
    assert got.exit_code == 0, got.output
    for machine in machines:
        assert machine in got.output

    rows = read_online(open_store(layout), machines, now=as_of)
    assert all(r.values is not None and not r.is_stale for r in rows)


def test_materialize_without_data_says_to_simulate_first(runner: CliRunner) -> None:
    result = runner.invoke(app, ["features", "materialize"])
    assert result.exit_code == 2
    assert "predmaint simulate" in result.output and "Traceback" not in result.output


def test_get_unknown_machine_fails_with_a_hint(runner: CliRunner, layout: DataLayout) -> None:
    assert runner.invoke(app, ["features", "apply"]).exit_code == 0
    result = runner.invoke(app, ["features", "get", "no-such-machine"])
    assert result.exit_code == 1
    assert "no online features" in result.output and "predmaint features materialize" in result.output


def test_bad_end_time_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["features", "materialize", "--end", "tomorrow"])
    assert result.exit_code == 2 and "not an ISO date/time" in result.output
