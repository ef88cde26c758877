"""Publishing readings to Event Hubs: the facade's ``eventhubs`` ingest backend and
``predmaint simulate stream --eventhub``.

Each machine's readings of a call become events keyed by ``machine_id`` (at most
``READINGS_PER_EVENT`` readings an event, in order), put into ``EventDataBatch`` es from
``create_batch`` (a batch is one AMQP message, so it must fit the link's maximum message size, 1 MB
on the Standard tier: a machine's 5,000 readings can need two) and sent with ``send_batch``, which
returns only once Event Hubs has accepted them: :meth:`EventHubPublisher.publish` returns after every
machine's events were accepted and raises :class:`ingest.errors.EventHubsUnavailable` otherwise, so
a 2xx from the facade means the readings are stored by Event Hubs. (A failure part-way may leave
some machines' events sent; the client's retry re-sends them and the workers' duplicate rule drops
the repeats.) The client authenticates with the workload identity (``DefaultAzureCredential``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Protocol

from pydantic import BaseModel, ConfigDict

from core.contract import TelemetryReading
from ingest.errors import EventHubsUnavailable
from ingest.events import encode_machine, group_by_machine

READINGS_PER_EVENT: Final = 1000
"""About 150 kB of JSON (230 kB with 64-character machine IDs): one event fits the 1 MB (Standard)
message limit, five do not always."""


class BatchLike(Protocol):
    """What the publisher uses of ``azure.eventhub.EventDataBatch``."""

    def add(self, event_data: Any) -> None: ...

    def __len__(self) -> int: ...


class ProducerLike(Protocol):
    """What the publisher uses of ``azure.eventhub.EventHubProducerClient``."""

    def create_batch(self, *, partition_key: str) -> BatchLike: ...

    def send_batch(self, event_data_batch: Any, **kwargs: Any) -> None: ...

    def close(self) -> None: ...


class PublishResult(BaseModel):
    """What one publish did (the facade's ``/ingest`` answer with this backend)."""

    model_config = ConfigDict(frozen=True)

    received: int
    published: int
    events: int
    machines: int
    backend: str = "eventhubs"


class EventHubPublisher:
    def __init__(self, client: ProducerLike) -> None:
        self._client = client

    @classmethod
    def connect(cls, namespace: str, eventhub: str) -> EventHubPublisher:
        from azure.eventhub import EventHubProducerClient
        from azure.identity import DefaultAzureCredential

        return cls(
            EventHubProducerClient(
                fully_qualified_namespace=namespace,
                eventhub_name=eventhub,
                credential=DefaultAzureCredential(),
            )
        )

    def publish(self, readings: Iterable[TelemetryReading]) -> PublishResult:
        """Send readings (already validated by the contract); returns once all were accepted."""
        from azure.eventhub import EventData
        from azure.eventhub.exceptions import EventHubError

        groups = group_by_machine(readings)
        received = events = 0
        for machine, machine_readings in groups.items():
            chunks = [
                machine_readings[i : i + READINGS_PER_EVENT]
                for i in range(0, len(machine_readings), READINGS_PER_EVENT)
            ]
            try:
                self._send(machine, [EventData(encode_machine(c)) for c in chunks])
            except EventHubError as exc:
                raise EventHubsUnavailable(
                    f"event hubs did not accept the readings of {machine}: {exc}"
                ) from exc
            received += len(machine_readings)
            events += len(chunks)
        return PublishResult(received=received, published=received, events=events, machines=len(groups))

    def _send(self, machine: str, events: list[Any]) -> None:
        """The events in order, in as few batches under the message size limit as they need."""
        batch = self._client.create_batch(partition_key=machine)
        for event in events:
            try:
                batch.add(event)
            except ValueError:  # full (EventDataBatch.add): send it, start the next
                if not len(batch):
                    raise
                self._client.send_batch(batch)
                batch = self._client.create_batch(partition_key=machine)
                batch.add(event)
        self._client.send_batch(batch)

    def close(self) -> None:
        self._client.close()
