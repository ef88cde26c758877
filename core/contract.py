"""The data contract: one source for telemetry fields, units, valid ranges and feature names.

Every other part of the project imports names from here; none repeats them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

# --- identity -----------------------------------------------------------------------------------

ENTITY_NAME: Final = "machine"
ENTITY_KEY: Final = "machine_id"
MACHINE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
TIMESTAMP: Final = "timestamp"
"""Column holding a reading's own time (UTC)."""
EVENT_TIMESTAMP: Final = "event_timestamp"
"""Column holding a window's event time: the END of the hour it covers, so that a point-in-time
join never sees a window before all of its readings could have arrived."""
CREATED_TIMESTAMP: Final = "created_timestamp"

MachineId = Annotated[str, StringConstraints(pattern=MACHINE_ID_PATTERN)]

# --- sensors ------------------------------------------------------------------------------------


class SensorSpec(BaseModel):
    """One telemetry channel: its column name, unit and the physically plausible range."""

    model_config = ConfigDict(frozen=True)

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str


VIBRATION: Final = SensorSpec(
    name="vibration_rms_mm_s",
    unit="mm/s",
    minimum=0.0,
    maximum=100.0,
    description="RMS vibration velocity (ISO 10816 measure)",
)
TEMPERATURE: Final = SensorSpec(
    name="temperature_c",
    unit="degC",
    minimum=-40.0,
    maximum=200.0,
    description="bearing/housing temperature",
)
ROTATIONAL_SPEED: Final = SensorSpec(
    name="rotational_speed_rpm",
    unit="rpm",
    minimum=0.0,
    maximum=20000.0,
    description="shaft rotational speed",
)
SENSORS: Final[tuple[SensorSpec, ...]] = (VIBRATION, TEMPERATURE, ROTATIONAL_SPEED)
SENSOR_NAMES: Final[tuple[str, ...]] = tuple(s.name for s in SENSORS)

# --- limits -------------------------------------------------------------------------------------

MAX_INGEST_BATCH: Final = 5_000
"""Readings per ingest request."""
MAX_PREDICT_BATCH: Final = 1_000
"""Rows per predict request."""
MAX_BODY_BYTES: Final = 1_048_576
"""Request body limit (1 MiB), enforced before parsing."""
MIN_TIMESTAMP: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""Readings outside [MIN_TIMESTAMP, MAX_TIMESTAMP) are rejected (pandas' nanosecond range ends in 2262)."""

# --- windows and features -----------------------------------------------------------------------

WINDOW: Final = timedelta(hours=1)
NS_PER_S: Final = 1_000_000_000
WINDOW_NS: Final = WINDOW // timedelta(microseconds=1) * 1_000
"""The window in nanoseconds (``datetime64[ns]`` arithmetic)."""
DAY_NS: Final = timedelta(days=1) // timedelta(microseconds=1) * 1_000
MIN_READINGS_PER_WINDOW: Final = 20
"""A window with fewer readings than this is marked sparse (nominal rate: one reading a minute)."""
LATE_GRACE: Final = timedelta(hours=2)
"""A reading this late (behind the newest seen for its machine) still updates its window."""
MAX_CLOCK_SKEW: Final = timedelta(minutes=5)
"""Live ingest rejects a reading dated more than this after the server's clock (a device clock that
runs ahead, or a typo year), and never judges lateness against a newest reading beyond it."""
FEATURE_TTL: Final = timedelta(hours=3)
"""Online features older than this are stale: flagged on read, refused for scoring."""

FEATURE_VIEW: Final = "sensor_stats_view"
FEATURE_SERVICE: Final = "pred_maint_model_v1"
PUSH_SOURCE: Final = "sensor_stats_push"

READING_COUNT: Final = "reading_count"
IS_SPARSE: Final = "is_sparse"

# (sensor, statistic) pairs of the feature view; the model uses all of them.
_STATS: Final[tuple[tuple[SensorSpec, str], ...]] = (
    (VIBRATION, "mean"),
    (VIBRATION, "std"),
    (VIBRATION, "max"),
    (TEMPERATURE, "mean"),
    (TEMPERATURE, "std"),
    (TEMPERATURE, "max"),
    (ROTATIONAL_SPEED, "mean"),
    (ROTATIONAL_SPEED, "std"),
)
STAT_FEATURES: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (f"{s.name}_{stat}", s.name, stat) for s, stat in _STATS
)
"""(feature name, source column, statistic) for every statistic in the view."""

# --- ground-truth labels -------------------------------------------------------------------------

