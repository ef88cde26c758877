"""The wire format of telemetry on Event Hubs, in both directions (one source for it).

An event's body is UTF-8 JSON: one reading (an object with the contract's fields) or an array of
readings, all of one machine, in time order. Its partition key is the ``machine_id``, so one machine's
readings stay in one partition, in order, and have one owner at a time. Consumers validate every
reading with the contract (:class:`core.contract.TelemetryReading`): an invalid reading is counted
by field and rule and dropped, never allowed to block its partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import orjson
import pandas as pd
from pydantic import ValidationError

from core.contract import ENTITY_KEY, TelemetryBatch, TelemetryReading
from features.ingest import batch_frame
from features.validate import READING_COLUMNS

CONTENT_TYPE: Final = "application/json"
MALFORMED: Final = ("body", "json_invalid")
"""Rejection key of an event whose body is not JSON (or not an object or an array of objects)."""


def encode_machine(readings: Sequence[TelemetryReading]) -> bytes:
    """One event body for readings of one machine (kept in the order given)."""
    return orjson.dumps([r.model_dump(mode="json") for r in readings])


def group_by_machine(readings: Iterable[TelemetryReading]) -> dict[str, list[TelemetryReading]]:
    """Readings per machine, each list in arrival order (one event per machine and publish)."""
    groups: dict[str, list[TelemetryReading]] = {}
    for reading in readings:
        groups.setdefault(reading.machine_id, []).append(reading)
    return groups


@dataclass
class Decoded:
    """Readings decoded from a batch of event bodies: the valid ones as a readings frame (arrival
    order), and counts of what was rejected by ``(field, rule)``."""

    frame: pd.DataFrame
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def decode_bodies(bodies: Iterable[bytes]) -> Decoded:
    """Validate every reading of every body with the contract."""
    valid: list[TelemetryReading] = []
    rejected: Counter[tuple[str, str]] = Counter()
    for body in bodies:
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError:
            rejected[MALFORMED] += 1
            continue
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            rejected[MALFORMED] += 1
            continue
        for item in items:
            try:
                valid.append(TelemetryReading.model_validate(item))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "reading"
                rejected[(where, first["type"])] += 1
    if not valid:
        return Decoded(pd.DataFrame({c: pd.Series(dtype=object) for c in READING_COLUMNS}), rejected)
    return Decoded(batch_frame(TelemetryBatch.model_construct(readings=valid)), rejected)


def machines_of(frame: pd.DataFrame) -> list[str]:
    return [str(m) for m in pd.unique(frame[ENTITY_KEY])]
