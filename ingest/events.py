"""The wire format of telemetry on Event Hubs, in both directions (one source for it).

An event's body is UTF-8 JSON: one reading (an object with the contract's fields) or an array of
readings, all of one machine, in time order. Its partition key is the ``machine_id``, so one machine's
readings stay in one partition, in order, and have one owner at a time. Consumers validate every
reading with the contract (:class:`core.contract.TelemetryReading`): an invalid reading is counted
by field and rule and dropped, never allowed to block its partition.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd
from pydantic import ValidationError

from core.contract import (
    ENTITY_KEY,
    MACHINE_ID_PATTERN,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    SENSOR_NAMES,
    SENSORS,
    TIMESTAMP,
    TelemetryReading,
)
from features.validate import READING_COLUMNS

CONTENT_TYPE: Final = "application/json"
MALFORMED: Final = ("body", "json_invalid")
"""Rejection key of an event whose body is not JSON (or not an object or an array of objects)."""

_FIELDS: Final = frozenset(READING_COLUMNS)
_NO_READING: Final = dict.fromkeys(READING_COLUMNS)
"""Stands in for an item the fast check does not read (not a dict of exactly the fields)."""
_MACHINE_ID: Final = re.compile(MACHINE_ID_PATTERN)
_NUMBER_TYPES: Final = (float, int)  # not bool (a subclass of int), not str: those go to pydantic
_TIMESTAMP_FORM: Final = (
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
)
"""The timestamp form read without pydantic (what ``isoformat()`` of an aware datetime writes)."""
_NAT: Final = int(np.iinfo(np.int64).min)
_MIN_NS: Final = int(pd.Timestamp(MIN_TIMESTAMP).as_unit("ns").value)
_MAX_NS: Final = int(pd.Timestamp(MAX_TIMESTAMP).as_unit("ns").value)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)


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
    """Validate every reading of every body with the contract, vectorised over the batch.

    The common reading (exactly the contract's fields, a pattern-valid ``machine_id``, an ISO 8601
    timestamp with an offset, numbers within range) is checked column by column with numpy and
    pandas. Every reading that this check does not accept goes through
    :class:`core.contract.TelemetryReading` itself, which accepts it (pydantic's lax forms, e.g. a
    numeric string) or names the field and rule that reject it. The fast check accepts nothing the
    contract rejects, so the result is the contract's, reading for reading.
    """
    rejected: Counter[tuple[str, str]] = Counter()
    items = _items(list(bodies), rejected)
    n = len(items)
    if n == 0:
        return Decoded(_empty_frame(), rejected)
    ids, ts_ns, sensors, fast = _fast_columns(items)
    for i in np.flatnonzero(~fast):
        try:
            reading = TelemetryReading.model_validate(items[i])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "reading"
            rejected[(where, first["type"])] += 1
            continue
        ids[i] = reading.machine_id
        ts_ns[i] = (reading.timestamp - _EPOCH) // _US * 1_000
        for name in SENSOR_NAMES:
            sensors[name][i] = getattr(reading, name)
        fast[i] = True  # accepted by the contract
    keep = fast
    if not keep.any():
        return Decoded(_empty_frame(), rejected)
    frame = pd.DataFrame(
        {
            ENTITY_KEY: ids[keep],
            TIMESTAMP: pd.DatetimeIndex(ts_ns[keep].astype("datetime64[ns]")).tz_localize("UTC"),
            **{name: sensors[name][keep] for name in SENSOR_NAMES},
        }
    )
    return Decoded(frame[list(READING_COLUMNS)], rejected)


def _items(bodies: list[bytes], rejected: Counter[tuple[str, str]]) -> list[Any]:
    """The readings of every body, in order (each body one reading or an array of readings)."""
    try:  # one parse for the whole batch; a malformed body makes it fail, then body by body
        parsed = orjson.loads(b"[" + b",".join(bodies) + b"]") if bodies else []
    except orjson.JSONDecodeError:
        parsed = None
    if parsed is not None and len(parsed) == len(bodies) and all(type(p) is dict for p in parsed):
        return list(parsed)
    items: list[Any] = []
    for body in bodies:
        try:
            one = orjson.loads(body)
        except orjson.JSONDecodeError:
            rejected[MALFORMED] += 1
            continue
        if isinstance(one, dict):
            items.append(one)
        elif isinstance(one, list):
            items.extend(one)
        else:
            rejected[MALFORMED] += 1
    return items


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in READING_COLUMNS})


def _fast_columns(
    items: list[Any],
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The columns of ``items`` and a mask of the readings they hold valid values for (by the
    contract's rules, checked strictly: exact types, the ISO form with an offset)."""
    n = len(items)
    fields = len(READING_COLUMNS)
    exact = np.fromiter(
        (type(d) is dict and len(d) == fields and _FIELDS.issuperset(d) for d in items), bool, count=n
    )
    rows = [d if ok else _NO_READING for d, ok in zip(items, exact.tolist(), strict=True)]

    # non-strings become "" (invalid for both checks) so that the columns can be hashed
    raw_ids = [m if type(m) is str else "" for m in (d[ENTITY_KEY] for d in rows)]
    ids = np.asarray(raw_ids, dtype=object)
    known = {m: _MACHINE_ID.fullmatch(m) is not None for m in set(raw_ids)}
    ok = exact & np.fromiter((known[m] for m in raw_ids), bool, count=n)

    stamps = [t if type(t) is str else "" for t in (d[TIMESTAMP] for d in rows)]
    codes, uniques = pd.factorize(pd.Series(stamps, dtype=object))
    ts_ns = _parse_timestamps(pd.Series(uniques, dtype=object))[codes]
    ok &= ts_ns != _NAT

    sensors: dict[str, np.ndarray] = {}
    for spec in SENSORS:
        column = [d[spec.name] for d in rows]
        numeric = np.fromiter((type(v) in _NUMBER_TYPES for v in column), bool, count=n)
        values = np.full(n, np.nan)
        if numeric.all():
            values = np.asarray(column, dtype=np.float64)
        elif numeric.any():
            values[numeric] = np.asarray([v for v, k in zip(column, numeric, strict=True) if k], np.float64)
        with np.errstate(invalid="ignore"):
            ok &= numeric & np.isfinite(values) & (values >= spec.minimum) & (values <= spec.maximum)
        sensors[spec.name] = values
    return ids, ts_ns, sensors, ok


def _parse_timestamps(texts: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch of each text in the strict form (``_TIMESTAMP_FORM``) within the
    contract's range; ``_NAT`` for anything else (left to the contract to judge)."""
    form = texts.str.fullmatch(_TIMESTAMP_FORM).to_numpy(bool)
    out = np.full(len(texts), _NAT, np.int64)
    if form.any():
        utc = pd.to_datetime(texts[form], format="ISO8601", utc=True, errors="coerce")
        ns = pd.DatetimeIndex(utc).as_unit("ns").asi8
        in_range = (ns != _NAT) & (ns >= _MIN_NS) & (ns < _MAX_NS)
        out[np.flatnonzero(form)[in_range]] = ns[in_range]
    return out


def machines_of(frame: pd.DataFrame) -> list[str]:
    return [str(m) for m in pd.unique(frame[ENTITY_KEY])]
