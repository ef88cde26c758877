"""Wiring of a worker from :class:`ingest.settings.IngestSettings`: the Azure clients (workload
identity, or Azurite connection strings), the Feast online store, the health server, the loop."""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

from core.layout import DataLayout
from ingest.health import serve_health
from ingest.offline_blob import BlobOfflineStore
from ingest.partition import SnapshotStore
from ingest.settings import IngestSettings
from ingest.worker import IngestWorker, OnlinePush

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient


def _credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()  # the pod's workload identity in AKS


def container_client(account_url: str, container: str, connection_string: str | None) -> ContainerClient:
    """A blob container client; created when missing (Azurite; in Azure Terraform creates it)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContainerClient

    if connection_string:
        client = ContainerClient.from_connection_string(connection_string, container)
        with contextlib.suppress(ResourceExistsError):
            client.create_container()
        return client
    return ContainerClient(account_url, container, credential=_credential())


def online_push(settings: IngestSettings, layout: DataLayout) -> OnlinePush | None:
    if settings.online_store == "none":
        return None
    from features.store import open_store, push_online

    store = open_store(layout, "redis", settings.redis_url, registry_path=settings.feast_registry)
    return functools.partial(push_online, store)


def build_worker(settings: IngestSettings, layout: DataLayout) -> tuple[IngestWorker, ContainerClient]:
    """The worker and its checkpoint container (the checkpoint store's; Microsoft advises using it
    for nothing else, so the partitions' snapshots sit in the offline container, ``ingest-state/``)."""
    secret = settings.checkpoint_connection_string
    checkpoints = container_client(
        settings.checkpoint_account_url,
        settings.checkpoint_container,
        secret.get_secret_value() if secret else None,
    )
    secret = settings.offline_connection_string
    features = container_client(
        settings.offline_account_url,
        settings.offline_container,
        secret.get_secret_value() if secret else None,
    )
    snapshots = SnapshotStore(
        features, settings.eventhub_namespace, settings.eventhub_name, settings.consumer_group
    )
    worker = IngestWorker(
        BlobOfflineStore(features),
        snapshots,
        online_push(settings, layout),
        flush_interval_s=settings.flush_interval_s,
        online_interval_s=settings.online_interval_s,
    )
    return worker, checkpoints


def checkpoint_store(settings: IngestSettings) -> Any:
    from azure.eventhub.extensions.checkpointstoreblob import BlobCheckpointStore

    secret = settings.checkpoint_connection_string
    if secret is not None:
        return BlobCheckpointStore.from_connection_string(
            secret.get_secret_value(), settings.checkpoint_container
        )
    return BlobCheckpointStore(settings.checkpoint_account_url, settings.checkpoint_container, _credential())


def consumer_client(settings: IngestSettings, store: Any) -> Any:
    """The real Event Hubs consumer (load balancing across every worker of the consumer group)."""
    from azure.eventhub import EventHubConsumerClient

    return EventHubConsumerClient(
        fully_qualified_namespace=settings.eventhub_namespace,
        eventhub_name=settings.eventhub_name,
        consumer_group=settings.consumer_group,
        credential=_credential(),
        checkpoint_store=store,
    )


def consume(settings: IngestSettings, worker: IngestWorker, client: Any) -> None:
    """Serve health and run the receive loop until the client is closed (SIGTERM closes it)."""
    server = serve_health(
        worker, settings.health_host, settings.health_port, stale_after_s=settings.stale_after_s
    )
    try:
        client.receive_batch(
            on_event_batch=worker.on_event_batch,
            on_partition_initialize=worker.on_partition_initialize,
            on_partition_close=worker.on_partition_close,
            on_error=worker.on_error,
            max_batch_size=settings.max_batch_size,
            max_wait_time=settings.max_wait_s,
            starting_position="-1",  # a partition without a checkpoint: from its first retained event
        )
    finally:
        server.shutdown()
