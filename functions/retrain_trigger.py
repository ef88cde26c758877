"""The retrain trigger core: an alert or a drift verdict in, one decision out (start a run or not, why).

Inputs (parsed in ``functions.signals``): an Azure Monitor alert (common alert schema, from the
action group), an Alertmanager webhook (version 4, for self-managed Prometheus; only the retrain
alert counts, other alerts of the group such as the faults alert never start a run), or a drift
sidecar verdict (the timer's check). Backends: ``functions.local_runs`` (this machine) and
``functions.azureml_runs`` (the workspace).

Decision order, first match wins (each decision is logged with its reason):

1. malformed input -> :class:`MalformedSignal` (HTTP 422 ``invalid_input`` at the edge, naming the field);
2. resolved alert, an Alertmanager group without a firing retrain alert, or a verdict without drift
   -> no run;
3. duplicate (a run already carries this alert's key: ``alertId|firedDateTime`` for Azure Monitor,
   ``alertmanager|fingerprint|startsAt`` for Alertmanager, whose repeat notifications resend it)
   -> no run;
4. a run of the pipeline is still active -> no run;
5. a run started less than ``cooldown`` ago -> no run;
6. otherwise -> start one run, tagged with the trigger, the alert key and the reason.

State comes from the run list and its tags (:class:`RunBackend`), not from a second store: AzureML's
job list in Azure, the local run records under ``DataLayout.runs_dir`` on a laptop. Within one
process a lock serialises decisions; across processes (several Function instances) two identical
alerts arriving within the same second could both start a run, which is why ``host.json`` limits the
app to one concurrent request per instance and the Function app should run with one instance.

No Azure import at module top: the local loop imports this without azure-ai-ml's start-up cost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel

from functions.errors import BackendUnavailable, MalformedSignal, TriggerError
from functions.signals import Signal, parse_signal

log = logging.getLogger("predmaint.retrain_trigger")

TAG_TRIGGER: Final = "trigger"
"""The training pipeline's own tag (``manual`` in its YAML, ``schedule`` from the AzureML schedule);
the trigger sets ``alert`` or ``verdict``. Jobs with this tag are the pipeline's runs."""
TAG_ALERT_KEY: Final = "alert_key"
TAG_REASON: Final = "reason"
DEFAULT_COOLDOWN: Final = timedelta(hours=6)
LOOKBACK_MIN: Final = timedelta(days=7)
"""Runs this recent (or within the cooldown, whichever is longer) are considered for duplicates."""

RunStatus = Literal["running", "completed", "failed", "canceled"]


class RunInfo(BaseModel):
    run_id: str
    status: RunStatus
    started_at: datetime
    tags: dict[str, str] = {}

    @property
    def active(self) -> bool:
        return self.status == "running"


class Decision(BaseModel):
    action: Literal["started", "skipped"]
    reason: str
    run_id: str | None = None
    signal: Signal
    decided_at: datetime


class RunBackend(Protocol):
    """Where training pipeline runs live: the run list (with tags) and a way to start one."""

    def recent_runs(self, since: datetime) -> list[RunInfo]:
        """Runs of the training pipeline started at or after ``since`` plus any still active."""
        ...

    def start(self, reason: str, tags: dict[str, str]) -> str:
        """Start one pipeline run without waiting for it; returns its id."""
        ...


@dataclass
class RetrainTrigger:
    """Decides and starts. One instance per process; ``decide`` is serialised by a lock."""

    backend: RunBackend
    cooldown: timedelta = DEFAULT_COOLDOWN
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handle(self, payload: Any) -> Decision:
        """Parse and decide (raises :class:`MalformedSignal` for bad input)."""
        try:
            signal = parse_signal(payload)
        except MalformedSignal as exc:
            log.warning("retrain trigger: malformed input rejected: %s", exc)
            raise
        return self.decide(signal)

    def decide(self, signal: Signal) -> Decision:
        with self._lock:
            decision = self._decide(signal)
        log.info(
            "retrain trigger: %s (%s) run=%s signal=%s",
            decision.action,
            decision.reason,
            decision.run_id,
            signal.detail or signal.source,
        )
        return decision

    def _decide(self, signal: Signal) -> Decision:
        now = self.clock()

        def skip(reason: str) -> Decision:
            return Decision(action="skipped", reason=reason, signal=signal, decided_at=now)

        if not signal.fired:
            if signal.not_fired_reason:
                return skip(signal.not_fired_reason)
            return skip("alert resolved" if signal.source == "alert" else "no drift in the verdict")
        try:
            runs = self.backend.recent_runs(now - max(self.cooldown, LOOKBACK_MIN))
        except TriggerError:
            raise
        except Exception as exc:
            raise BackendUnavailable(f"cannot list pipeline runs: {exc}") from exc
        if signal.key is not None:
            for run in runs:
                if run.tags.get(TAG_ALERT_KEY) == signal.key:
                    return skip(f"duplicate: run {run.run_id} was started for this alert")
        for run in runs:
            if run.active:
                return skip(f"run {run.run_id} is still running")
        latest = max(runs, key=lambda r: r.started_at, default=None)
        if latest is not None and now - latest.started_at < self.cooldown:
            left = self.cooldown - (now - latest.started_at)
            return skip(
                f"cooldown: run {latest.run_id} started {latest.started_at.isoformat()}, "
                f"next run allowed in {int(left.total_seconds())} s"
            )
        reason = f"{signal.source}: {signal.detail}".strip()
        tags = {TAG_TRIGGER: signal.source, TAG_REASON: reason[:250]}
        if signal.key is not None:
            tags[TAG_ALERT_KEY] = signal.key
        try:
            run_id = self.backend.start(reason, tags)
        except TriggerError:
            raise
        except Exception as exc:
            raise BackendUnavailable(f"cannot start the pipeline: {exc}") from exc
        return Decision(action="started", reason=reason, run_id=run_id, signal=signal, decided_at=now)
