"""Test doubles at the Event Hubs edge (Event Hubs cannot run here) and Azurite on loopback.

- :class:`FileEventHub`: an event hub's partitions as append-only files (one JSON event body a line,
  line number = sequence number), shared between processes, so a worker in a subprocess can be
  killed and restarted against the same stream.
- :class:`FakeEventHubConsumerClient`: ``receive_batch`` with the SDK's callback protocol over a
  :class:`FileEventHub`, for the partitions it is told to own. It starts each partition after the
  checkpoint it reads from the REAL checkpoint store (``BlobCheckpointStore`` on Azurite) and hands
  the worker REAL ``azure.eventhub.PartitionContext`` and ``EventData`` objects, so
  ``update_checkpoint`` goes through the SDK into blob storage. What it does not do is balance load
  (the partitions are assigned by the test) or talk AMQP.
- :func:`start_azurite`: the Azure Storage emulator (npm ``azurite``, ``tools/azurite``) on a free
  loopback port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from azure.eventhub import CloseReason, EventData, PartitionContext
from azure.eventhub._constants import PROP_OFFSET, PROP_SEQ_NUMBER

from predmaint.demo.processes import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented, public development account (the same in every Azurite install); not a secret
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
NAMESPACE = "fake-eventhub.servicebus.windows.net"
EVENTHUB = "telemetry"
CONSUMER_GROUP = "ingest"


def azurite_connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


@contextmanager
def start_azurite(location: Path) -> Iterator[str]:
    """Azurite's blob service on a free loopback port; yields its connection string."""
    if not AZURITE_BIN.exists():
        raise FileNotFoundError(f"{AZURITE_BIN} is missing: run `make azurite` (npm ci in tools/azurite)")
    if shutil.which("node") is None:
        raise FileNotFoundError("node is not on PATH (Azurite needs Node 20)")
    port = free_port()
    location.mkdir(parents=True, exist_ok=True)
    log = location / "azurite.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(AZURITE_BIN),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                str(location),
                "--silent",
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"azurite exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        wait_until(listening, 30, "azurite to listen")
        yield azurite_connection_string(port)
    finally:
        proc.terminate()
        proc.wait(10)


def partition_of(key: str, partitions: int) -> str:
    """A stable partition for a key (Event Hubs hashes keys too; only stability matters here)."""
    return str(zlib.crc32(key.encode()) % partitions)


@dataclass(frozen=True)
class FileEventHub:
    folder: Path
    partitions: int

    def path(self, partition_id: str) -> Path:
        return self.folder / f"partition-{partition_id}.jsonl"

    def publish(self, partition_key: str, bodies: Sequence[bytes]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.path(partition_of(partition_key, self.partitions)), "ab") as f:
            for body in bodies:
                assert b"\n" not in body
                f.write(body + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def partition_ids(self) -> list[str]:
        return [str(p) for p in range(self.partitions)]

    def count(self, partition_id: str) -> int:
        path = self.path(partition_id)
        if not path.exists():
            return 0
        with open(path, "rb") as f:
            return sum(1 for _ in f)


def event_at(body: bytes, sequence_number: int) -> EventData:
    event = EventData(body)
    annotations = event.raw_amqp_message.annotations
    assert annotations is not None
    annotations[PROP_SEQ_NUMBER] = sequence_number
    annotations[PROP_OFFSET] = str(sequence_number).encode()
    return event


class FakeEventHubConsumerClient:
    """``EventHubConsumerClient.receive_batch`` over a :class:`FileEventHub` (see module docstring).

    With ``stop_when_drained`` it returns once every owned partition has no more events (after
    closing them with ``CloseReason.SHUTDOWN``, as the SDK does on ``close()``); otherwise it keeps
    polling the files until :meth:`close`.
    """

    def __init__(
        self,
        hub: FileEventHub,
        checkpoint_store: Any,
        owned: Sequence[str],
        *,
        stop_when_drained: bool = True,
    ) -> None:
        self._hub = hub
        self._store = checkpoint_store
        self._owned = list(owned)
        self._stop_when_drained = stop_when_drained
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def receive_batch(
        self,
        on_event_batch: Callable[[PartitionContext, list[EventData]], None],
        *,
        max_batch_size: int = 300,
        max_wait_time: float | None = None,
        on_partition_initialize: Callable[[PartitionContext], None] | None = None,
        on_partition_close: Callable[[PartitionContext, CloseReason], None] | None = None,
        on_error: Callable[[PartitionContext, Exception], None] | None = None,
        starting_position: Any = None,
        **_: Any,
    ) -> None:
        done = {
            c["partition_id"]: int(c["sequence_number"])
            for c in self._store.list_checkpoints(NAMESPACE, EVENTHUB, CONSUMER_GROUP)
        }
        contexts: dict[str, PartitionContext] = {}
        files: dict[str, BinaryIO] = {}
        next_seq: dict[str, int] = {}
        for pid in self._owned:
            contexts[pid] = PartitionContext(NAMESPACE, EVENTHUB, CONSUMER_GROUP, pid, self._store)
            if on_partition_initialize is not None:
                on_partition_initialize(contexts[pid])
            self._hub.folder.mkdir(parents=True, exist_ok=True)
            self._hub.path(pid).touch()
            files[pid] = open(self._hub.path(pid), "rb")  # noqa: SIM115 - closed in the finally below
            next_seq[pid] = 0
            start = done.get(pid, -1) + 1
            while next_seq[pid] < start and files[pid].readline():
                next_seq[pid] += 1
        try:
            while not self._closed:
                drained = True
                for pid in self._owned:
                    events: list[EventData] = []
                    while len(events) < max_batch_size:
                        line = files[pid].readline()
                        if not line.endswith(b"\n"):
                            files[pid].seek(files[pid].tell() - len(line))  # a half-written line
                            break
                        events.append(event_at(line[:-1], next_seq[pid]))
                        next_seq[pid] += 1
                    drained = drained and not events
                    if events or max_wait_time is not None:
                        on_event_batch(contexts[pid], events)
                if drained:
                    if self._stop_when_drained:
                        break
                    time.sleep(min(max_wait_time or 0.05, 0.05))
        finally:
            for pid in self._owned:
                if on_partition_close is not None:
                    on_partition_close(contexts[pid], CloseReason.SHUTDOWN)
                files[pid].close()
