"""Local ingest durability, as a user sees it: ``predmaint serve`` (real process, real Redis online
store, real offline day files) is killed with SIGKILL while a client posts ``/ingest`` batches;
after a restart every reading the client saw acknowledged is in the offline windows, and once the
client has re-sent what was not acknowledged (as a client retries), every reading is counted exactly
once, offline and in the online store's newest windows, also after a graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, READING_COUNT, WINDOW
from core.layout import DATA_DIR_ENV, DataLayout
from features.store import apply, open_store, read_offline, read_online
from predmaint.demo.processes import free_port
from tests.waiting import wait_until

MACHINES = 6
MINUTES = 150  # one reading a minute per machine: 900 readings, within the late grace of the newest
PER_BATCH_MINUTES = 5  # 30 readings a batch, 30 batches
START_S = 90.0  # deadline for a start (Feast import, store open, log replay)

Batch = list[dict[str, Any]]


def _batches(machines: list[str], start: datetime) -> list[Batch]:
    return [
        [
            {
                "machine_id": m,
                "timestamp": (start + timedelta(minutes=b + k)).isoformat(),
                "vibration_rms_mm_s": 2.0 + k / 10,
                "temperature_c": 50.0,
                "rotational_speed_rpm": 1500.0,
            }
            for m in machines
            for k in range(PER_BATCH_MINUTES)
        ]
        for b in range(0, MINUTES, PER_BATCH_MINUTES)
    ]


def _window_counts(batches: list[Batch]) -> Counter[tuple[str, pd.Timestamp]]:
    counts: Counter[tuple[str, pd.Timestamp]] = Counter()
    for batch in batches:
        for r in batch:
            ts = pd.Timestamp(r["timestamp"])
            counts[(r["machine_id"], ts.floor(WINDOW) + WINDOW)] += 1
    return counts


def _offline_counts(layout: DataLayout, machines: list[str]) -> Counter[tuple[str, pd.Timestamp]]:
    windows = read_offline(layout)
    mine = windows.loc[windows[ENTITY_KEY].isin(machines)]
    return Counter(
        {
            (str(m), pd.Timestamp(t)): int(n)
            for m, t, n in zip(mine[ENTITY_KEY], mine[EVENT_TIMESTAMP], mine[READING_COUNT], strict=True)
        }
    )


class Server:
    """``predmaint serve`` as a child process on a free loopback port."""

    def __init__(self, layout: DataLayout, redis_url: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, DATA_DIR_ENV: str(layout.root)}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "predmaint", "serve", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--online", "redis", "--redis-url", redis_url),
                    *("--log-level", "info"),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ingest_ready(self, client: httpx.Client) -> None:
        """Until the online store is open (the ingest log replayed), polled with a deadline."""

        def ready() -> bool:
            assert self.proc.poll() is None, "predmaint serve exited during start"
            body = client.get(f"{self.url}/health/ready", timeout=2.0).json()
            return bool(body["checks"]["online_store"].get("state") == "ok")

        wait_until(
            ready, START_S, "predmaint serve not ingest-ready", interval=0.2, ignore=(httpx.TransportError,)
        )

    def post(self, client: httpx.Client, batch: Batch) -> bool:
        """True when the batch was acknowledged with a 2xx."""
        try:
            response = client.post(f"{self.url}/ingest", json={"readings": batch}, timeout=10.0)
        except httpx.TransportError:
            return False
        return response.is_success

    def kill(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


@pytest.fixture
def servers(layout: DataLayout, redis_url: str, tmp_path: Path) -> Iterator[Callable[[], Server]]:
    started: list[Server] = []

    def start() -> Server:
        started.append(Server(layout, redis_url, tmp_path / "serve.log"))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=30)


def test_kill9_during_ingest_loses_no_acknowledged_reading_and_counts_none_twice(
    layout: DataLayout,
    redis_url: str,
    servers: Callable[[], Server],
    machine_ids: Callable[[int], list[str]],
    tmp_path: Path,
) -> None:
    def log_text() -> str:
        return (tmp_path / "serve.log").read_text(errors="replace")

    apply(open_store(layout, "redis", redis_url))
    machines = machine_ids(MACHINES)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES)
    batches = _batches(machines, start)
    acked = [False] * len(batches)

    with httpx.Client() as client:
        first = servers()
        first.wait_ingest_ready(client)
        done = threading.Event()

        def load() -> None:  # posts batch after batch until the server dies
            for i, batch in enumerate(batches):
                acked[i] = first.post(client, batch)
                if not acked[i]:
                    break
            done.set()

        poster = threading.Thread(target=load)
        poster.start()
        deadline = time.monotonic() + 60
        while sum(acked) < len(batches) // 2 and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.01)
        assert first.kill(signal.SIGKILL) == -signal.SIGKILL
        poster.join(timeout=30)
        sent_before = sum(acked)
        assert 0 < sent_before < len(batches), "the kill must land during the load"

        second = servers()
        second.wait_ingest_ready(client)
        # every acknowledged reading survived; at most the one in-flight batch beyond them
        after_restart = _offline_counts(layout, machines)
        acked_counts = _window_counts([b for b, ok in zip(batches, acked, strict=True) if ok])
        assert all(after_restart[w] >= n for w, n in acked_counts.items()), (after_restart, acked_counts)
        assert sum(after_restart.values()) <= sum(acked_counts.values()) + len(batches[0])

        # the client re-sends what was not acknowledged, in order; the duplicate rule drops repeats
        for i, batch in enumerate(batches):
            if not acked[i]:
                assert second.post(client, batch), f"batch {i} refused after the restart"
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert second.kill(signal.SIGTERM) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log_text()

    expected = _window_counts(batches)
    assert _offline_counts(layout, machines) == expected  # each reading once, none lost

    newest_end = max(t for _, t in expected)
    rows = read_online(open_store(layout, "redis", redis_url), machines, now=datetime.now(UTC))
    for row in rows:
        assert row.event_timestamp == newest_end.to_pydatetime(), row
        assert row.values is not None and row.values[READING_COUNT] == expected[(row.machine_id, newest_end)]
