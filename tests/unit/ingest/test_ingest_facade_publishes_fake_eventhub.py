"""The facade's ``eventhubs`` ingest backend, with the Event Hubs producer faked at the edge (Event
Hubs cannot run here): the real route, contract validation and publisher; what Event Hubs would
receive is checked by decoding it with the workers' own decoder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from azure.eventhub import EventData, EventDataBatch
from azure.eventhub.exceptions import EventHubError
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.bundle import Bundle
from core.contract import MAX_BODY_BYTES, MAX_INGEST_BATCH
from core.layout import DataLayout
from ingest.events import decode_bodies
from ingest.producer import EventHubPublisher
from scoring.main import create_app
from scoring.settings import ScoringSettings
from tests.scoring_fixtures import bundle, readings

__all__ = ["bundle"]


class RecordingBatch:
    """An ``EventDataBatch`` that remembers its events; its size rule is the SDK's own (a real
    ``EventDataBatch`` with the Standard tier's 1 MB limit says when it is full)."""

    def __init__(self, partition_key: str) -> None:
        self.partition_key = partition_key
        self.events: list[EventData] = []
        self.real = EventDataBatch(partition_key=partition_key)

    def add(self, event_data: EventData) -> None:
        self.real.add(event_data)
        self.events.append(event_data)

    def __len__(self) -> int:
        return len(self.events)


class FakeProducer:
    """``EventHubProducerClient.create_batch`` and ``send_batch``: records what it accepted, or fails
    like the service; a list of events is checked against the message size limit as the SDK does
    (it becomes one batch, and ``ValueError`` when it does not fit)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[EventData]]] = []
        self.sizes: list[int] = []
        self.fail = False

    def create_batch(self, *, partition_key: str) -> RecordingBatch:
        return RecordingBatch(partition_key)

    def send_batch(self, event_data_batch: Any, **kwargs: Any) -> None:
        if self.fail:
            raise EventHubError("the service is unavailable")
        if not isinstance(event_data_batch, RecordingBatch):
            batch = RecordingBatch(kwargs["partition_key"])
            for event in event_data_batch:
                batch.add(event)
            event_data_batch = batch
        self.sent.append((event_data_batch.partition_key, event_data_batch.events))
        self.sizes.append(event_data_batch.real.size_in_bytes)

    def close(self) -> None:
        pass


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def client(bundle: Bundle, tmp_path: Path, producer: FakeProducer) -> Iterator[TestClient]:
    settings = ScoringSettings(
        model_path=bundle.directory,
        online_store="none",
        inference_log_dir=tmp_path / "log",
        ingest_backend="eventhubs",
        eventhub_namespace="fake.servicebus.windows.net",
        eventhub_name="telemetry",
    )
    app = create_app(settings, layout=DataLayout(tmp_path / "data"), registry=CollectorRegistry())
    app.state.scoring.publisher = EventHubPublisher(producer)
    with TestClient(app) as c:
        yield c


def test_ingest_publishes_each_machine_under_its_key_and_answers_after_acceptance_fake_eventhub(
    client: TestClient, producer: FakeProducer
) -> None:
    end = datetime(2026, 12, 1, 10, tzinfo=UTC)
    batch = readings("m-1", end, 30) + readings("m-2", end, 20)
    response = client.post("/ingest", json={"readings": batch})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": 50,
        "published": 50,
        "events": 2,
        "machines": 2,
        "backend": "eventhubs",
    }
    assert [key for key, _ in producer.sent] == ["m-1", "m-2"]
    decoded = decode_bodies(
        b"".join(cast(Iterable[bytes], e.body)) for _, events in producer.sent for e in events
    )
    assert decoded.rejected_total == 0 and len(decoded.frame) == 50
    assert decoded.frame.groupby("machine_id").size().to_dict() == {"m-1": 30, "m-2": 20}


def test_a_machines_largest_batch_is_split_under_the_message_size_limit_fake_eventhub(
    client: TestClient, producer: FakeProducer
) -> None:
    """A body under the facade's 1 MiB limit can become more than 1 MB of events: the contract
    writes each reading out in full (an epoch timestamp becomes ISO 8601, an integer a float), and
    one AMQP message carries at most 1 MB on the Standard tier. MAX_INGEST_BATCH readings of one
    machine go in two batches, in order, and every reading arrives (one list was a ValueError, a 500)."""
    machine = "m" * 64
    start = int(datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp())
    batch = [
        {
            "machine_id": machine,
            "timestamp": start + i,
            "vibration_rms_mm_s": 5.123456789012,
            "temperature_c": 70.12345678901,
            "rotational_speed_rpm": 1500,
        }
        for i in range(MAX_INGEST_BATCH)
    ]
    body = orjson.dumps({"readings": batch})
    assert len(body) < MAX_BODY_BYTES
    response = client.post("/ingest", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["published"] == MAX_INGEST_BATCH
    limit = EventDataBatch(partition_key=machine).max_size_in_bytes
    assert sum(producer.sizes) > limit, "the events fit one message: the test proves nothing"
    assert len(producer.sent) == 2 and {key for key, _ in producer.sent} == {machine}
    assert max(producer.sizes) <= limit
    decoded = decode_bodies(
        b"".join(cast(Iterable[bytes], e.body)) for _, events in producer.sent for e in events
    )
    assert decoded.rejected_total == 0 and len(decoded.frame) == MAX_INGEST_BATCH
    assert decoded.frame["timestamp"].is_monotonic_increasing, "the readings kept their order"


def test_ingest_answers_503_when_event_hubs_does_not_accept_fake_eventhub(
    client: TestClient, producer: FakeProducer
) -> None:
    producer.fail = True
    response = client.post(
        "/ingest", json={"readings": readings("m-1", datetime(2026, 12, 1, tzinfo=UTC), 3)}
    )
    assert response.status_code == 503
    assert response.json()["error"] == "event_hubs_unavailable"


def test_invalid_readings_are_rejected_before_anything_is_published_fake_eventhub(
    client: TestClient, producer: FakeProducer
) -> None:
    bad = readings("m-1", datetime(2026, 12, 1, tzinfo=UTC), 2)
    bad[1]["temperature_c"] = 900.0
    response = client.post("/ingest", json={"readings": bad})
    assert response.status_code == 422
    assert "temperature_c" in response.text
    assert producer.sent == []


def test_eventhubs_backend_needs_its_namespace_and_hub() -> None:
    with pytest.raises(ValueError, match="SCORING_EVENTHUB_NAMESPACE"):
        ScoringSettings(ingest_backend="eventhubs", online_store="none")