FAILURE_TIME: Final = "failure_time"
"""Failure labels (``DataLayout.failures_path``): when the machine broke (UTC)."""
FAILURE_MODE: Final = "mode"
ONSET_TIME: Final = "onset_time"
"""When the degradation that led to the failure began (UTC); known to the simulator only."""
FAILURE_COLUMNS: Final[tuple[str, ...]] = (ENTITY_KEY, FAILURE_TIME, FAILURE_MODE, ONSET_TIME)
MAINTENANCE_START: Final = "start"
"""Maintenance labels (``DataLayout.maintenance_path``): a period without readings, start and end (UTC)."""
MAINTENANCE_END: Final = "end"
MAINTENANCE_COLUMNS: Final[tuple[str, ...]] = (ENTITY_KEY, MAINTENANCE_START, MAINTENANCE_END)

# --- relative features (machine- and peer-relative) ---------------------------------------------

MACHINE_TYPE: Final = "machine_type"
"""Entity attribute: machines of one type are each other's peers (the registry is
``DataLayout.machines_path``; a machine missing from it is of type ``UNKNOWN_MACHINE_TYPE``)."""
UNKNOWN_MACHINE_TYPE: Final = "unknown"
BASELINE_DAYS: Final = 7
"""A machine's own baseline for an hour: its windows at the same hour of day on the last N days."""
MIN_BASELINE_DAYS: Final = 3
"""With fewer own baseline days the machine is cold: it uses its type's baseline instead."""
MAD_TO_SIGMA: Final = 1.4826
"""Scales a median absolute deviation to a normal standard deviation."""
RELATIVE_SCALE_FLOOR: Final = 0.01
"""The robust spread of a baseline is at least this fraction of its median's magnitude: seven
near-identical days must not turn a tenth of a degree into a huge deviation."""
RELATIVE_LIMIT: Final = 50.0
"""Deviations are clipped to +-this (in robust standard deviations)."""
OWN: Final = "vs_own"
PEERS: Final = "vs_peers"
_RELATIVE_BASES: Final[tuple[str, ...]] = (
    f"{VIBRATION.name}_mean",
    f"{TEMPERATURE.name}_mean",
    f"{ROTATIONAL_SPEED.name}_mean",
)
EXCESS_ONLY_BASES: Final = frozenset({f"{VIBRATION.name}_mean", f"{TEMPERATURE.name}_mean"})
"""Deviations of these are floored at 0: every failure mode adds vibration or heat, and a machine
running smoother or cooler than its normal (for days after a repair, when its baseline still holds
the degraded week) is not failing. Speed deviations stay two-sided (a drive that slows is news)."""
RELATIVE_FEATURES: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (f"{base}_{kind}", base, kind) for base in _RELATIVE_BASES for kind in (OWN, PEERS)
)
"""(feature name, statistic it is relative to, ``OWN`` or ``PEERS``): robust deviations
``(x - median) / max(MAD_TO_SIGMA * MAD, RELATIVE_SCALE_FLOOR * |median|)``, clipped to
``RELATIVE_LIMIT`` (and at 0 from below for ``EXCESS_ONLY_BASES``). ``OWN``: against the machine's
own windows at the same hour of day on the last ``BASELINE_DAYS`` days (its type's baseline while
cold). ``PEERS``: the machine's excess over that baseline against the excesses of its type's
machines in the same hour (a fleet-wide shift cancels, one machine's fault does not). Computed by
``features.relative``."""
DAY_MEAN_HOURS: Final = 24
"""Day scale: each relative feature also as its mean over the machine's windows ending in the last
DAY_MEAN_HOURS hours (this one included). Slow faults (a cooling loss creeping over days) are a few
robust deviations a day; averaged over a whole load cycle the hourly scatter shrinks and they stand
out a day or more earlier than any single hour does."""
DAY_MEAN_FEATURES: Final[tuple[tuple[str, str], ...]] = tuple(
    (f"{name}_{DAY_MEAN_HOURS}h", name) for name, _, _ in RELATIVE_FEATURES
)
"""(feature name, hourly relative feature it averages)."""
DAY_MEAN_RESTART_GAP_H: Final = 2
"""A stop of a machine of at least this many hours (no windows: maintenance, repair, an outage)
restarts its day means: the hours after it are averaged without the hours before, so the last
degraded day before a repair does not carry over into the repaired machine's first day."""
COLD_OFFSET_LIMIT: Final = 2.0
"""A cold machine's baseline is its type's, shifted by the machine's own offset from it (its own
median minus the type's at the same hours, from the days it has), limited to +-this many of the
type's robust standard deviations: a machine that simply runs a little warmer than its type is not
news, while one that arrives far outside its type still shows."""
BASELINE_DAYS_FEATURE: Final = "baseline_days"
"""How many own days the baseline had (0..BASELINE_DAYS); below MIN_BASELINE_DAYS the OWN features
are against the type's baseline (cold start)."""
BASELINE_IS_COLD: Final = "baseline_is_cold"

