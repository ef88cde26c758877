"""What the retrain trigger reacts to, parsed from its three inputs into one :class:`Signal`: an
Azure Monitor alert (common alert schema), an Alertmanager webhook (version 4; only
:data:`RETRAIN_ALERT` counts) or a drift sidecar verdict. Anything else is
:class:`~functions.errors.MalformedSignal`, naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from functions.errors import MalformedSignal

COMMON_ALERT_SCHEMA_ID: Final = "azureMonitorCommonAlertSchema"
ALERTMANAGER_WEBHOOK_VERSION: Final = "4"
RETRAIN_ALERT: Final = "PredMaintDriftDetected"
"""The one alert that starts a run: the rule labelled ``action: retrain`` in
``charts/pred-maint/files/drift-alert-rules.yaml`` (the Function's package does not carry the chart;
tests/unit/functions/test_retrain_function_fake_azure.py checks the two agree)."""


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


def _parse_time(value: Any, field_name: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise MalformedSignal(field_name, "required ISO 8601 time", "missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedSignal(field_name, f"not an ISO 8601 time: {value!r}", "datetime_parsing") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_alert(payload: Mapping[str, Any]) -> Signal:
    """An Azure Monitor alert in the common alert schema (``data.essentials``)."""
    data = payload.get("data")
    essentials = data.get("essentials") if isinstance(data, Mapping) else None
    if not isinstance(essentials, Mapping):
        raise MalformedSignal(
            "data.essentials", "required object (Azure Monitor common alert schema)", "missing"
        )
    alert_id = essentials.get("alertId")
    if not isinstance(alert_id, str) or not alert_id:
        raise MalformedSignal("data.essentials.alertId", "required string", "missing")
    condition = essentials.get("monitorCondition")
    if condition not in ("Fired", "Resolved"):
        raise MalformedSignal(
            "data.essentials.monitorCondition", f"must be Fired or Resolved, got {condition!r}", "enum"
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
        raise MalformedSignal(field_name, "required string", "missing")
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
            "version",
            f"Alertmanager webhook version must be {ALERTMANAGER_WEBHOOK_VERSION!r}, got {version!r}",
            "literal_error",
        )
    if payload.get("status") not in ("firing", "resolved"):
        raise MalformedSignal("status", f"must be firing or resolved, got {payload.get('status')!r}", "enum")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise MalformedSignal("alerts", "required non-empty list", "too_short")
    firing: list[tuple[datetime, str]] = []
    resolved = 0
    names: set[str] = set()
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, Mapping):
            raise MalformedSignal(where, "must be an object", "dict_type")
        labels = alert.get("labels")
        if not isinstance(labels, Mapping):
            raise MalformedSignal(f"{where}.labels", "required object", "missing")
        name = _require_str(labels.get("alertname"), f"{where}.labels.alertname")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise MalformedSignal(f"{where}.status", f"must be firing or resolved, got {status!r}", "enum")
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
        raise MalformedSignal(loc, str(first["msg"]), str(first["type"])) from exc
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
        raise MalformedSignal("body", "must be a JSON object", "dict_type")
    if "alerts" in payload or "groupKey" in payload:
        return parse_alertmanager(payload)
    if payload.get("schemaId") == COMMON_ALERT_SCHEMA_ID or "data" in payload:
        return parse_alert(payload)
    if "drift_detected" in payload:
        return parse_verdict(payload)
    raise MalformedSignal(
        "body",
        "neither an Azure Monitor common alert schema payload, an Alertmanager webhook nor a drift verdict",
        "unknown_kind",
    )
