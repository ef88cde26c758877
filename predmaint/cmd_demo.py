"""``predmaint demo``: the whole local loop in one command (logic in :mod:`predmaint.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from predmaint.console import console, fail
from predmaint.demo.config import DemoConfig, Preset


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    preset: Annotated[Preset, typer.Option(help="small: the end-to-end test's quick run; full: the demo")] = (
        Preset.full
    ),
    small: Annotated[bool, typer.Option("--small", help="same as --preset small")] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="data directory, emptied at the start of every run [default: .predmaint/demo]"),
    ] = None,
    machines: Annotated[int | None, typer.Option(help="machines in the fleet")] = None,
    history_days: Annotated[
        float | None, typer.Option(help="simulated days of history before going live")
    ] = None,
    speedup: Annotated[float | None, typer.Option(help="simulated seconds per wall second")] = None,
    drift: Annotated[
        str | None,
        typer.Option(
            help="drift scenario: ambient_temperature_shift, vibration_gain_change, high_speed_regime"
        ),
    ] = None,
    drift_onset_hours: Annotated[
        float | None, typer.Option(help="drift onset, simulated hours after going live")
    ] = (None),
    scoring_port: Annotated[int | None, typer.Option(help="facade port (0: any free port)")] = None,
    drift_port: Annotated[int | None, typer.Option(help="drift sidecar port (0: any free port)")] = None,
    seed: Annotated[int | None, typer.Option(help="simulator seed")] = None,
    prometheus: Annotated[
        bool,
        typer.Option(
            "--prometheus",
            help="alert with real Prometheus and Alertmanager on loopback (Debian packages prometheus, "
            "prometheus-alertmanager) instead of the embedded rule evaluator",
        ),
    ] = False,
) -> None:
    """Simulate a fleet, train, serve, inject drift, detect it, retrain, promote, and write a report."""
    from pydantic import ValidationError

    from predmaint.demo.run import run_demo

    if prometheus:
        from predmaint.demo.prometheus import INSTALL_HINT, PrometheusMissing, find_binaries

        try:
            find_binaries()
        except PrometheusMissing as exc:
            fail(
                f"--prometheus: {exc}", f"install them ({INSTALL_HINT}) or run the demo without --prometheus"
            )
    try:
        config = DemoConfig.preset(
            Preset.small if small else preset,
            data_dir=data_dir,
            machines=machines,
            history_days=history_days,
            speedup=speedup,
            drift=drift,
            drift_onset_hours=drift_onset_hours,
            scoring_port=scoring_port,
            drift_port=drift_port,
            seed=seed,
            prometheus=prometheus or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(
            f"invalid demo setting {'.'.join(map(str, first['loc'])) or ''}: {first['msg']}",
            "see predmaint demo --help",
        )
    code = run_demo(config, console)
    raise typer.Exit(code)
