"""A real ingest worker over a fake Event Hubs (a :class:`FileEventHub`), as its own process, so a
test can kill -9 it. Everything else is real: the handler, ``BlobCheckpointStore`` and the offline
store on Azurite, the Feast Redis online store.

Usage: python fake_eventhub_worker.py <config.json>; the JSON has the keys read below.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the checkout

from core.layout import DataLayout
from ingest.runner import build_worker, checkpoint_store, consume
from ingest.settings import IngestSettings
from tests.ingest_fakes import (
    CONSUMER_GROUP,
    EVENTHUB,
    NAMESPACE,
    FakeEventHubConsumerClient,
    FileEventHub,
)


def main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    settings = IngestSettings(
        eventhub_namespace=NAMESPACE,
        eventhub_name=EVENTHUB,
        consumer_group=CONSUMER_GROUP,
        checkpoint_connection_string=config["storage"],
        offline_connection_string=config["storage"],
        online_store="redis" if config.get("redis_url") else "none",
        redis_url=config.get("redis_url"),
        feast_registry=config.get("feast_registry"),
        flush_interval_s=config.get("flush_interval_s", 0.0),
        max_batch_size=config.get("max_batch_size", 50),
        health_port=config["health_port"],
    )
    worker, _ = build_worker(settings, DataLayout(Path(config["data_dir"])))
    hub = FileEventHub(Path(config["hub"]), config["partitions"])
    client = FakeEventHubConsumerClient(hub, checkpoint_store(settings), config["owned"])
    consume(settings, worker, client)


if __name__ == "__main__":
    main(sys.argv[1])
