"""Vectorised contract check for bulk reading frames (history files, simulator output).

Single readings and HTTP batches go through :class:`core.contract.TelemetryReading`; this module
applies the same rules, derived from the same contract (``SENSORS``, ``MACHINE_ID_PATTERN``), to a
whole DataFrame at once. Rule names match pydantic's error types so that both paths report alike.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import pandas as pd

from core.contract import (
    ENTITY_KEY,
    MACHINE_ID_PATTERN,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    SENSORS,
    TIMESTAMP,
)
from features.errors import FrameError, InvalidReadings

READING_COLUMNS: Final[tuple[str, ...]] = (ENTITY_KEY, TIMESTAMP, *(s.name for s in SENSORS))
"""Columns of a readings frame, in order."""
EXAMPLE_ROWS: Final = 5
"""How many offending row labels an error shows."""


def _examples(frame: pd.DataFrame, mask: np.ndarray | pd.Series) -> list[object]:
    idx = frame.index[np.asarray(mask, dtype=bool)]
    return [x.item() if hasattr(x, "item") else x for x in idx[:EXAMPLE_ROWS]]


def _check(
    errors: list[FrameError], frame: pd.DataFrame, column: str, rule: str, message: str, mask: object
) -> None:
    arr = np.asarray(mask, dtype=bool)
    if arr.any():
        errors.append(FrameError(column, rule, f"{message} ({int(arr.sum())} rows)", _examples(frame, arr)))


def validate_frame(df: pd.DataFrame, *, extra: Literal["forbid", "drop"] = "forbid") -> pd.DataFrame:
    """Check a readings frame against the contract and return it normalised.

    Returns a new frame with exactly ``READING_COLUMNS`` (in order), ``machine_id`` as str,
    ``timestamp`` as ``datetime64[ns, UTC]`` (any timezone converted) and the sensors as float64;
    the index is kept. Raises :class:`InvalidReadings` naming every failing column, its rule and up
    to ``EXAMPLE_ROWS`` example row labels. Unknown columns are an error unless ``extra="drop"``.
    """
    errors: list[FrameError] = []
    if len(df) == 0:
        raise InvalidReadings([FrameError("readings", "too_short", "no readings in the frame")])
    missing = [c for c in READING_COLUMNS if c not in df.columns]
    for col in missing:
        errors.append(FrameError(col, "missing", "required column is missing"))
    unknown = [str(c) for c in df.columns if c not in READING_COLUMNS]
    if unknown and extra == "forbid":
        for col in unknown:
            errors.append(FrameError(col, "extra_forbidden", "unknown column"))
    if errors:
        raise InvalidReadings(errors)

    out = pd.DataFrame(index=df.index)

    # machine_id: a string matching the pattern
    ids = df[ENTITY_KEY]
    is_str = (
        np.fromiter((isinstance(v, str) for v in ids), dtype=bool, count=len(ids))
        if ids.dtype == object
        else np.zeros(len(ids), bool)
    )
    if pd.api.types.is_string_dtype(ids.dtype) and ids.dtype != object:
        is_str = ids.notna().to_numpy()
    _check(errors, df, ENTITY_KEY, "string_type", "must be a string", ~is_str)
    id_ok = ids.where(is_str, "").astype(str).str.fullmatch(MACHINE_ID_PATTERN).fillna(False).to_numpy(bool)
    _check(
        errors, df, ENTITY_KEY, "string_pattern_mismatch", f"must match {MACHINE_ID_PATTERN}", is_str & ~id_ok
    )
    out[ENTITY_KEY] = ids.astype(object)

    # timestamp: timezone-aware datetimes, converted to UTC
    ts = df[TIMESTAMP]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        utc = ts.dt.tz_convert("UTC").dt.as_unit("ns")
        _check(errors, df, TIMESTAMP, "missing", "must not be null (NaT)", utc.isna())
        in_range = utc.ge(pd.Timestamp(MIN_TIMESTAMP)) & utc.lt(pd.Timestamp(MAX_TIMESTAMP))
        _check(
            errors,
            df,
            TIMESTAMP,
            "timestamp_out_of_range",
            f"must be in [{MIN_TIMESTAMP.isoformat()}, {MAX_TIMESTAMP.isoformat()})",
            utc.notna() & ~in_range,
        )
        out[TIMESTAMP] = utc
    elif pd.api.types.is_datetime64_dtype(ts.dtype):
        _check(errors, df, TIMESTAMP, "timezone_aware", "must be timezone-aware", np.ones(len(df), bool))
    else:
        _check(
            errors, df, TIMESTAMP, "datetime_type", "must be timezone-aware datetimes", np.ones(len(df), bool)
        )

    # sensors: finite floats within the physical range
    for spec in SENSORS:
        sensor = df[spec.name]
        if pd.api.types.is_bool_dtype(sensor.dtype) or not pd.api.types.is_numeric_dtype(sensor.dtype):
            _check(errors, df, spec.name, "float_type", "must be a number", np.ones(len(df), bool))
            continue
        values = sensor.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(values)
        _check(errors, df, spec.name, "finite_number", "must be finite (no NaN or infinity)", ~finite)
        _check(
            errors,
            df,
            spec.name,
            "greater_than_equal",
            f"must be >= {spec.minimum:g} {spec.unit}",
            finite & (values < spec.minimum),
        )
        _check(
            errors,
            df,
            spec.name,
            "less_than_equal",
            f"must be <= {spec.maximum:g} {spec.unit}",
            finite & (values > spec.maximum),
        )
        out[spec.name] = values

    if errors:
        raise InvalidReadings(errors)
    return out[list(READING_COLUMNS)]
