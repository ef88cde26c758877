"""The live phase: telemetry streamed hour by hour, every reporting machine scored, the drift
sidecar's verdicts fed to the alert rule, the model swap and the recovery watched."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.layout import DataLayout
from predmaint.demo.alerting import Alerting
from predmaint.demo.clients import DriftClient, FacadeClient, drift_row
from predmaint.demo.config import DemoConfig
from predmaint.demo.history import History
from predmaint.demo.processes import ServiceGroup
from predmaint.demo.record import DriftRow, RunRecord, ScoreRow
from predmaint.demo.report import EVIDENTLY_FILE
from predmaint.demo.timeline import EventKind, Timeline


@dataclass
class LiveState:
    """What the live loop tracks between simulated hours."""

    drift_active: bool = False
    promoted_versions: list[str] = field(default_factory=list)
    recovered: bool = False
    stop_at: datetime | None = None
    hours: int = 0
    in_swap: bool = False
    """Between a retrain's start and two hours after the facade swapped models."""
    swap_watch_until: datetime | None = None


class LiveLoop:
    """Streams telemetry hour by hour, scores every reporting machine, watches drift and alerts."""

    def __init__(
        self,
        config: DemoConfig,
        history: History,
        facade: FacadeClient,
        drift: DriftClient,
        alerting: Alerting,
        services: ServiceGroup,
        record: RunRecord,
        timeline: Timeline,
        report_dir: Path,
        layout: DataLayout,
    ) -> None:
        self.layout = layout
        self.config = config
        self.history = history
        self.facade = facade
        self.drift = drift
        self.alerting = alerting
        self.services = services
        self.record = record
        self.timeline = timeline
        self.report_dir = report_dir
        self.state = LiveState()

    def run(self, on_hour: Any = None) -> None:
        """Stream hour after hour until recovery plus ``tail_hours``, or ``live_hours`` at most.

        Pacing is the demo's own (the simulator streams without waiting): one simulated hour takes
        ``1 h / speedup`` of wall time, or ``retrain_hour_s`` while the training pipeline runs. The
        pipeline is not accelerated, so at full speed it would cover days of simulated time; slowed
        down, the live phase keeps streaming and scoring through the retrain and the swap. The
        candidate's shadow period (the pipeline waits for it) runs at the live pace.
        """
        from simulator.stream import stream_readings

        cfg = self.config
        start = self.history.end
        end = start + timedelta(hours=cfg.live_hours)
        self.record.live_start = start
        self.record.drift_onset = self.history.drift_time
        info = self.facade.model()
        self.record.note_version(start, str(info.get("version")))
        self._warm_up(start)
        onset_logged = False
        batches = stream_readings(
            self.history.sim, start, cfg.speedup, cfg.wall_seconds(1.0), end=end, realtime=False
        )
        due = time.monotonic()
        for sim_time, readings in batches:
            self.services.check_alive()
            if not onset_logged and sim_time > self.history.drift_time:
                self.timeline.add(EventKind.drift_onset, self.history.drift_time, f"{cfg.drift} injected")
                onset_logged = True
            if len(readings):
                self.facade.ingest(readings)
            machines = sorted(set(readings["machine_id"])) if len(readings) else []
            answered = self._score(sim_time, machines)
            self._watch_model(sim_time, answered)
            row = self._watch_drift(sim_time)
            self.alerting.observe(row, sim_time)
            self.state.hours += 1
            self.record.live_end = sim_time
            self.record.clock.append((sim_time, self.timeline.elapsed_s))
            if on_hour is not None:
                on_hour(self)
            if self.state.stop_at is not None and sim_time >= self.state.stop_at:
                break
            slow = self.alerting.retrain_running and not self.alerting.shadowing
            step = cfg.retrain_hour_s if slow else cfg.wall_seconds(1.0)
            due = max(due + step, time.monotonic() - step)  # a slow hour is not made up by rushing
            time.sleep(max(0.0, due - time.monotonic()))
        # a retrain still running when the live phase ends: let it finish, bounded
        self.alerting.finish(timeout_s=cfg.pipeline_timeout_s)

    def _warm_up(self, start: datetime) -> None:
        """Score the last ``drift_window_hours`` of history inline, so that the sidecar's window
        starts full. A partly filled window covers part of the machines' daily load cycle and differs
        from a reference that covers whole days: it would look like drift before any drift began."""
        from core.contract import EVENT_TIMESTAMP, IS_SPARSE, MODEL_FEATURES
        from features.store import read_offline

        since = start - timedelta(hours=self.config.drift_window_hours)
        windows = read_offline(self.layout, start=since, end=start + timedelta(seconds=1))
        windows = windows.loc[~windows[IS_SPARSE].astype(bool)].sort_values(EVENT_TIMESTAMP, kind="stable")
        rows = windows[list(MODEL_FEATURES)].astype(float).to_dict(orient="records")
        scored = self.facade.predict_rows([{str(k): float(v) for k, v in r.items()} for r in rows])
        self.timeline.add(
            EventKind.warm_up,
            start,
            f"scored the last {self.config.drift_window_hours:g} h of history ({scored} windows): "
            "the drift sidecar's window starts full",
        )

    # --- per simulated hour ----------------------------------------------------------------------

    def _score(self, sim_time: datetime, machines: list[str]) -> set[str]:
        """Score every machine that reported this hour; the model versions that answered."""
        if self.alerting.retrain_running:
            self.state.swap_watch_until = None  # watching from the retrain's start ...
            self.state.in_swap = True
        elif self.state.swap_watch_until is not None and sim_time > self.state.swap_watch_until:
            self.state.in_swap = False  # ... until two hours after the facade swapped
        before = self.record.predict.failed
        versions = set()
        for s in self.facade.predict_all(machines):
            versions.add(s.model_version)
            self.record.scores.append(
                ScoreRow(
                    sim_time,
                    s.machine_id,
                    s.anomaly_score,
                    s.is_anomaly,
                    s.threshold,
                    s.model_version,
                    s.top_features,
                )
            )
        if self.state.in_swap:
            self.record.predict.failed_during_swap += self.record.predict.failed - before
        return versions

    def _watch_model(self, sim_time: datetime, answered: set[str]) -> None:
        """A version that answers /predict (or /model) for the first time is the facade's swap."""
        served = {str(self.facade.model().get("version"))} | answered
        for v in sorted(served - {ver for _, ver in self.record.served_versions}, key=_version_key):
            self.record.note_version(sim_time, v)
            self.state.promoted_versions.append(v)
            self.timeline.add(EventKind.swap, sim_time, f"facade serves model v{v}")
            self.state.swap_watch_until = sim_time + timedelta(hours=2)

    def _watch_drift(self, sim_time: datetime) -> DriftRow | None:
        body = self.drift.latest()
        if body is None:
            return None
        row = drift_row(body, sim_time, self.timeline.elapsed_s)
        self.record.drift.append(row)
        if row.detected is None:
            return row
        if row.detected and not self.state.drift_active:
            self.state.drift_active = True
            self.timeline.add(
                EventKind.detection,
                sim_time,
                # ``detected`` is the sidecar's sustained (sequential) fleet verdict, not this check's
                # share against its threshold: say which is which.
                f"sustained fleet drift vs reference of v{row.model_version}"
                f" (this check: drifted share {row.share:.2f}, per-check share {row.share_threshold:g})",
            )
        elif not row.detected and self.state.drift_active:
            self.state.drift_active = False
            if self.state.promoted_versions and row.model_version == self.state.promoted_versions[-1]:
                self.state.recovered = True
                self.timeline.add(
                    EventKind.recovery,
                    sim_time,
                    f"sustained fleet drift cleared vs reference of v{row.model_version}"
                    f" (this check: drifted share {row.share:.2f}, per-check share {row.share_threshold:g})",
                )
                if self.state.stop_at is None:
                    self.state.stop_at = sim_time + timedelta(hours=self.config.tail_hours)
        peak = self.record.peak
        if (
            row.detected
            and row.share is not None
            and not self.state.promoted_versions
            and (peak is None or peak.share is None or row.share > peak.share)
        ):
            self.record.peak = row
            path = self.report_dir / EVIDENTLY_FILE
            if self.drift.save_report(path):
                self.record.evidently_report = path
        return row


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (1 << 62, version)
