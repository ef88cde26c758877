"""Step 1 of the demo: a simulated fleet history in the offline and online feature stores.

The history ends at the current wall-clock hour and the live phase continues from there on the
accelerated clock, so the facade's freshness check (feature age against ``FEATURE_TTL`` at the
wall-clock *now*) holds throughout: live windows are never older than the moment they are scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.contract import ENTITY_KEY, FAILURE_MODE, FAILURE_TIME, ONSET_TIME
from core.layout import DataLayout
from predmaint.demo.config import DemoConfig
from predmaint.demo.record import FailureEvent

if TYPE_CHECKING:
    import pandas as pd

    from simulator.fleet import FleetSimulator

Progress = Callable[[str, int, int | None], None]
"""``progress(step description, done, total)``."""


@dataclass(frozen=True)
class History:
    sim: FleetSimulator
    start: datetime
    end: datetime
    """End of history = start of the live phase."""
    drift_time: datetime
    readings: int
    windows: int
    failures: int


def history_end(now: datetime | None = None) -> datetime:
    """The current hour (UTC), floored: where the history stops and the live phase starts."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def make_simulator(config: DemoConfig, end: datetime) -> FleetSimulator:
    """The fleet: ``history_days`` up to ``end``, with the drift scenario at its onset in the live phase."""
    from simulator.fleet import FleetConfig, FleetSimulator
    from simulator.scenarios import DriftScenario

    start = end - timedelta(days=config.history_days)
    fleet = FleetConfig(
        machines=config.machines,
        days=config.history_days,
        start=start,
        seed=config.seed,
        drift=DriftScenario(config.drift),
        drift_at_days=config.history_days + config.drift_onset_hours / 24.0,
        failures_per_machine_month=config.failures_per_machine_month,
    )
    return FleetSimulator(fleet)


def known_failures(sim: FleetSimulator, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Failures that have happened by ``now`` (a failure is known once the machine broke) and the
    maintenance periods that started by then: what a real operator's labels would hold."""
    failures = sim.failures_before(now)
    failures = failures.loc[failures[FAILURE_TIME] <= now].reset_index(drop=True)
    return failures, sim.maintenance_before(now)


def write_known_labels(layout: DataLayout, sim: FleetSimulator, now: datetime) -> int:
    """Write the labels known at ``now`` where the training pipeline reads them; count of failures."""
    from simulator.fleet import SimulationResult
    from simulator.labels import write_labels

    failures, maintenance = known_failures(sim, now)
    empty = sim.readings_between(now, now)
    write_labels(
        layout,
        SimulationResult(
            config=sim.config,
            readings=empty,
            failures=failures,
            maintenance=maintenance,
            machines=sim.machines,
        ),
    )
    return len(failures)


def failure_events(sim: FleetSimulator, until: datetime) -> list[FailureEvent]:
    """Ground truth for the report: every failure whose onset lies before ``until``."""
    import pandas as pd

    frame = sim.failures_before(until)
    return [
        FailureEvent(
            machine_id=str(machine),
            failure_time=pd.Timestamp(failed).to_pydatetime(),
            mode=str(mode),
            onset_time=pd.Timestamp(onset).to_pydatetime() if pd.notna(onset) else None,
        )
        for machine, failed, mode, onset in zip(
            frame[ENTITY_KEY], frame[FAILURE_TIME], frame[FAILURE_MODE], frame[ONSET_TIME], strict=True
        )
    ]


def build_history(config: DemoConfig, layout: DataLayout, progress: Progress, *, end: datetime) -> History:
    """Simulate and bulk ingest slice by slice (:func:`simulator.history.write_history`), with the
    labels known at ``end``; then feast apply and materialise."""
    from features.store import apply, materialize, open_store
    from simulator.history import write_history

    sim = make_simulator(config, end)
    start = sim.config.start
    write_known_labels(layout, sim, end)  # also the machine registry the relative features need
    step = f"simulating {config.machines} machines x {config.history_days:g} days -> offline store"
    written = write_history(
        sim,
        layout,
        end=end,
        raw=False,
        write_label_files=False,
        progress=lambda done, total: progress(step, done, total),
    )
    assert written.summary is not None  # ingest=True
    progress("feast apply", 0, 1)
    store = open_store(layout)
    apply(store)
    progress("feast apply", 1, 1)
    materialize(store, progress=lambda done, total: progress("materialise online store", done, total))
    drift_time = sim.config.drift_time
    assert drift_time is not None  # make_simulator always sets one
    return History(
        sim=sim,
        start=start,
        end=end,
        drift_time=drift_time,
        readings=written.readings,
        windows=written.summary.windows,
        failures=len(written.failures),
    )
