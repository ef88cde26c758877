"""The retrain trigger core: an alert or a drift verdict in, one decision out (start a run or not, why).

Inputs: an Azure Monitor alert (common alert schema, from the action group), an Alertmanager webhook
(version 4, for self-managed Prometheus; only :data:`RETRAIN_ALERT` counts, other alerts of the
group such as the faults alert never start a run), or a drift sidecar verdict (the timer's check).

Decision order, first match wins (each decision is logged with its reason):

1. malformed input -> :class:`MalformedSignal` (HTTP 400 at the edge, naming the field);
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
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger("predmaint.retrain_trigger")

COMMON_ALERT_SCHEMA_ID: Final = "azureMonitorCommonAlertSchema"
ALERTMANAGER_WEBHOOK_VERSION: Final = "4"
RETRAIN_ALERT: Final = "PredMaintDriftDetected"
"""The one alert that starts a run: the rule labelled ``action: retrain`` in
``charts/pred-maint/files/drift-alert-rules.yaml`` (the Function's package does not carry the chart;
tests/unit/drift/test_retrain_alertmanager.py checks the two agree)."""
TAG_TRIGGER: Final = "trigger"
"""The training pipeline's own tag (``manual`` in its YAML, ``schedule`` from the AzureML schedule);
the trigger sets ``alert`` or ``verdict``. Jobs with this tag are the pipeline's runs."""
TAG_ALERT_KEY: Final = "alert_key"
TAG_REASON: Final = "reason"
DEFAULT_COOLDOWN: Final = timedelta(hours=6)
LOOKBACK_MIN: Final = timedelta(days=7)
"""Runs this recent (or within the cooldown, whichever is longer) are considered for duplicates."""

RunStatus = Literal["running", "completed", "failed", "canceled"]


class TriggerError(Exception):
    status_code: int = 500


class MalformedSignal(TriggerError):
    """The payload is neither a common-alert-schema alert nor a drift verdict."""

    status_code = 400


class BackendUnavailable(TriggerError):
    """The run list could not be read or a run could not be started."""

    status_code = 503


class Signal(BaseModel):
    """What the trigger reacts to, whatever its source."""

    model_config = ConfigDict(frozen=True)

    source: Literal["alert", "verdict", "timer"]
    fired: bool
    """True for a fired alert or a verdict with drift."""
    not_fired_reason: str | None = None
    """Why a signal that is not ``fired`` starts nothing, when it is more than "resolved"."""
    key: str | None = None
    """Identity for de-duplication: ``alertId|firedDateTime`` for alerts."""
    rule: str | None = None
    fired_at: datetime | None = None
    detail: str = ""


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


# --- parsing --------------------------------------------------------------------------------------


