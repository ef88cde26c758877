"""``predmaint simulate``: generate a fleet history (readings, labels, hourly features) or stream live
telemetry to a running ingest endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from predmaint.console import console, fail, progress
from predmaint.options import DataDir, use_data_dir

if TYPE_CHECKING:
    from simulator.fleet import FleetConfig

HISTORY_FILE = "history.parquet"
"""Raw simulated readings under ``layout.telemetry_dir`` (``simulator.history.HISTORY_FILE``)."""
FLEET_FILE = "fleet.json"
"""The fleet configuration of the history, beside it: ``simulate stream`` continues from it."""

Machines = Annotated[int, typer.Option(help="machines in the fleet (M001, M002, ...)", min=1)]
Seed = Annotated[int, typer.Option(help="random seed: the same seed gives the same fleet")]
IntervalS = Annotated[int, typer.Option("--interval-s", help="seconds between readings of a machine", min=1)]
HistoryDays = Annotated[float, typer.Option("--history-days", help="days of history", min=0.01)]
Days = Annotated[float | None, typer.Option("--days", hidden=True, help="deprecated: --history-days")]
End = Annotated[
    str | None,
    typer.Option(
        help="end of the history: 'now' (the current UTC hour) or an ISO time, floored to the "
        "hour [default: 30 days after 2026-01-01]",
    ),
]
Drift = Annotated[
    str | None,
    typer.Option(
        help="fleet-wide drift: ambient_temperature_shift, vibration_gain_change or high_speed_regime",
    ),
]
DriftOnset = Annotated[
    float | None,
    typer.Option("--drift-onset-hours", help="drift onset, hours after the history starts", min=0),
]
DriftAtDays = Annotated[
    float | None,
    typer.Option("--drift-at-days", hidden=True, help="deprecated: --drift-onset-hours / 24"),
]
FailureRate = Annotated[
    float | None,
    typer.Option("--failures-per-machine-month", help="failure hazard [default: the simulator's, 0.3]"),
]


def _history_start(end: str | None, days: float) -> datetime | None:
    """Where a history of ``days`` ending at ``end`` starts (``None``: the simulator's default)."""
    if end is None:
        return None
    if end.strip().lower() == "now":
        at = datetime.now(UTC)
    else:
        try:
            at = datetime.fromisoformat(end)
        except ValueError:
            fail(f"--end {end!r} is neither 'now' nor an ISO time", "e.g. --end now")
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
    at = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return at - timedelta(days=days)


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
            fail(
                "--drift needs --drift-onset-hours",
                "e.g. --drift ambient_temperature_shift --drift-onset-hours 480",
            )
    elif values.get("drift_at_days") is not None:
        fail("--drift-onset-hours needs --drift")
    for optional in ("failures_per_machine_month", "start"):
        if values.get(optional) is None:
            values.pop(optional, None)
    try:
        return FleetConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        fail(f"invalid simulation settings: {where}: {first.get('msg')}")


def _onset_days(drift_onset_hours: float | None, drift_at_days: float | None) -> float | None:
    if drift_onset_hours is not None and drift_at_days is not None:
        fail("give --drift-onset-hours only (--drift-at-days is its deprecated spelling in days)")
    return drift_onset_hours / 24.0 if drift_onset_hours is not None else drift_at_days


def register(app: typer.Typer) -> None:
    sim_app = typer.Typer(
        help="Simulate a fleet: write history (readings, labels, hourly features) or stream live "
        "telemetry that continues it.",
        no_args_is_help=False,
    )

    @sim_app.callback(invoke_without_command=True)
    def simulate(
        ctx: typer.Context,
        machines: Machines = 50,
        history_days: HistoryDays = 30.0,
        days: Days = None,
        end: End = None,
        seed: Seed = 0,
        interval_s: IntervalS = 60,
        drift: Drift = None,
        drift_onset_hours: DriftOnset = None,
        drift_at_days: DriftAtDays = None,
        failures_per_machine_month: FailureRate = None,
        data_dir: DataDir = None,
        out: Annotated[Path | None, typer.Option("--out", hidden=True, help="deprecated: --data-dir")] = None,
        ingest: Annotated[
            bool, typer.Option(help="aggregate and store hourly features after writing")
        ] = True,
    ) -> None:
        """Generate a fleet history: raw readings (parquet), failure and maintenance labels, and the
        hourly window features in the offline store."""
        if ctx.invoked_subcommand is not None:
            return
        from core.contract import FAILURE_MODE
        from features.errors import FeaturesError
        from simulator.fleet import FleetSimulator
        from simulator.history import write_history

        history_days = days if days is not None else history_days
        config = _config(
            machines=machines,
            days=history_days,
            start=_history_start(end, history_days),
            seed=seed,
            interval_s=interval_s,
            drift=drift,
            drift_at_days=_onset_days(drift_onset_hours, drift_at_days),
            failures_per_machine_month=failures_per_machine_month,
        )
        layout = use_data_dir(data_dir or out)
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
        (layout.telemetry_dir / FLEET_FILE).write_text(config.model_dump_json(indent=2))
        modes = written.failures[FAILURE_MODE].value_counts().to_dict()
        console.print(
            f"[green]wrote[/] {written.readings:,} readings "
            f"({config.start:%Y-%m-%d %H:%M} .. {config.end:%Y-%m-%d %H:%M} UTC) to {written.readings_path}\n"
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
            typer.Option(help="wall-clock minutes to stream (minutes x speedup of sim time)", min=0),
        ] = 5.0,
        batch_seconds: Annotated[float, typer.Option(help="wall seconds between posts", min=0.01)] = 1.0,
        data_dir: DataDir = None,
        realtime: Annotated[
            bool,
            typer.Option(help="pace posts on the accelerated clock (--no-realtime: at once)"),
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
        """Stream live telemetry that continues the history in the data directory (the same fleet,
        seed and drift, from where the history ends), posting batches to /ingest (or publishing
        them to Event Hubs with --eventhub)."""
        from datetime import timedelta

        from pydantic import ValidationError

        from simulator.fleet import FleetConfig, FleetSimulator
        from simulator.stream import stream_readings

        layout = use_data_dir(data_dir)
        fleet_file = layout.telemetry_dir / FLEET_FILE
        if not fleet_file.is_file():
            fail(f"no simulated history in {layout.root} (no {fleet_file})", "run `predmaint simulate` first")
        try:
            config = FleetConfig.model_validate_json(fleet_file.read_text())
        except ValidationError as exc:
            fail(f"{fleet_file} is not a fleet configuration: {exc.errors()[0]['msg']}")
        sim = FleetSimulator(config)
        start = config.end
        end = start + timedelta(seconds=minutes * 60 * speedup)
        console.print(f"continuing the history of {config.machines} machines from {start:%Y-%m-%d %H:%M} UTC")
        now = datetime.now(UTC)
        if end > (now + timedelta(minutes=minutes) if realtime else now):
            console.print(
                "[yellow]note:[/] this stream runs ahead of the wall clock; an ingest endpoint that checks "
                "the time refuses readings from the future (slow it down: --speedup 1)"
            )
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


def _post_all(url: str, batches: Any, total: int) -> int:
    import httpx

    from core.contract import MAX_INGEST_BATCH
    from predmaint.ingest_client import IngestRejected, post_readings

    posted = 0
    with httpx.Client(timeout=10.0) as client, progress() as bar:
        task = bar.add_task(f"streaming to {url}", total=total)
        for _, frame in batches:
            try:
                post_readings(client, url, frame, chunk=MAX_INGEST_BATCH)
            except httpx.TransportError as exc:
                fail(
                    f"cannot reach the ingest endpoint {url} ({type(exc).__name__})",
                    "start the facade first: predmaint serve (or pass --url)",
                )
            except IngestRejected as exc:
                fail(f"{url} answered {exc.status_code}: {exc.body[:500]}")
            posted += len(frame)
            bar.advance(task)
    return posted


def _publish_all(eventhub: str, batches: Any, total: int) -> int:
    """Publish every batch to Event Hubs (``machine_id`` as the partition key), as devices would."""
    from core.contract import READINGS_ADAPTER
    from ingest.producer import EventHubPublisher
    from predmaint.ingest_client import readings_payload

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
                    READINGS_ADAPTER.validate_python(readings_payload(frame)["readings"])
                ).published
                bar.advance(task)
    finally:
        publisher.close()
    return published
