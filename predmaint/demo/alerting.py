"""The local alert rule and the retrain trigger, run inside the demo process.

Each simulated hour the sidecar's latest verdict goes to the drift alert rule: the one rule file the
chart and Terraform read too, evaluated by ``drift.alert_rule.AlertEvaluator`` with its ``for``
period scaled to the accelerated clock (``time_scale = speedup``). When the alert fires, its
common-alert-schema payload goes to the retrain trigger core
(``functions.retrain_trigger.RetrainTrigger``, the same core as the Azure Function), whose local run
backend starts the run in a background thread while the live loop goes on: the facade keeps
answering through the retrain and the swap. Duplicates, a run still going and the cooldown are the
trigger's decisions, not the demo's.

What the run trains on: the ``retrain_data_hours`` of telemetry that follow the alert. A model can
only learn the new normal from data that shows it, so the local run first waits (on the simulated
clock) until those hours are in the offline store, then runs ``aml/pipelines/train.yml`` on them;
the pipeline holds back their later part to evaluate the candidate against the champion. Before its
gate, the candidate shadows ``shadow_hours`` of live traffic (:mod:`predmaint.demo.shadow`).

With ``--prometheus`` (:meth:`Alerting.use_prometheus`) real Prometheus evaluates the same rule file
against the sidecar's ``/metrics`` and Alertmanager posts its webhook to the local trigger endpoint
(``functions.local_endpoint``); the embedded evaluator then stays idle. The alert is then timed on
the simulated clock when the webhook arrives: the scrape, evaluation and Alertmanager's group wait
take a few wall seconds, i.e. a few simulated hours at full speed.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.layout import DataLayout
from functions.retrain_trigger import Decision
from predmaint.demo.config import DemoConfig
from predmaint.demo.history import History
from predmaint.demo.processes import ServiceGroup
from predmaint.demo.record import DriftRow, RunRecord
from predmaint.demo.services import shadow_handover
from predmaint.demo.shadow import ShadowPeriod
from predmaint.demo.timeline import EventKind, Timeline
from predmaint.demo.training import PIPELINE_PATH, TrainingRun, retrain


class RetrainCancelled(Exception):
    """The demo stopped while a run was waiting for its data."""


class Alerting:
    def __init__(
        self,
        config: DemoConfig,
        layout: DataLayout,
        history: History,
        timeline: Timeline,
        record: RunRecord,
        *,
        first_run_started: datetime,
    ) -> None:
        from drift.alert_rule import AlertEvaluator, load_alert_rule
        from functions.local_runs import LocalRunBackend
        from functions.retrain_trigger import RetrainTrigger

        self.config = config
        self.layout = layout
        self.history = history
        self.timeline = timeline
        self.record = record
        self._sim_time = history.end
        self._advanced = threading.Condition()
        self._closed = False
        self._pipeline_running = threading.Event()
        self._waiting = threading.Event()
        self.rule = load_alert_rule()
        self.evaluator = AlertEvaluator(
            self.rule, self._notify, time_scale=config.speedup, wall=lambda: self._sim_time
        )
        self.backend = LocalRunBackend(layout.runs_dir, PIPELINE_PATH, runner=self._run_pipeline)
        self.trigger = RetrainTrigger(self.backend, cooldown=self._cooldown(first_run_started))
        self._fired_at: datetime | None = None
        self._alert_id = "none"
        self.runs: list[TrainingRun] = []
        self._endpoint: Any = None
        """The local trigger endpoint when real Prometheus evaluates the rule (``use_prometheus``)."""
        self._webhook_state = "inactive"
        self.shadow = ShadowPeriod(
            shadow_handover(layout),
            config.shadow_hours,
            timeline,
            now=lambda: self._sim_time,
            wait_until=self._wait_until,
        )

    def _cooldown(self, first_run_started: datetime) -> timedelta:
        """The trigger's cooldown (wall time): ``cooldown_hours`` on the accelerated clock, but never
        as long as the time since the first training started. The trigger counts every pipeline run,
        the demo's first training too; in a real deployment that run is long past when drift comes,
        here it is minutes old, and the pipeline itself is not accelerated."""
        since_first = (datetime.now(UTC) - first_run_started).total_seconds()
        return timedelta(seconds=max(1.0, min(self.config.cooldown_s, since_first - 1.0)))

    # --- state shown in the progress line and used by the loop ----------------------------------

    @property
    def retrain_running(self) -> bool:
        """The pipeline runs (a swap may happen any moment): /predict failures now count as swap failures."""
        return self._pipeline_running.is_set()

    @property
    def shadowing(self) -> bool:
        """A candidate shadows live traffic: the clock runs at the live pace, not the pipeline's."""
        return self.shadow.active

    @property
    def status(self) -> str:
        if self.shadow.active:
            return "candidate in shadow"
        if self._pipeline_running.is_set():
            return "retraining"
        if self._waiting.is_set():
            return "retrain waiting for post-alert data"
        if self._endpoint is not None:
            return f"alert {self._webhook_state} (Prometheus)"
        return f"alert {self.evaluator.state}"

    # --- real Prometheus and Alertmanager instead of the embedded evaluator ------------------------

    def use_prometheus(self, services: ServiceGroup, drift_base_url: str) -> str:
        """Start the trigger endpoint, then Alertmanager and Prometheus (as ``services``, stopped
        with the others) scraping ``drift_base_url``; what was started, for the timeline. Raises
        ``predmaint.demo.prometheus.PrometheusMissing`` without the binaries."""
        from urllib.parse import urlsplit

        from functions.local_endpoint import LocalTriggerEndpoint
        from predmaint.demo.prometheus import find_binaries, prepare_stack

        binaries = find_binaries()
        self._endpoint = LocalTriggerEndpoint(self._on_webhook, self.config.host).start()
        stack = prepare_stack(
            self.layout.root / "prometheus",
            drift_target=urlsplit(drift_base_url).netloc,
            webhook_url=self._endpoint.url,
            time_scale=self.config.speedup,
            host=self.config.host,
            binaries=binaries,
        )
        alertmanager, prometheus = (services.start(spec, self.config.ready_timeout_s) for spec in stack.specs)
        return (
            f"Prometheus {prometheus.spec.base_url} (pid {prometheus.pid}, rules {stack.rules}), "
            f"Alertmanager {alertmanager.spec.base_url} (pid {alertmanager.pid}) -> "
            f"trigger {self._endpoint.url}"
        )

    def _on_webhook(self, payload: Any) -> Decision:
        """One Alertmanager notification: timeline first (the run reads ``_fired_at``), then the
        trigger's decision. Malformed payloads raise and become a 400 at the endpoint."""
        from functions.signals import RETRAIN_ALERT, parse_signal

        signal = parse_signal(payload)
        if signal.fired and self._webhook_state != "firing":
            self._webhook_state = "firing"
            self._fired_at = self._sim_time
            self._alert_id = str(signal.key)
            self.timeline.add(
                EventKind.alert,
                self._sim_time,
                f"{self.rule.name} from Prometheus via Alertmanager ({self.rule.expr} for "
                f"{self.rule.for_s / 60:g}m, {self.evaluator.hold_s:.2f} s on this clock)",
            )
        decision = self.trigger.decide(signal)
        if signal.fired:
            kind = EventKind.retrain_triggered if decision.action == "started" else EventKind.retrain_skipped
            self.timeline.add(kind, self._sim_time, f"trigger: {decision.action} ({decision.reason})")
        elif signal.rule == RETRAIN_ALERT and self._webhook_state == "firing":
            self._webhook_state = "inactive"
            self.timeline.add(EventKind.alert_resolved, self._sim_time, f"{self.rule.name} resolved")
        return decision

    # --- per simulated hour -----------------------------------------------------------------------

    def observe(self, row: DriftRow | None, sim_time: datetime) -> None:
        """Advance the simulated clock and feed the latest verdict to the alert rule (no verdict is
        no drift, as the sidecar's metric says)."""
        with self._advanced:
            self._sim_time = sim_time
            self._advanced.notify_all()
        if self._endpoint is not None:
            return  # Prometheus scrapes the sidecar itself
        before = self.evaluator.state
        after = self.evaluator.observe(bool(row and row.detected))
        if after == "firing" and before != "firing":
            pass  # the notification (and the trigger's decision) is recorded by _notify
        elif before == "firing" and after != "firing":
            self.timeline.add(EventKind.alert_resolved, sim_time, f"{self.rule.name} resolved")

    def _notify(self, payload: dict[str, Any]) -> Any:
        essentials = payload["data"]["essentials"]
        if essentials["monitorCondition"] == "Fired":
            self._fired_at = self._sim_time
            self._alert_id = str(essentials["alertId"])
            self.timeline.add(
                EventKind.alert,
                self._sim_time,
                f"{self.rule.name} ({self.rule.expr} for {self.rule.for_s / 60:g}m, "
                f"{self.evaluator.hold_s:.2f} s on this clock)",
            )
        decision = self.trigger.handle(payload)
        if essentials["monitorCondition"] == "Fired":
            kind = EventKind.retrain_triggered if decision.action == "started" else EventKind.retrain_skipped
            self.timeline.add(kind, self._sim_time, f"trigger: {decision.action} ({decision.reason})")
        return decision

    # --- the trigger's local runner (a background thread) ----------------------------------------

    def _wait_until(self, target: datetime) -> None:
        with self._advanced:
            while self._sim_time < target:
                if self._closed:
                    raise RetrainCancelled(f"the demo stopped before {target:%m-%d %H:%M}")
                self._advanced.wait(timeout=1.0)

    def _run_pipeline(self, path: Path, overrides: dict[str, str]) -> TrainingRun:
        fired = self._fired_at or self._sim_time
        start = fired
        end = fired + timedelta(hours=self.config.retrain_data_hours)
        self._waiting.set()
        try:
            self._wait_until(end)
        finally:
            self._waiting.clear()
        now = self._sim_time
        self._pipeline_running.set()
        self.timeline.add(
            EventKind.retrain_start,
            now,
            f"{path.name} on {start:%m-%d %H:%M} .. {end:%m-%d %H:%M} "
            f"({self.config.retrain_data_hours:g} h after the alert)",
        )
        try:
            run = retrain(
                self.layout,
                self.history,
                start,
                end,
                now=now,
                tags={"alert_id": self._alert_id},
                holdout_fraction=self.config.retrain_holdout_fraction,
                on_step=self.shadow,
            )
        except Exception as exc:
            self.timeline.add(EventKind.error, self._sim_time, f"retrain failed: {str(exc).splitlines()[0]}")
            raise
        finally:
            self.shadow.withdraw()
            self._pipeline_running.clear()
        self.runs.append(run)
        self.record.retrains.append(run.as_json())
        self.timeline.add(EventKind.retrain_end, self._sim_time, run.summary)
        if run.promoted:
            self.timeline.add(EventKind.promotion, self._sim_time, f"registry: champion -> v{run.version}")
        return run

    def finish(self, timeout_s: float) -> None:
        """Wait for a pipeline that is running (not for one still waiting for its data)."""
        if self._pipeline_running.is_set():
            self.backend.wait(timeout_s)

    def close(self) -> None:
        with self._advanced:
            self._closed = True
            self._advanced.notify_all()
        if self._endpoint is not None:
            self._endpoint.close()
