"""The one /ingest client: its body is the contract's batch, and the facade's refusals reach the caller."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.contract import TelemetryBatch
from predmaint.ingest_client import IngestRejected, post_readings, readings_payload
from tests.scoring_fixtures import readings


def _frame(count: int) -> pd.DataFrame:
    frame = pd.DataFrame(readings("m-1", datetime(2026, 12, 1, 12, tzinfo=UTC), count))
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True))


def test_the_payload_is_a_valid_batch_with_the_same_readings() -> None:
    frame = _frame(5)
    batch = TelemetryBatch.model_validate(readings_payload(frame))
    assert [r.timestamp for r in batch.readings] == list(frame["timestamp"])
    assert [r.temperature_c for r in batch.readings] == frame["temperature_c"].tolist()


def test_a_facade_without_an_online_store_refuses_and_the_caller_sees_it(client: TestClient) -> None:
    with pytest.raises(IngestRejected) as info:
        post_readings(client, "/ingest", _frame(3))
    assert info.value.status_code == 503 and "online" in info.value.body


def test_a_chunk_beyond_the_contract_limit_is_refused_before_posting(client: TestClient) -> None:
    with pytest.raises(ValueError, match="chunk must lie in"):
        post_readings(client, "/ingest", _frame(1), chunk=10**6)
