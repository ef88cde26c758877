"""The drift alert rule, evaluated locally: the laptop's stand-in for Azure Monitor's managed Prometheus.

The rule is read from ``charts/pred-maint/files/drift-alert-rules.yaml`` (the one definition that the
chart and Terraform use too). The evaluator understands the rule's metric (the sidecar's
``drift_detected`` verdict, true or false), not PromQL in general: it follows Prometheus' alerting
states (inactive -> pending while the condition holds -> firing once it held for ``for``) and, like an
action group, sends a common-alert-schema payload when the alert fires and when it resolves. The
``for`` duration divides by ``time_scale``, so a demo running its clock 60x faster waits 15 s for 15 m.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from drift.metric_names import DRIFT_DETECTED

RULES_PATH: Final = (
    Path(__file__).resolve().parent.parent / "charts" / "pred-maint" / "files" / "drift-alert-rules.yaml"
)
DRIFT_ALERT: Final = "PredMaintDriftDetected"
DRIFT_METRIC: Final = DRIFT_DETECTED
"""The sidecar's sustained verdict, as ``drift.drift_service`` emits it (``drift.metric_names``)."""

_DURATION_RE: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``15m``, ``1h30m``, ``90s``)."""
    text = str(text).strip()
    parts = _DURATION_RE.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    for_s: float
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    group: str = ""


def load_alert_rule(path: Path = RULES_PATH, name: str = DRIFT_ALERT) -> AlertRule:
    """The named alerting rule of a Prometheus rule-group file."""
    document = yaml.safe_load(Path(path).read_text())
    for group in document.get("groups", []):
        for rule in group.get("rules", []):
            if rule.get("alert") == name:
                if DRIFT_METRIC not in str(rule.get("expr", "")):
                    raise ValueError(
                        f"{path}: rule {name} does not use {DRIFT_METRIC}; the local evaluator needs it"
                    )
                return AlertRule(
                    name=name,
                    expr=str(rule["expr"]),
                    for_s=parse_duration(rule.get("for", "0s")),
                    labels={str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (rule.get("annotations") or {}).items()},
                    group=str(group.get("name", "")),
                )
    raise ValueError(f"{path}: no alerting rule named {name}")


AlertState = Literal["inactive", "pending", "firing"]


def alert_payload(
    rule: AlertRule, condition: Literal["Fired", "Resolved"], fired_at: datetime, now: datetime
) -> dict[str, Any]:
    """An Azure Monitor common-alert-schema payload, as an action group would send it."""
    essentials: dict[str, Any] = {
        "alertId": f"/local/prometheus/{rule.group}/{rule.name}",
        "alertRule": rule.name,
        "severity": rule.labels.get("severity", "warning"),
        "signalType": "Metric",
        "monitorCondition": condition,
        "monitoringService": "Prometheus",
        "firedDateTime": fired_at.isoformat(),
        "description": rule.annotations.get("summary", ""),
    }
    if condition == "Resolved":
        essentials["resolvedDateTime"] = now.isoformat()
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {"essentials": essentials, "alertContext": {}},
    }


class AlertEvaluator:
    """Feed it the sidecar's verdicts (``observe``); it calls ``notify`` with a payload when the alert
    fires or resolves. ``clock`` is monotonic seconds; ``wall`` gives the times put in payloads."""

    def __init__(
        self,
        rule: AlertRule,
        notify: Callable[[dict[str, Any]], Any] | None = None,
        *,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.rule = rule
        self.notify = notify
        self.hold_s = rule.for_s / time_scale
        self.clock = clock
        self.wall = wall
        self.state: AlertState = "inactive"
        self._since: float | None = None
        self._fired_at: datetime | None = None
        self.notifications: list[Any] = []
        self.last_payload: dict[str, Any] | None = None

    def _send(self, payload: dict[str, Any]) -> None:
        self.last_payload = payload
        if self.notify is not None:
            self.notifications.append(self.notify(payload))

    def observe(self, drift_detected: bool | None, at: datetime | None = None) -> AlertState:
        """One evaluation. ``drift_detected`` None (no verdict) counts as false, as the metric is 0.
        ``at`` (a simulated time) replaces both clocks when given. A fired or resolved alert is sent
        to ``notify`` and kept in ``last_payload`` (None when this evaluation sent nothing)."""
        now = at.timestamp() if at is not None else self.clock()
        wall = at if at is not None else self.wall()
        self.last_payload = None
        if not drift_detected:
            if self.state == "firing" and self._fired_at is not None:
                self._send(alert_payload(self.rule, "Resolved", self._fired_at, wall))
            self.state, self._since, self._fired_at = "inactive", None, None
            return self.state
        if self._since is None:
            self._since = now
        if self.state != "firing":
            if now - self._since >= self.hold_s:
                self.state = "firing"
                self._fired_at = wall
                self._send(alert_payload(self.rule, "Fired", wall, wall))
            else:
                self.state = "pending"
        return self.state


def load_rule_evaluator(
    path: Path = RULES_PATH,
    *,
    name: str = DRIFT_ALERT,
    for_s: float | None = None,
    time_scale: float = 1.0,
    notify: Callable[[dict[str, Any]], Any] | None = None,
) -> AlertEvaluator:
    """The evaluator of the drift rule in ``path``. ``for_s`` replaces the rule's ``for`` (already in
    the caller's clock); otherwise the rule's ``for`` is divided by ``time_scale``."""
    rule = load_alert_rule(path, name)
    if for_s is not None:
        rule = AlertRule(rule.name, rule.expr, for_s, rule.labels, rule.annotations, rule.group)
    return AlertEvaluator(rule, notify, time_scale=1.0 if for_s is not None else time_scale)
