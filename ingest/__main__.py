"""``python -m ingest``: the worker image's entry point (settings from ``INGEST_*``)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from core.layout import DataLayout
from ingest.runner import build_worker, checkpoint_store, consume, consumer_client
from ingest.settings import IngestSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = IngestSettings()
    worker, _ = build_worker(settings, DataLayout.from_env())
    client = consumer_client(settings, checkpoint_store(settings))

    def stop(_signum: int, _frame: Any) -> None:
        # close() from another thread: the SDK closes each partition (SHUTDOWN: flushed) and returns
        threading.Thread(target=client.close, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    consume(settings, worker, client)


if __name__ == "__main__":
    main()
