"""The machine registry on Azure: ``predmaint ingest machines`` puts it in the offline container, and
a worker wired as in the image (``ingest.runner.build_worker``) reads it when it claims a partition.

What a user would notice: a machine's peer features compare it with the machines of its own type, as
on a laptop; without the registry every machine of a partition is compared with every other. The
Event Hubs client is faked at the edge (no emulator runs here); Azurite, the checkpoint store and the
worker are real.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from azure.storage.blob import ContainerClient
from pydantic import SecretStr
from typer.testing import CliRunner

from core.contract import (
    CREATED_TIMESTAMP,
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    MACHINE_TYPE,
    PEERS,
    RELATIVE_FEATURES,
    TelemetryReading,
)
from core.layout import DataLayout
from features.relative import windows_of
from features.validate import READING_COLUMNS
from ingest.events import encode_machine
from ingest.offline_blob import BlobOfflineStore
from ingest.runner import build_worker, checkpoint_store
from ingest.settings import IngestSettings
from predmaint.cli import app
from tests.ingest_fakes import FakeEventHubConsumerClient, FileEventHub

START = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
TYPES = {f"m-{m:02d}": ("pump" if m < 4 else "fan") for m in range(8)}
PEER_FEATURES = [name for name, _, kind in RELATIVE_FEATURES if kind == PEERS]


def _readings() -> list[TelemetryReading]:
    """Pumps run at 50 C, fans at 70 C; one fan runs hotter than its peers."""
    rng = np.random.default_rng(3)
    out = []
    for step in range(3 * 60 // 2):
        for machine, kind in TYPES.items():
            hot = 6.0 if machine == "m-07" else 0.0
            out.append(
                TelemetryReading(
                    machine_id=machine,
                    timestamp=START + timedelta(minutes=2 * step, seconds=int(rng.integers(0, 60))),
                    vibration_rms_mm_s=float(rng.normal(3.0 if kind == "pump" else 5.0, 0.3)),
                    temperature_c=float(rng.normal(50.0 if kind == "pump" else 70.0, 0.5) + hot * step / 90),
                    rotational_speed_rpm=float(rng.normal(1500, 10)),
                )
            )
    return out


def _consume(hub: FileEventHub, storage: str, suffix: str) -> pd.DataFrame:
    """One worker built as the image builds it, over the whole hub; the offline windows it wrote."""
    settings = IngestSettings(
        online_store="none",
        checkpoint_connection_string=SecretStr(storage),
        checkpoint_container=f"checkpoints-{suffix}",
        offline_connection_string=SecretStr(storage),
        offline_container=f"features-{suffix}",
        flush_interval_s=0,
    )
    worker, _ = build_worker(settings, DataLayout(Path("/nonexistent")))
    FakeEventHubConsumerClient(hub, checkpoint_store(settings), hub.partition_ids()).receive_batch(
        worker.on_event_batch,
        max_batch_size=200,
        on_partition_initialize=worker.on_partition_initialize,
        on_partition_close=worker.on_partition_close,
    )
    offline = BlobOfflineStore(ContainerClient.from_connection_string(storage, f"features-{suffix}"))
    frame = offline.read().drop(columns=[CREATED_TIMESTAMP])
    return frame.sort_values([ENTITY_KEY, EVENT_TIMESTAMP]).reset_index(drop=True)


def _bulk(readings: list[TelemetryReading], types: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame([r.model_dump() for r in readings])[list(READING_COLUMNS)]
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    bulk = windows_of(frame, types).drop(columns=[CREATED_TIMESTAMP])
    return bulk.sort_values([ENTITY_KEY, EVENT_TIMESTAMP]).reset_index(drop=True)


def test_workers_compare_machines_with_their_registered_type_fake_eventhub(
    azurite: str, tmp_path: Path
) -> None:
    readings = _readings()
    hub = FileEventHub(tmp_path / "hub", 1)  # one partition: a worker's peers are its partition's machines
    for r in readings:
        hub.publish(r.machine_id, [encode_machine([r])])
    registry = tmp_path / "machines.csv"
    pd.DataFrame({ENTITY_KEY: list(TYPES), MACHINE_TYPE: list(TYPES.values())}).to_csv(registry, index=False)

    typed, untyped = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            "machines",
            str(registry),
            "--connection-string",
            azurite,
            "--container",
            f"features-{typed}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "registered 8 machines" in result.output and "4 fan, 4 pump" in result.output

    got = _consume(hub, azurite, typed)
    pd.testing.assert_frame_equal(
        got[PEER_FEATURES], _bulk(readings, TYPES)[PEER_FEATURES], check_dtype=False
    )
    without = _consume(hub, azurite, untyped)  # no registry: every machine is of type unknown
    pd.testing.assert_frame_equal(
        without[PEER_FEATURES], _bulk(readings, {})[PEER_FEATURES], check_dtype=False
    )
    # the hot fan stands out against the fans; against pumps and fans together it hides in the spread
    hot = got[ENTITY_KEY] == "m-07"
    assert not np.allclose(got.loc[hot, PEER_FEATURES], without.loc[hot, PEER_FEATURES])
