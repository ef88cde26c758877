"""Request and response models of ``POST /predict`` (also used by ``score.py`` for inline rows).

Requests carry exactly one of:

- ``features``: one row inline, an object keyed by every name in ``MODEL_FEATURES``;
- ``rows``: up to ``MAX_PREDICT_BATCH`` such rows;
- ``machine_id``: one machine whose latest window features come from the online store;
- ``machine_ids``: up to ``MAX_PREDICT_BATCH`` machines.

A single-row request (``features`` or ``machine_id``) answers one flat :class:`SinglePrediction`;
a batch request answers :class:`BatchPrediction` with one entry per row, in request order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from core.contract import (
    DAY_MEAN_FEATURES,
    DAY_MEAN_HOURS,
    MAX_PREDICT_BATCH,
    RELATIVE_FEATURES,
    RELATIVE_LIMIT,
    SENSORS,
    STAT_FEATURES,
    MachineId,
)

_SENSOR_BY_NAME: Final = {s.name: s for s in SENSORS}


def _feature_field(source: str, stat: str) -> Any:
    """Bounds derived from the sensor's range: mean and max lie inside it, std within its span."""
    spec = _SENSOR_BY_NAME[source]
    if stat == "std":
        low, high = 0.0, spec.maximum - spec.minimum
    else:
        low, high = spec.minimum, spec.maximum
    return (
        float,
        Field(
            ge=low,
            le=high,
            strict=True,
            description=f"{stat} of {spec.description} over the window [{spec.unit}], {low:g}..{high:g}",
        ),
    )


def _relative_field(base: str, kind: str) -> Any:
    """A robust deviation of ``base`` (see ``RELATIVE_FEATURES``), clipped to the contract's limit."""
    return (
        float,
        Field(
            ge=-RELATIVE_LIMIT,
            le=RELATIVE_LIMIT,
            strict=True,
            description=f"robust deviation of {base} {kind.replace('_', ' ')}, +-{RELATIVE_LIMIT:g}",
        ),
    )


FeatureRow = create_model(
    "FeatureRow",
    __config__=ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True),
    __doc__="One model input row: every feature of the contract's MODEL_FEATURES, finite, in range.",
    **{name: _feature_field(source, stat) for name, source, stat in STAT_FEATURES},
    **{name: _relative_field(base, kind) for name, base, kind in RELATIVE_FEATURES},
    **{name: _relative_field(hourly, f"mean over {DAY_MEAN_HOURS} h") for name, hourly in DAY_MEAN_FEATURES},
)


class PredictRequest(BaseModel):
    """Exactly one of ``features``, ``rows``, ``machine_id``, ``machine_ids``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"machine_id": "m-001"}, {"machine_ids": ["m-001", "m-002"]}],
        },
    )

    features: FeatureRow | None = None  # type: ignore[valid-type]
    rows: list[FeatureRow] | None = Field(  # type: ignore[valid-type]
        default=None, min_length=1, max_length=MAX_PREDICT_BATCH
    )
    machine_id: MachineId | None = None
    machine_ids: list[MachineId] | None = Field(default=None, min_length=1, max_length=MAX_PREDICT_BATCH)

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        given = [k for k in ("features", "rows", "machine_id", "machine_ids") if getattr(self, k) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "exactly_one_input",
                "give exactly one of features, rows, machine_id, machine_ids (got {given})",
                {"given": ", ".join(given) or "none"},
            )
        return self

    @property
    def is_batch(self) -> bool:
        return self.rows is not None or self.machine_ids is not None


class InlineRequest(BaseModel):
    """What ``score.py`` (the AzureML endpoint) accepts: inline rows only. Machines are resolved to
    rows by the facade, which owns the online store."""

    model_config = ConfigDict(extra="forbid")

    features: FeatureRow | None = None  # type: ignore[valid-type]
    rows: list[FeatureRow] | None = Field(  # type: ignore[valid-type]
        default=None, min_length=1, max_length=MAX_PREDICT_BATCH
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> InlineRequest:
        if (self.features is None) == (self.rows is None):
            raise PydanticCustomError("exactly_one_input", "give exactly one of features, rows")
        return self

    def row_list(self) -> list[Any]:
        return [self.features] if self.features is not None else list(self.rows or ())


class FeatureContribution(BaseModel):
    """One feature's share of a row's anomaly score (see ``aml.onnx_export``)."""

    feature: str
    sensor: str = Field(description="the telemetry column the feature is computed from")
    contribution: float = Field(
        description="score units; a row's contributions over all features sum to anomaly_score minus "
        "the model's attribution_baseline (0.5); positive pushed the row towards anomalous"
    )


class Prediction(BaseModel):
    anomaly_score: float = Field(description="higher means more anomalous")
    is_anomaly: bool = Field(description="anomaly_score >= threshold")
    top_features: list[FeatureContribution] | None = Field(
        default=None,
        description="the features with the largest contributions, highest first (none when the "
        "model carries no attribution)",
    )
    machine_id: str | None = None
    event_timestamp: datetime | None = Field(
        default=None, description="end of the feature window (UTC), when features came from the online store"
    )
    feature_age_s: float | None = Field(default=None, description="seconds between event_timestamp and now")
    is_sparse: bool | None = Field(default=None, description="the window had too few readings")


class SinglePrediction(Prediction):
    model_version: str
    threshold: float


class BatchPrediction(BaseModel):
    model_version: str
    threshold: float
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    backend: str
    version: str | None
    content_version: str | None = None
    source: str | None = None
    threshold: float | None
    features: list[str]
    loaded_at: datetime | None
    reference_hash: str | None = None
    attribution_baseline: float | None = Field(
        default=None, description="the score that top_features contributions are measured from"
    )


class ErrorBody(BaseModel):
    error: str
    message: str
    detail: Any = None