MODEL_FEATURES: Final[tuple[str, ...]] = (
    *(name for name, _, _ in STAT_FEATURES),
    *(name for name, _, _ in RELATIVE_FEATURES),
    *(name for name, _ in DAY_MEAN_FEATURES),
)
"""The model's input columns, in order. The reading count is in the view but not a model input:
it describes sampling, not the machine; nor are the baseline's day count and cold flag."""
DRIFT_FEATURES: Final[tuple[str, ...]] = tuple(name for name, _, _ in STAT_FEATURES)
"""The model inputs the drift monitor compares with the reference: the absolute statistics. A
fleet's regime shows there; the relative features are, by construction, normalised to each
machine's last week and to its peers, so a fleet-wide shift cancels in them or fades within
BASELINE_DAYS, and their narrow, mostly-zero distributions would make day-to-day noise look like
drift."""
VIEW_FEATURES: Final[tuple[str, ...]] = (
    *MODEL_FEATURES,
    BASELINE_DAYS_FEATURE,
    READING_COUNT,
    IS_SPARSE,
    BASELINE_IS_COLD,
)
"""Every feature of ``FEATURE_VIEW``; numeric first, the two flags last."""
_STAT_SENSORS: Final[dict[str, str]] = {name: source for name, source, _ in STAT_FEATURES}
_RELATIVE_SENSORS: Final[dict[str, str]] = {name: _STAT_SENSORS[base] for name, base, _ in RELATIVE_FEATURES}
FEATURE_SENSORS: Final[dict[str, str]] = {
    **_STAT_SENSORS,
    **_RELATIVE_SENSORS,
    **{name: _RELATIVE_SENSORS[hourly] for name, hourly in DAY_MEAN_FEATURES},
}
"""The sensor (telemetry column) each model feature is computed from: explanations name it. Every
name in ``MODEL_FEATURES`` must have one (a unit test checks)."""


# --- models -------------------------------------------------------------------------------------


def _sensor_field(spec: SensorSpec) -> Any:
    return Field(
        ge=spec.minimum,
        le=spec.maximum,
        strict=True,
        description=f"{spec.description} [{spec.unit}], {spec.minimum:g}..{spec.maximum:g}",
        json_schema_extra={"unit": spec.unit},
    )


class TelemetryReading(BaseModel):
    """One sensor reading. Unknown fields, NaN, infinity, naive timestamps and out-of-range values
    are rejected."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    machine_id: MachineId
    timestamp: AwareDatetime = Field(description="timezone-aware; stored as UTC")
    vibration_rms_mm_s: float = _sensor_field(VIBRATION)
    temperature_c: float = _sensor_field(TEMPERATURE)
    rotational_speed_rpm: float = _sensor_field(ROTATIONAL_SPEED)

    @field_validator("timestamp")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        try:
            utc = value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+05:00 has no UTC representation
            utc = MIN_TIMESTAMP - timedelta(days=1)
        if not MIN_TIMESTAMP <= utc < MAX_TIMESTAMP:
            raise PydanticCustomError(
                "timestamp_out_of_range",
                "timestamp must be in [{low}, {high})",
                {"low": MIN_TIMESTAMP.isoformat(), "high": MAX_TIMESTAMP.isoformat()},
            )
        return utc


class TelemetryBatch(BaseModel):
    """A batch of readings as posted to ``/ingest``."""

    model_config = ConfigDict(extra="forbid")

    readings: list[TelemetryReading] = Field(min_length=1, max_length=MAX_INGEST_BATCH)


READINGS_ADAPTER: Final = TypeAdapter(list[TelemetryReading])


# --- errors -------------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One rejected field: where it is, which rule it broke, and a readable message."""

    field: str
    rule: str
    message: str


def describe_errors(exc: ValidationError | list[dict[str, Any]]) -> list[FieldError]:
    """Turn pydantic errors into field/rule/message triples that an HTTP edge can return as-is."""
    errors = exc.errors() if isinstance(exc, ValidationError) else exc
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        out.append(
            FieldError(
                field=".".join(loc) or "body",
                rule=str(err.get("type", "invalid")),
                message=str(err.get("msg", "invalid value")),
            )
        )
    return out
