"""The Event Hubs wire format: what a producer encodes, a worker decodes; bad readings are counted
by field and rule and never block the rest of the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.contract import TelemetryReading
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
