"""``predmaint simulate``: generate a fleet history (readings, labels, hourly features) or stream live
telemetry to a running ingest endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from predmaint.console import console, fail, progress

if TYPE_CHECKING:
    import pandas as pd

    from features.ingest import HistorySummary
    from simulator.fleet import FleetConfig

HISTORY_FILE = "history.parquet"
"""Raw simulated readings under ``layout.telemetry_dir``."""

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


def _ingest(layout: Any, readings: pd.DataFrame) -> HistorySummary:
    try:
        from features.ingest import ingest_history
    except ImportError as exc:
        fail(
            f"bulk feature ingest is not available ({exc})",
            "features.ingest.ingest_history is needed to write hourly windows; raw readings and labels "
            "were written",
        )
    from features.errors import FeaturesError

    try:
        with progress() as bar:
            task = bar.add_task("aggregating hourly windows", total=None)

            def report(done: int, total: int | None = None) -> None:
                bar.update(task, completed=done, total=total)

            return ingest_history(layout, readings, progress=report)
    except FeaturesError as exc:
        fail(str(exc), exc.hint)


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
        from simulator.fleet import FleetSimulator
        from simulator.labels import write_labels

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
        sim = FleetSimulator(config)
        with progress() as bar:
            task = bar.add_task(f"simulating {config.machines} machines x {config.days:g} days", total=None)
            result = sim.history(progress=lambda done, total: bar.update(task, completed=done, total=total))
        layout.telemetry_dir.mkdir(parents=True, exist_ok=True)
        readings_path = layout.telemetry_dir / HISTORY_FILE
        result.readings.to_parquet(readings_path, index=False)
        failures_path, maintenance_path = write_labels(layout, result)
        modes = result.failures["mode"].value_counts().to_dict()
        console.print(
            f"[green]wrote[/] {len(result.readings):,} readings to {readings_path}\n"
            f"[green]wrote[/] {len(result.failures)} failures {modes} to {failures_path}\n"
            f"[green]wrote[/] {len(result.maintenance)} maintenance periods to {maintenance_path}"
        )
        if config.drift is not None:
            console.print(f"drift: {config.drift.value} from {config.drift_time:%Y-%m-%d %H:%M} UTC")
        if ingest:
            summary = _ingest(layout, result.readings)
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
        eventhub: Annotated[
            str | None,
            typer.Option(
                "--eventhub",
                help="publish to Event Hubs instead of posting: <namespace>.servicebus.windows.net/<hub> "
                "(Azure credential: workload identity or az login)",
            ),
        ] = None,
    ) -> None:
        """Stream live telemetry that continues the simulated history, posting batches to /ingest
        (or publishing them to Event Hubs with --eventhub)."""
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
        total = max(1, int(-(-(minutes * 60) // batch_seconds)))
        if eventhub is not None:
            url = f"eventhubs://{eventhub}"
            posted = _publish_all(eventhub, batches, total)
        else:
            posted = _post_all(url, batches, total=total)
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


def _publish_all(eventhub: str, batches: Any, total: int) -> int:
    """Publish every batch to Event Hubs (``machine_id`` as the partition key), as devices would."""
    from core.contract import READINGS_ADAPTER
    from ingest.producer import EventHubPublisher

    namespace, _, hub = eventhub.partition("/")
    if not namespace or not hub:
        fail(f"--eventhub {eventhub!r} is not <namespace>.servicebus.windows.net/<hub>")
    publisher = EventHubPublisher.connect(namespace, hub)
    published = 0
    try:
        with progress() as bar:
            task = bar.add_task(f"publishing to {eventhub}", total=total)
            for _, frame in batches:
                published += publisher.publish(
                    READINGS_ADAPTER.validate_python(_payload(frame)["readings"])
                ).published
                bar.advance(task)
    finally:
        publisher.close()
    return published