def _parse_time(value: Any, field_name: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise MalformedSignal(f"{field_name}: required ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedSignal(f"{field_name}: not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_alert(payload: Mapping[str, Any]) -> Signal:
    """An Azure Monitor alert in the common alert schema (``data.essentials``)."""
    data = payload.get("data")
    essentials = data.get("essentials") if isinstance(data, Mapping) else None
    if not isinstance(essentials, Mapping):
        raise MalformedSignal("data.essentials: required object (Azure Monitor common alert schema)")
    alert_id = essentials.get("alertId")
    if not isinstance(alert_id, str) or not alert_id:
        raise MalformedSignal("data.essentials.alertId: required string")
    condition = essentials.get("monitorCondition")
    if condition not in ("Fired", "Resolved"):
        raise MalformedSignal(
            f"data.essentials.monitorCondition: must be Fired or Resolved, got {condition!r}"
        )
    fired_at = _parse_time(essentials.get("firedDateTime"), "data.essentials.firedDateTime")
    rule = essentials.get("alertRule")
    return Signal(
        source="alert",
        fired=condition == "Fired",
        key=f"{alert_id}|{fired_at.isoformat()}",
        rule=str(rule) if rule else None,
        fired_at=fired_at,
        detail=f"alert {rule or alert_id} {condition.lower()} at {fired_at.isoformat()}",
    )


def _require_str(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedSignal(f"{field_name}: required string")
    return value


def parse_alertmanager(payload: Mapping[str, Any]) -> Signal:
    """An Alertmanager webhook notification (``version`` "4"): one alert group.

    Only alerts named :data:`RETRAIN_ALERT` count; each alert's own ``status`` decides (a group that
    is "firing" may carry resolved alerts). The key is the alert's fingerprint (a hash of its labels)
    with its ``startsAt``: Alertmanager's repeat notifications of one firing episode share it, a new
    episode gets a new ``startsAt``."""
    version = payload.get("version")
    if version != ALERTMANAGER_WEBHOOK_VERSION:
        raise MalformedSignal(
            f"version: Alertmanager webhook version must be {ALERTMANAGER_WEBHOOK_VERSION!r}, got {version!r}"
        )
    if payload.get("status") not in ("firing", "resolved"):
        raise MalformedSignal(f"status: must be firing or resolved, got {payload.get('status')!r}")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise MalformedSignal("alerts: required non-empty list")
    firing: list[tuple[datetime, str]] = []
    resolved = 0
    names: set[str] = set()
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, Mapping):
            raise MalformedSignal(f"{where}: must be an object")
        labels = alert.get("labels")
        if not isinstance(labels, Mapping):
            raise MalformedSignal(f"{where}.labels: required object")
        name = _require_str(labels.get("alertname"), f"{where}.labels.alertname")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise MalformedSignal(f"{where}.status: must be firing or resolved, got {status!r}")
        starts_at = _parse_time(alert.get("startsAt"), f"{where}.startsAt")
        fingerprint = _require_str(alert.get("fingerprint"), f"{where}.fingerprint")
        names.add(name)
        if name != RETRAIN_ALERT:
            continue
        if status == "firing":
            firing.append((starts_at, fingerprint))
        else:
            resolved += 1
    if firing:
        starts_at, fingerprint = min(firing)
        return Signal(
            source="alert",
            fired=True,
            key=f"alertmanager|{fingerprint}|{starts_at.isoformat()}",
            rule=RETRAIN_ALERT,
            fired_at=starts_at,
            detail=f"alert {RETRAIN_ALERT} firing since {starts_at.isoformat()} (Alertmanager)",
        )
    reason = (
        "alert resolved"
        if resolved
        else f"not the retrain alert: {', '.join(sorted(names))} (only {RETRAIN_ALERT} starts a run)"
    )
    return Signal(
        source="alert", fired=False, rule=RETRAIN_ALERT if resolved else None, not_fired_reason=reason
    )


class _Verdict(BaseModel):
    model_config = ConfigDict(extra="ignore")

    drift_detected: bool
    drifted_share: float | None = None
    checked_at: datetime | None = None
    reference: dict[str, Any] | None = None


def parse_verdict(payload: Mapping[str, Any]) -> Signal:
    """A drift sidecar answer (``GET /drift``)."""
    try:
        verdict = _Verdict.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        raise MalformedSignal(f"{loc}: {first['msg']}") from exc
    version = (verdict.reference or {}).get("model_version")
    return Signal(
        source="verdict",
        fired=verdict.drift_detected,
        key=None,
        fired_at=verdict.checked_at,
        detail=f"drift verdict {verdict.drift_detected} (share {verdict.drifted_share}, model {version})",
    )


def parse_signal(payload: Any) -> Signal:
    """Either input kind; anything else is :class:`MalformedSignal`."""
    if not isinstance(payload, Mapping):
        raise MalformedSignal("body: must be a JSON object")
    if "alerts" in payload or "groupKey" in payload:
        return parse_alertmanager(payload)
    if payload.get("schemaId") == COMMON_ALERT_SCHEMA_ID or "data" in payload:
        return parse_alert(payload)
    if "drift_detected" in payload:
        return parse_verdict(payload)
    raise MalformedSignal(
        "body: neither an Azure Monitor common alert schema payload, an Alertmanager webhook nor a "
        "drift verdict"
    )


# --- deciding -------------------------------------------------------------------------------------


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


# --- backends -------------------------------------------------------------------------------------


class _LocalRecord(BaseModel):
    run_id: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    tags: dict[str, str] = {}
    pid: int
    error: str | None = None


LOCAL_RUN_STALE: Final = timedelta(hours=24)
"""A local ``run.json`` still "running" after this long belongs to a process that died."""


class LocalRunBackend:
    """Runs the pipeline on this machine (``aml.runner.run_pipeline``) in a background thread.

    The run list is the local run registry: every ``<runs_dir>/<run_id>/run.json`` that the pipeline
    runner writes (so manual ``predmaint pipeline run`` runs count too), plus the trigger's own record
    per started run, ``<runs_dir>/retrain-trigger/<run_id>.json``, which exists from the moment
    ``start`` returns (before the runner has created its folder) and carries the tags. A "running"
    record whose process is gone counts as failed. ``runner`` is injectable (tests, the demo).
    """

    def __init__(
        self,
        runs_dir: Path,
        pipeline_path: Path,
        overrides: Mapping[str, str] | None = None,
        *,
        runner: Callable[[Path, dict[str, str]], Any] | None = None,
    ):
        self.records_dir = Path(runs_dir) / "retrain-trigger"
        self.pipeline_path = Path(pipeline_path)
        self.overrides = dict(overrides or {})
        self._runner = runner
        self.threads: list[threading.Thread] = []

    def _write(self, record: _LocalRecord) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.records_dir / f".{record.run_id}.tmp"
        tmp.write_text(record.model_dump_json(indent=2))
        os.replace(tmp, self.records_dir / f"{record.run_id}.json")

    def _pipeline_runs(self, since: datetime) -> list[RunInfo]:
        """Runs in the pipeline runner's registry (``aml.runner.list_runs``)."""
        from aml.runner import list_runs
        from core.layout import DataLayout

        statuses: dict[str, RunStatus] = {"succeeded": "completed", "failed": "failed", "running": "running"}
        runs = []
        for raw in list_runs(DataLayout(self.records_dir.parent.parent)):
            try:
                started = datetime.fromisoformat(str(raw["started_at"]))
                started = started if started.tzinfo else started.replace(tzinfo=UTC)
                status = statuses.get(str(raw.get("status")), "failed")
                if status == "running" and datetime.now(UTC) - started > LOCAL_RUN_STALE:
                    status = "failed"
                tags = {str(k): str(v) for k, v in (raw.get("tags") or {}).items()}
                info = RunInfo(run_id=str(raw["run_id"]), status=status, started_at=started, tags=tags)
            except (KeyError, TypeError, ValueError):
                continue
            if info.started_at >= since or info.active:
                runs.append(info)
        return runs

    def recent_runs(self, since: datetime) -> list[RunInfo]:
        runs = self._own_runs(since)
        known = {r.run_id for r in runs}
        runs += [r for r in self._pipeline_runs(since) if r.run_id not in known]
        return runs

    def _own_runs(self, since: datetime) -> list[RunInfo]:
        if not self.records_dir.is_dir():
            return []
        runs = []
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                record = _LocalRecord.model_validate_json(path.read_text())
            except (OSError, ValueError):
                continue
            status = record.status
            if status == "running" and not _pid_alive(record.pid):
                status = "failed"
            if record.started_at >= since or status == "running":
                runs.append(
                    RunInfo(
                        run_id=record.run_id, status=status, started_at=record.started_at, tags=record.tags
                    )
                )
        return runs

    def start(self, reason: str, tags: dict[str, str]) -> str:
        run_id = f"retrain-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        record = _LocalRecord(
            run_id=run_id, status="running", started_at=datetime.now(UTC), tags=tags, pid=os.getpid()
        )
        self._write(record)
        thread = threading.Thread(target=self._run, args=(record,), name=run_id, daemon=True)
        self.threads.append(thread)
        thread.start()
        return run_id

    def _run(self, record: _LocalRecord) -> None:
        overrides = dict(self.overrides)
        try:
            if self._runner is not None:
                self._runner(self.pipeline_path, overrides)
            else:
                from aml.runner import run_pipeline
                from core.layout import DataLayout

                layout = DataLayout(self.records_dir.parent.parent)
                run_pipeline(self.pipeline_path, overrides, layout, tags=record.tags, run_id=record.run_id)
        except Exception as exc:
            log.exception("retrain trigger: local run %s failed", record.run_id)
            final = record.model_copy(update={"status": "failed", "error": str(exc)[:1000]})
        else:
            final = record.model_copy(update={"status": "completed"})
        self._write(final.model_copy(update={"finished_at": datetime.now(UTC)}))

    def wait(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_AML_TERMINAL: Final = {"completed": "completed", "failed": "failed", "canceled": "canceled"}


class AzureMLRunBackend:
    """The run list is the workspace's job list: pipeline jobs carrying the ``trigger`` tag (every run
    of the training pipeline has it), optionally of one experiment. Runs are started with the training
    slice's ``aml.submit.submit_pipeline``. ``ml_client`` is an ``MLClient``."""

    def __init__(
        self,
        ml_client: Any,
        pipeline_path: Path,
        *,
        overrides: Mapping[str, str] | None = None,
        experiment_name: str | None = None,
        submit: Callable[..., Any] | None = None,
        max_jobs: int = 200,
    ):
        self.ml_client = ml_client
        self.pipeline_path = Path(pipeline_path)
        self.overrides = dict(overrides or {})
        self.experiment_name = experiment_name
        self._submit = submit
        self.max_jobs = max_jobs

    def recent_runs(self, since: datetime) -> list[RunInfo]:
        runs = []
        for job in self.ml_client.jobs.list(max_results=self.max_jobs):
            if job is None or getattr(job, "type", "pipeline") != "pipeline":
                continue
            tags = {str(k): str(v) for k, v in (getattr(job, "tags", None) or {}).items()}
            if TAG_TRIGGER not in tags:
                continue
            if self.experiment_name and getattr(job, "experiment_name", None) != self.experiment_name:
                continue
            created = getattr(getattr(job, "creation_context", None), "created_at", None)
            started = created if isinstance(created, datetime) else datetime.now(UTC)
            started = started if started.tzinfo else started.replace(tzinfo=UTC)
            raw = str(getattr(job, "status", "") or "").lower()
            status: RunStatus = _AML_TERMINAL.get(raw, "running")  # type: ignore[assignment]
            if started >= since or status == "running":
                runs.append(RunInfo(run_id=str(job.name), status=status, started_at=started, tags=tags))
        return runs

    def start(self, reason: str, tags: dict[str, str]) -> str:
        submit = self._submit
        if submit is None:
            from aml.submit import submit_pipeline

            submit = submit_pipeline
        job = submit(self.pipeline_path, self.overrides, tags=tags, client=self.ml_client)
        return str(getattr(job, "name", job))
