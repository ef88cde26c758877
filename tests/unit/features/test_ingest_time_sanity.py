"""Time sanity of live ingest: readings dated after the server's clock plus the allowed skew are
refused with the field and rule named; a reading from the far future, once in the state, cannot make
later real readings late; every rejection is counted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.contract import ENTITY_KEY, LATE_GRACE, MAX_CLOCK_SKEW, SENSOR_NAMES, TIMESTAMP
from core.layout import DataLayout
from features.ingest import FUTURE_RULE, FutureReadings, Ingestor
from features.tail import write_tail
from features.validate import READING_COLUMNS

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def frame(machine: str, *times: datetime) -> pd.DataFrame:
    out = pd.DataFrame({ENTITY_KEY: machine, TIMESTAMP: pd.DatetimeIndex(list(times))})
    for name in SENSOR_NAMES:
        out[name] = 10.0
    return out[list(READING_COLUMNS)]


@pytest.fixture
def ingestor(layout: DataLayout) -> Iterator[Ingestor]:
    ing = Ingestor(None, layout, online=False, clock=lambda: NOW)
    yield ing
    ing.close()


def test_reading_beyond_clock_skew_refuses_the_batch_naming_field_and_rule(ingestor: Ingestor) -> None:
    ahead = NOW + MAX_CLOCK_SKEW + timedelta(seconds=1)
    with pytest.raises(FutureReadings) as info:
        ingestor.ingest_frame(frame("m", NOW - timedelta(minutes=1), ahead))
    assert info.value.status == 422 and info.value.count == 1
    (error,) = info.value.errors
    assert (error.column, error.rule) == ("readings.1.timestamp", FUTURE_RULE)
    assert ahead.isoformat() in error.message
    # the whole batch was refused, as a batch breaking the contract is: nothing was aggregated
    assert ingestor.aggregator.open_windows == 0
    assert ingestor.totals["future"] == 1 and ingestor.totals["accepted"] == 0


def test_reading_within_the_skew_is_accepted(ingestor: Ingestor) -> None:
    result = ingestor.ingest_frame(frame("m", NOW + MAX_CLOCK_SKEW))
    assert result.accepted == 1 and ingestor.totals["accepted"] == 1


def test_skew_is_a_setting(layout: DataLayout) -> None:
    strict = Ingestor(None, layout, online=False, clock=lambda: NOW, max_clock_skew=timedelta(0))
    try:
        with pytest.raises(FutureReadings):
            strict.ingest_frame(frame("m", NOW + timedelta(seconds=1)))
    finally:
        strict.close()


def test_a_2199_reading_in_the_state_does_not_make_real_readings_late(layout: DataLayout) -> None:
    """A tail checkpointed before the rule existed holds a reading from 2199: live ingest judges
    lateness against the clock-capped newest reading, so the next real readings still count."""
    write_tail(
        layout,
        pd.concat([frame("m", NOW - timedelta(minutes=5)), frame("m", datetime(2199, 1, 1, tzinfo=UTC))]),
    )
    ingestor = Ingestor(None, layout, online=False, clock=lambda: NOW)
    try:
        result = ingestor.ingest_frame(frame("m", NOW - timedelta(minutes=1), NOW))
        assert (result.accepted, result.late) == (2, 0)
        # lateness still applies against the (capped) newest reading
        old = ingestor.ingest_frame(frame("m", NOW - LATE_GRACE - timedelta(hours=2)))
        assert (old.accepted, old.late) == (0, 1) and ingestor.totals["late"] == 1
    finally:
        ingestor.close()
