"""Slow clients (slow-loris) against the facade as its image runs it (``python -m scoring``, the
default read deadlines of ``service.http_server``): ``SLOW_CLIENTS`` connections dribble a header
byte every second for up to ``HOLD_S`` seconds while one normal client scores inline rows.

Reports when the server cut the slow connections (and with what), and what the normal client saw.
Run alone: ``python -m bench.bench_faults_slow``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.fault_rig import Facade, dribble
from bench.table import Table
from service.settings import ServiceSettings

SLOW_CLIENTS = 200
HOLD_S = 30.0
EVERY_S = 1.0


async def _normal(base: str, row: dict[str, float], seconds: float) -> tuple[list[int], list[float]]:
    statuses, took = [], []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            statuses.append((await client.post("/predict", json={"features": row})).status_code)
            took.append(time.perf_counter() - started)
            await asyncio.sleep(0.1)
    return statuses, took


def run() -> list[Table]:
    from tests.scoring_fixtures import build_test_bundle, normal_row

    deadline = ServiceSettings.model_fields["header_timeout_s"].default
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as tmp:
        root = Path(tmp)
        env = {
            "PREDMAINT_DATA_DIR": str(root / "predmaint"),
            "SCORING_MODEL_PATH": str(build_test_bundle(root).directory),
            "SCORING_ONLINE_STORE": "none",
            "SCORING_INFERENCE_LOG_DIR": str(root / "log"),
        }
        with Facade(env, root / "facade.log") as facade:
            head = b"POST /predict HTTP/1.1\r\nhost: x\r\n"
            rest = b"x-slow: " + b"a" * int(HOLD_S / EVERY_S + 10)

            async def probe() -> tuple[list[tuple[float, bytes]], tuple[list[int], list[float]]]:
                slow = [dribble(facade.port, head, rest, HOLD_S, EVERY_S) for _ in range(SLOW_CLIENTS)]
                cut, normal = await asyncio.gather(
                    asyncio.gather(*slow), _normal(facade.base, normal_row(), 15)
                )
                return list(cut), normal

            cut, (statuses, took) = asyncio.run(probe())
    held = np.array([t for t, _ in cut])
    timed_out = sum(1 for _, got in cut if got.startswith(b"HTTP/1.1 408"))
    table = Table(
        f"Slow clients: {SLOW_CLIENTS} connections dribbling headers (1 byte/s, up to {HOLD_S:g} s)",
        [
            "header deadline s",
            "cut with 408",
            "held s min / median / max",
            "normal client",
            "normal p50 / max ms",
        ],
        note=f"Load average {os.getloadavg()[0]:.1f} at the end (2-core machine). Target: cut at the "
        "deadline, others served meanwhile.",
    )
    table.add(
        deadline,
        f"{timed_out} of {len(cut)}",
        f"{held.min():.1f} / {np.median(held):.1f} / {held.max():.1f}",
        f"{sum(1 for s in statuses if s == 200)} of {len(statuses)} answered 200",
        f"{np.median(took) * 1000:.1f} / {max(took) * 1000:.1f}",
    )
    return [table]


if __name__ == "__main__":
    for t in run():
        print(t.markdown())
