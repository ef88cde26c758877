"""The Event Hubs wire format: what a producer encodes, a worker decodes; bad readings are counted
by field and rule and never block the rest of the batch."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pandas as pd
from pydantic import ValidationError

from core.contract import TelemetryBatch, TelemetryReading
from features.ingest import batch_frame
from ingest.events import MALFORMED, decode_bodies, encode_machine


def _reading(i: int, **change: object) -> dict[str, object]:
    base = {
        "machine_id": "m-1",
        "timestamp": (datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=i)).isoformat(),
        "vibration_rms_mm_s": 2.0,
        "temperature_c": 50.0,
        "rotational_speed_rpm": 1500.0,
    }
    return base | change


def test_round_trip_keeps_order_and_values() -> None:
    readings = [TelemetryReading.model_validate(_reading(i)) for i in range(5)]
    decoded = decode_bodies([encode_machine(readings)])
    assert decoded.rejected_total == 0
    assert decoded.frame["timestamp"].is_monotonic_increasing
    assert decoded.frame["temperature_c"].tolist() == [50.0] * 5


def test_bad_readings_and_bodies_are_counted_by_field_and_rule() -> None:
    import orjson

    bodies = [
        orjson.dumps([_reading(0), _reading(1, temperature_c=500.0), _reading(2, machine_id="bad id!")]),
        b"not json",
        orjson.dumps(_reading(3, extra=1)),
        orjson.dumps(_reading(4)),
    ]
    decoded = decode_bodies(bodies)
    assert len(decoded.frame) == 2
    assert decoded.rejected == {
        ("temperature_c", "less_than_equal"): 1,
        ("machine_id", "string_pattern_mismatch"): 1,
        MALFORMED: 1,
        ("extra", "extra_forbidden"): 1,
    }


def _contract_reference(items: list[object]) -> tuple[pd.DataFrame, Counter[tuple[str, str]]]:
    """What the contract says, one reading at a time (the decoder's result must equal it)."""
    valid, rejected = [], Counter[tuple[str, str]]()
    for item in items:
        try:
            valid.append(TelemetryReading.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            rejected[(".".join(str(p) for p in first["loc"]) or "reading", first["type"])] += 1
    return batch_frame(TelemetryBatch.model_construct(readings=valid)), rejected


EDGE_TIMESTAMPS = [
    "2026-12-01T00:00:00Z",
    "2026-12-01T00:00:00.123456+05:30",
    "2026-12-01T00:00:00-00:00",
    "2026-12-01T00:00:00.1234567Z",
    "2026-12-01T00:00:00",
    "2026-12-01 00:00:00Z",
    "2026-12-01T00:00Z",
    "2026-12-01",
    "2026-02-30T00:00:00Z",
    "2026-12-01T00:00:00z",
    "2026-12-01T24:00:00Z",
    "2026-12-01T00:00:00+24:00",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "2199-12-31T23:59:59.999999Z",
    "2200-01-01T00:00:00Z",
    "0001-01-01T00:00:00+05:00",
    1_764_547_200,
    1_764_547_200.5,
    None,
    ["2026-12-01T00:00:00Z"],
]
EDGE_SENSOR_VALUES = [0, 1, 2.5, 100, 100.0001, -40, -40.5, True, "1.5", "abc", None, [1.0], 1e300]
EDGE_IDS = ["m-1", "M_2", "", "x" * 64, "x" * 65, "m 1", "m-1\n", "é", 5, None, ["m"]]


def test_vectorised_decoder_agrees_with_the_contract_reading_for_reading() -> None:
    import orjson

    items: list[object] = [_reading(i, timestamp=t) for i, t in enumerate(EDGE_TIMESTAMPS)]
    items += [_reading(i, machine_id=m) for i, m in enumerate(EDGE_IDS)]
    for field in ("vibration_rms_mm_s", "temperature_c", "rotational_speed_rpm"):
        items += [_reading(i, **{field: v}) for i, v in enumerate(EDGE_SENSOR_VALUES)]
    items += [{k: v for k, v in _reading(0).items() if k != "temperature_c"}, _reading(1, extra=1), 5, [1]]
    items += [_reading(i) for i in range(50)]  # the common case, mixed in

    decoded = decode_bodies([orjson.dumps(items[:40]), orjson.dumps(items[40:])])
    frame, rejected = _contract_reference(items)
    assert decoded.rejected == rejected
    pd.testing.assert_frame_equal(decoded.frame.reset_index(drop=True), frame.reset_index(drop=True))
