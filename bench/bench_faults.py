"""Fault probe of the facade: Redis hung (SIGSTOP) under concurrent ``machine_id`` requests.

Starts a private ``redis-server`` and the facade under uvicorn (``bench.fault_rig``), ingests one
machine, then measures, with ``--clients`` users asking for it and one inline client:

- before: inline and machine_id latency with Redis healthy;
- during: Redis hung for ``--hold`` seconds: slowest machine_id answer and the reasons of its 503s,
  slowest ``/health/live`` and ``/health/ready``, inline p99;
- after: seconds until the machine_id path is served again once Redis continues (SIGCONT).

Run alone: ``python -m bench.bench_faults [--hold 30] [--clients 60]``. Needs ``redis-server``
on PATH and builds a small model bundle in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.fault_rig import Facade, Probe, RedisServer, facade_env, prepare_store, probe_load
from core.contract import MIN_READINGS_PER_WINDOW

MACHINE = "m-bench-1"


def _p(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) * 1000 if values else float("nan")


def _summary(probe: Probe) -> dict[str, Any]:
    served = sum(1 for s in probe.machine_statuses if s == 200)
    return {
        "machine_id_requests": len(probe.machine_statuses),
        "machine_id_served": served,
        "machine_id_503": sum(1 for s in probe.machine_statuses if s == 503),
        "other_statuses": sorted({s for s in probe.machine_statuses if s not in (200, 503)}),
        "reasons_503": sorted(probe.reasons),
        "machine_id_p50_ms": round(_p(probe.machine_latencies_s, 0.5), 1),
        "machine_id_max_ms": round(_p(probe.machine_latencies_s, 1.0), 1),
        "health_p50_ms": round(_p(probe.health_latencies_s, 0.5), 1),
        "health_max_ms": round(_p(probe.health_latencies_s, 1.0), 1),
        "ready_statuses": sorted(probe.ready_statuses),
        "inline_requests": len(probe.inline_statuses),
        "inline_non_200": sum(1 for s in probe.inline_statuses if s != 200),
        "inline_p99_ms": round(_p(probe.inline_latencies_s, 0.99), 1),
    }


def _bundle(base: Path) -> Path:
    from tests.scoring_fixtures import build_test_bundle

    return build_test_bundle(base).directory


def run(hold_s: float, clients: int, warm_s: float, pause_s: float) -> dict[str, Any]:
    from tests.scoring_fixtures import normal_row, readings

    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        root = Path(tmp)
        bundle_dir = _bundle(root)
        with RedisServer() as redis_server:
            data_dir = root / "predmaint"
            prepare_store(data_dir, redis_server.url)
            with Facade(facade_env(data_dir, bundle_dir, redis_server.url), root / "facade.log") as facade:
                last = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
                body = {"readings": readings(MACHINE, last, MIN_READINGS_PER_WINDOW + 5)}
                httpx.post(f"{facade.base}/ingest", json=body, timeout=10).raise_for_status()
                row = normal_row()
                before = asyncio.run(probe_load(facade.base, MACHINE, row, warm_s, clients, pause_s=pause_s))
                redis_server.pause()
                try:
                    during = asyncio.run(
                        probe_load(facade.base, MACHINE, row, hold_s, clients, pause_s=pause_s)
                    )
                finally:
                    redis_server.resume()
                resumed = time.monotonic()
                while httpx.post(f"{facade.base}/predict", json={"machine_id": MACHINE}).status_code != 200:
                    time.sleep(0.05)
                recovery_s = time.monotonic() - resumed
    return {
        "hold_s": hold_s,
        "clients": clients,
        "pause_s": pause_s,
        "before": _summary(before),
        "during": _summary(during),
        "recovered_after_sigcont_s": round(recovery_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=30.0, help="seconds Redis stays hung")
    parser.add_argument("--clients", type=int, default=60, help="concurrent machine_id users")
    parser.add_argument("--warm", type=float, default=5.0, help="seconds measured before the fault")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds each user waits between requests")
    args = parser.parse_args()
    print(json.dumps(run(args.hold, args.clients, args.warm, args.pause), indent=2))


if __name__ == "__main__":
    main()
