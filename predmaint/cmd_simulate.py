"""``predmaint simulate``: generate a fleet history (readings, labels, hourly features) or stream live
telemetry to a running ingest endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from predmaint.console import console, fail, progress

if TYPE_CHECKING:
    import pandas as pd

    from simulator.fleet import FleetConfig

HISTORY_FILE = "history.parquet"
"""Raw simulated readings under ``layout.telemetry_dir`` (``simulator.history.HISTORY_FILE``)."""

Machines = Annotated[int, typer.Option(help="machines in the fleet", min=1)]
Seed = Annotated[int, typer.Option(help="random seed: the same seed gives the same fleet")]
IntervalS = Annotated[int, typer.Option("--interval-s", help="seconds between readings of a machine", min=1)]
Drift = Annotated[
    str | None,
    typer.Option(
        help="fleet-wide drift: ambient_temperature_shift, vibration_gain_change or high_speed_regime",
    ),
]
DriftAt = Annotated[
    float | None, typer.Option("--drift-at-days", help="days after the start when drift begins")
]
FailureRate = Annotated[
    float | None,
    typer.Option(
        "--failures-per-machine-month", help="failure hazard (default ~12 failures on 50 x 30 days)"
    ),
]


def _config(**values: Any) -> FleetConfig:
    from pydantic import ValidationError

    from simulator.fleet import FleetConfig
    from simulator.scenarios import DriftScenario

    drift = values.pop("drift")
    if drift is not None:
        try:
            values["drift"] = DriftScenario(drift)
        except ValueError:
            fail(
                f"unknown drift scenario {drift!r}",
                "choose one of: " + ", ".join(d.value for d in DriftScenario),
            )
        if values.get("drift_at_days") is None:
            fail("--drift needs --drift-at-days", "e.g. --drift ambient_temperature_shift --drift-at-days 20")
    elif values.get("drift_at_days") is not None:
        fail("--drift-at-days needs --drift")
    if values.get("failures_per_machine_month") is None:
        values.pop("failures_per_machine_month", None)
    try:
        return FleetConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        fail(f"invalid simulation settings: {where}: {first.get('msg')}")


def register(app: typer.Typer) -> None:
    sim_app = typer.Typer(
        help="Simulate a fleet: write history (readings, labels, hourly features) or stream live telemetry.",
        no_args_is_help=False,
    )

    @sim_app.callback(invoke_without_command=True)
    def simulate(
        ctx: typer.Context,
        machines: Machines = 50,
        days: Annotated[float, typer.Option(help="days of history")] = 30.0,
        seed: Seed = 0,
        interval_s: IntervalS = 60,
        drift: Drift = None,
        drift_at_days: DriftAt = None,
        failures_per_machine_month: FailureRate = None,
        out: Annotated[
            Path | None, typer.Option(help="data directory (default: $PREDMAINT_DATA_DIR or ./.predmaint)")
        ] = None,
        ingest: Annotated[
            bool, typer.Option(help="aggregate and store hourly features after writing")
        ] = True,
    ) -> None:
        """Generate a fleet history: raw readings (parquet), failure and maintenance labels, and the
        hourly window features in the offline store."""
        if ctx.invoked_subcommand is not None:
            return
        from core.layout import DataLayout
        from features.errors import FeaturesError
        from simulator.fleet import FleetSimulator
        from simulator.history import write_history

        config = _config(
            machines=machines,
            days=days,
            seed=seed,
            interval_s=interval_s,
            drift=drift,
            drift_at_days=drift_at_days,
            failures_per_machine_month=failures_per_machine_month,
        )
        layout = DataLayout(out.resolve()) if out is not None else DataLayout.from_env()
        step = "simulating and aggregating" if ingest else "simulating"
        try:
            with progress() as bar:
                task = bar.add_task(f"{step} {config.machines} machines x {config.days:g} days", total=None)
                written = write_history(
                    FleetSimulator(config),
                    layout,
                    ingest=ingest,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except FeaturesError as exc:
            fail(str(exc), exc.hint)
        modes = written.failures["mode"].value_counts().to_dict()
        console.print(
            f"[green]wrote[/] {written.readings:,} readings to {written.readings_path}\n"
            f"[green]wrote[/] {len(written.failures)} failures {modes} to {layout.failures_path}\n"
            f"[green]wrote[/] {len(written.maintenance)} maintenance periods to {layout.maintenance_path}"
        )
        if config.drift is not None:
            console.print(f"drift: {config.drift.value} from {config.drift_time:%Y-%m-%d %H:%M} UTC")
        if written.summary is not None:
            summary = written.summary
            console.print(
                f"[green]ingested[/] {summary.windows:,} hourly windows ({summary.sparse_windows} sparse) "
                f"of {summary.machines} machines into {layout.windows_dir}"
            )

    @sim_app.command("stream")
    def stream(
        url: Annotated[str, typer.Option(help="ingest endpoint")] = "http://127.0.0.1:8000/ingest",
        speedup: Annotated[float, typer.Option(help="simulated seconds per wall second", min=1e-3)] = 600.0,
        minutes: Annotated[
            float,
            typer.Option(help="wall-clock minutes to stream (covers minutes x speedup of sim time)", min=0),
        ] = 5.0,
        batch_seconds: Annotated[float, typer.Option(help="wall seconds between posts", min=0.01)] = 1.0,
        machines: Machines = 50,
        days: Annotated[
            float, typer.Option(help="history length: streaming continues from the end of that history")
        ] = 30.0,
        seed: Seed = 0,
        interval_s: IntervalS = 60,
        drift: Drift = None,
        drift_at_days: DriftAt = None,
        failures_per_machine_month: FailureRate = None,
        realtime: Annotated[
            bool,
            typer.Option(help="pace posts on the accelerated clock (--no-realtime: as fast as possible)"),
        ] = True,
    ) -> None:
        """Stream live telemetry that continues the simulated history, posting batches to /ingest."""
        from datetime import timedelta

        from simulator.fleet import FleetSimulator
        from simulator.stream import stream_readings

        config = _config(
            machines=machines,
            days=days,
            seed=seed,
            interval_s=interval_s,
            drift=drift,
            drift_at_days=drift_at_days,
            failures_per_machine_month=failures_per_machine_month,
        )
        sim = FleetSimulator(config)
        start = config.end
        end = start + timedelta(seconds=minutes * 60 * speedup)
        batches = stream_readings(sim, start, speedup, batch_seconds, end=end, realtime=realtime)
        posted = _post_all(url, batches, total=max(1, int(-(-(minutes * 60) // batch_seconds))))
        console.print(
            f"[green]posted[/] {posted:,} readings to {url}, sim time {start:%Y-%m-%d %H:%M} .. {end:%H:%M}"
        )

    app.add_typer(sim_app, name="simulate")


def _payload(frame: pd.DataFrame) -> dict[str, list[dict[str, object]]]:
    from core.contract import TIMESTAMP

    records = frame.assign(**{TIMESTAMP: frame[TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")}).to_dict(
        orient="records"
    )
    return {"readings": [{str(k): v for k, v in r.items()} for r in records]}


def _post_all(url: str, batches: Any, total: int) -> int:
    import httpx

    from core.contract import MAX_INGEST_BATCH

    posted = 0
    with httpx.Client(timeout=10.0) as client, progress() as bar:
        task = bar.add_task(f"streaming to {url}", total=total)
        for _, frame in batches:
            for lo in range(0, len(frame), MAX_INGEST_BATCH):
                part = frame.iloc[lo : lo + MAX_INGEST_BATCH]
                try:
                    response = client.post(url, json=_payload(part))
                except httpx.TransportError as exc:
                    fail(
                        f"cannot reach the ingest endpoint {url} ({type(exc).__name__})",
                        "start the facade first: predmaint serve (or pass --url)",
                    )
                if response.status_code >= 400:
                    fail(f"{url} answered {response.status_code}: {response.text[:500]}")
                posted += len(part)
            bar.advance(task)
    return posted
