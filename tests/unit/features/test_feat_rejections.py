"""Every class of bad reading is rejected with the field named: through the pydantic contract
(single readings and HTTP batches) and through the vectorised bulk check (validate_frame)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.contract import (
    ENTITY_KEY,
    MAX_INGEST_BATCH,
    ROTATIONAL_SPEED,
    SENSORS,
    TEMPERATURE,
    TIMESTAMP,
    VIBRATION,
    TelemetryBatch,
    TelemetryReading,
    describe_errors,
)
from features.errors import InvalidReadings
from features.validate import READING_COLUMNS, validate_frame

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def good(**changes: Any) -> dict[str, Any]:
    reading: dict[str, Any] = {
        ENTITY_KEY: "pump-001",
        TIMESTAMP: T0,
        VIBRATION.name: 2.5,
        TEMPERATURE.name: 61.0,
        ROTATIONAL_SPEED.name: 1480.0,
    }
    reading.update(changes)
    return reading


def rejected_fields(payload: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        TelemetryReading.model_validate(payload)
    return {e.field: e.rule for e in describe_errors(info.value)}


BAD_READINGS = [
    pytest.param({VIBRATION.name: math.nan}, VIBRATION.name, "finite_number", id="nan"),
    pytest.param({TEMPERATURE.name: math.inf}, TEMPERATURE.name, "finite_number", id="infinity"),
    pytest.param({ROTATIONAL_SPEED.name: -math.inf}, ROTATIONAL_SPEED.name, "finite_number", id="-infinity"),
    pytest.param({TIMESTAMP: datetime(2026, 1, 1, 12)}, TIMESTAMP, "timezone_aware", id="naive-timestamp"),
    pytest.param({TIMESTAMP: "2026-01-01T12:00:00"}, TIMESTAMP, "timezone_aware", id="naive-iso-string"),
    pytest.param({VIBRATION.name: 100.5}, VIBRATION.name, "less_than_equal", id="vibration-above"),
    pytest.param({VIBRATION.name: -0.1}, VIBRATION.name, "greater_than_equal", id="vibration-below"),
    pytest.param({TEMPERATURE.name: -41.0}, TEMPERATURE.name, "greater_than_equal", id="temperature-below"),
    pytest.param({TEMPERATURE.name: 200.1}, TEMPERATURE.name, "less_than_equal", id="temperature-above"),
    pytest.param(
        {ROTATIONAL_SPEED.name: 20_001.0}, ROTATIONAL_SPEED.name, "less_than_equal", id="speed-above"
    ),
    pytest.param({"pressure_bar": 3.0}, "pressure_bar", "extra_forbidden", id="unknown-field"),
    pytest.param({VIBRATION.name: "2.5"}, VIBRATION.name, "float_type", id="string-for-number"),
    pytest.param({TEMPERATURE.name: True}, TEMPERATURE.name, "float_type", id="bool-for-number"),
    pytest.param({ENTITY_KEY: 17}, ENTITY_KEY, "string_type", id="number-for-id"),
    pytest.param({ENTITY_KEY: "pump 001"}, ENTITY_KEY, "string_pattern_mismatch", id="id-with-space"),
    pytest.param({ENTITY_KEY: ""}, ENTITY_KEY, "string_pattern_mismatch", id="empty-id"),
    pytest.param({ENTITY_KEY: "x" * 65}, ENTITY_KEY, "string_pattern_mismatch", id="id-too-long"),
    pytest.param({TIMESTAMP: "yesterday"}, TIMESTAMP, "datetime_from_date_parsing", id="unparseable-time"),
]


@pytest.mark.parametrize(("change", "field", "rule"), BAD_READINGS)
def test_bad_reading_is_rejected_naming_the_field(change: dict[str, Any], field: str, rule: str) -> None:
    assert rejected_fields(good(**change)) == {field: rule}


def test_missing_field_is_named() -> None:
    payload = good()
    del payload[TEMPERATURE.name]
    assert rejected_fields(payload) == {TEMPERATURE.name: "missing"}


def test_good_reading_is_stored_as_utc() -> None:
    reading = TelemetryReading.model_validate(good(**{TIMESTAMP: "2026-01-01T14:00:00+02:00"}))
    assert reading.timestamp == T0 and reading.timestamp.utcoffset() == timedelta(0)


def test_bad_reading_in_a_batch_is_named_with_its_position() -> None:
    payload = {"readings": [good(), good(**{VIBRATION.name: math.nan})]}
    with pytest.raises(ValidationError) as info:
        TelemetryBatch.model_validate(payload)
    assert [e.field for e in describe_errors(info.value)] == [f"readings.1.{VIBRATION.name}"]


def test_empty_batch_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        TelemetryBatch.model_validate({"readings": []})
    assert [(e.field, e.rule) for e in describe_errors(info.value)] == [("readings", "too_short")]


def test_oversized_batch_is_rejected() -> None:
    payload = {"readings": [good()] * (MAX_INGEST_BATCH + 1)}
    with pytest.raises(ValidationError) as info:
        TelemetryBatch.model_validate(payload)
    assert [(e.field, e.rule) for e in describe_errors(info.value)] == [("readings", "too_long")]


def test_unknown_batch_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        TelemetryBatch.model_validate({"readings": [good()], "source": "plc"})
    assert [(e.field, e.rule) for e in describe_errors(info.value)] == [("source", "extra_forbidden")]


# --- the bulk path -------------------------------------------------------------------------------


def frame(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            ENTITY_KEY: [f"m-{i % 3}" for i in range(n)],
            TIMESTAMP: pd.date_range(T0, periods=n, freq="min"),
            VIBRATION.name: np.linspace(1.0, 3.0, n),
            TEMPERATURE.name: np.linspace(40.0, 45.0, n),
            ROTATIONAL_SPEED.name: np.full(n, 1500.0),
        }
    )


def frame_errors(df: pd.DataFrame) -> list[tuple[str, str, list[object]]]:
    with pytest.raises(InvalidReadings) as info:
        validate_frame(df)
    return [(e.column, e.rule, e.rows) for e in info.value.errors]


def with_value(column: str, row: int, value: object) -> pd.DataFrame:
    df = frame()
    df[column] = df[column].astype(object) if not isinstance(value, float) else df[column]
    df.loc[row, column] = value  # type: ignore[call-overload]  # any object, on purpose
    return df


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        pytest.param(VIBRATION.name, math.nan, "finite_number", id="nan"),
        pytest.param(TEMPERATURE.name, math.inf, "finite_number", id="infinity"),
        pytest.param(VIBRATION.name, 100.01, "less_than_equal", id="vibration-above"),
        pytest.param(TEMPERATURE.name, -40.5, "greater_than_equal", id="temperature-below"),
        pytest.param(ROTATIONAL_SPEED.name, 25_000.0, "less_than_equal", id="speed-above"),
        pytest.param(ENTITY_KEY, "bad id!", "string_pattern_mismatch", id="bad-id"),
        pytest.param(ENTITY_KEY, 42, "string_type", id="number-for-id"),
        pytest.param(ENTITY_KEY, None, "string_type", id="null-id"),
    ],
)
def test_bulk_frame_names_column_rule_and_rows(column: str, value: object, rule: str) -> None:
    assert frame_errors(with_value(column, 4, value)) == [(column, rule, [4])]


def test_bulk_frame_rejects_naive_timestamps() -> None:
    df = frame()
    df[TIMESTAMP] = df[TIMESTAMP].dt.tz_localize(None)
    (err,) = frame_errors(df)
    assert err[:2] == (TIMESTAMP, "timezone_aware")


def test_bulk_frame_rejects_timestamps_out_of_range() -> None:
    df = frame()
    df.loc[2, TIMESTAMP] = pd.Timestamp("1969-12-31T23:59:59Z")
    df.loc[3, TIMESTAMP] = pd.Timestamp("2250-01-01T00:00:00Z")
    assert frame_errors(df) == [(TIMESTAMP, "timestamp_out_of_range", [2, 3])]


def test_bulk_frame_rejects_wrong_types() -> None:
    df = frame()
    df[VIBRATION.name] = df[VIBRATION.name].astype(str)
    df[TIMESTAMP] = df[TIMESTAMP].astype(str)
    rules = {(c, r) for c, r, _ in frame_errors(df)}
    assert rules == {(VIBRATION.name, "float_type"), (TIMESTAMP, "datetime_type")}


def test_bulk_frame_rejects_unknown_and_missing_columns() -> None:
    df = frame().drop(columns=[TEMPERATURE.name]).assign(pressure_bar=1.0)
    assert {(c, r) for c, r, _ in frame_errors(df)} == {
        (TEMPERATURE.name, "missing"),
        ("pressure_bar", "extra_forbidden"),
    }
    assert list(validate_frame(frame().assign(extra=1), extra="drop").columns) == list(READING_COLUMNS)


def test_bulk_frame_rejects_empty_frame() -> None:
    assert frame_errors(frame().iloc[:0]) == [("readings", "too_short", [])]


def test_bulk_error_message_names_column_rule_and_example_rows() -> None:
    df = frame(20)
    df.loc[[3, 5, 7, 9, 11, 13, 15], VIBRATION.name] = 500.0
    with pytest.raises(InvalidReadings) as info:
        validate_frame(df)
    message = str(info.value)
    assert VIBRATION.name in message and "less_than_equal" in message and "7 rows" in message
    assert info.value.errors[0].rows == [3, 5, 7, 9, 11]
    assert info.value.status == 422 and info.value.code == "invalid_input"


def test_bulk_frame_normalises_to_utc_ns_and_floats() -> None:
    df = frame()
    df[TIMESTAMP] = df[TIMESTAMP].dt.tz_convert(timezone(timedelta(hours=5))).dt.as_unit("us")
    df[ROTATIONAL_SPEED.name] = df[ROTATIONAL_SPEED.name].astype(int)
    out = validate_frame(df)
    assert str(out[TIMESTAMP].dtype) == "datetime64[ns, UTC]"
    assert out[TIMESTAMP].iloc[0] == pd.Timestamp(T0)
    assert all(out[s.name].dtype == np.float64 for s in SENSORS)
