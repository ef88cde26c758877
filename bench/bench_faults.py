"""Fault probe of the facade: Redis hung (SIGSTOP) under concurrent ``machine_id`` requests.

Starts a private ``redis-server`` and the facade under uvicorn (``bench.fault_rig``), ingests one
machine, then measures, with ``--clients`` users asking for it and one inline client:

- before: inline and machine_id latency with Redis healthy;
- during: Redis hung for ``--hold`` seconds: slowest machine_id answer and the reasons of its 503s,
  slowest ``/health/live`` and ``/health/ready``, inline p99;
- after: seconds until the machine_id path is served again once Redis continues (SIGCONT);
- refused: Redis stopped (the port refuses connections), the same load.

Health is measured on the main port (the event loop) and on the health port
(``service.health_listener``, what the chart probes).

``python -m bench -k faults`` runs it with the issue's figures (30 s, 60 users) beside the sidecar
and slow-client probes; alone: ``python -m bench.bench_faults [--hold 30] [--clients 60]`` (JSON).
Needs ``redis-server`` on PATH and builds a small model bundle in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.fault_rig import Facade, Probe, RedisServer, facade_env, prepare_store, probe_load
from bench.table import Table
from core.contract import MIN_READINGS_PER_WINDOW

MACHINE = "m-bench-1"


HOLD_S = 30.0
CLIENTS = 60
WARM_S = 5.0
PAUSE_S = 0.5
REFUSED_S = 5.0
"""Seconds measured with Redis refusing connections (stopped), after the hang."""


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
        "health_port_p50_ms": round(_p(probe.listener_latencies_s, 0.5), 1),
        "health_port_p99_ms": round(_p(probe.listener_latencies_s, 0.99), 1),
        "health_port_max_ms": round(_p(probe.listener_latencies_s, 1.0), 1),
        "ready_statuses": sorted(probe.ready_statuses),
        "inline_requests": len(probe.inline_statuses),
        "inline_non_200": sum(1 for s in probe.inline_statuses if s != 200),
        "inline_p99_ms": round(_p(probe.inline_latencies_s, 0.99), 1),
    }


def _bundle(base: Path) -> Path:
    from tests.scoring_fixtures import build_test_bundle

    return build_test_bundle(base).directory


def measure(
    hold_s: float = HOLD_S, clients: int = CLIENTS, warm_s: float = WARM_S, pause_s: float = PAUSE_S
) -> dict[str, Any]:
    """Before, during a ``hold_s`` hang, recovery, then Redis refusing connections: the raw figures."""
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

                def probe(seconds: float) -> Probe:
                    return asyncio.run(
                        probe_load(
                            facade.base,
                            MACHINE,
                            row,
                            seconds,
                            clients,
                            pause_s=pause_s,
                            health_base=facade.health_base,
                        )
                    )

                before = probe(warm_s)
                redis_server.pause()
                try:
                    during = probe(hold_s)
                finally:
                    redis_server.resume()
                resumed = time.monotonic()
                while httpx.post(f"{facade.base}/predict", json={"machine_id": MACHINE}).status_code != 200:
                    time.sleep(0.05)
                recovery_s = time.monotonic() - resumed
                redis_server.stop()
                refused = probe(REFUSED_S)
    return {
        "hold_s": hold_s,
        "clients": clients,
        "pause_s": pause_s,
        "before": _summary(before),
        "during": _summary(during),
        "recovered_after_sigcont_s": round(recovery_s, 2),
        "refused": _summary(refused),
    }


def run(
    hold_s: float = HOLD_S, clients: int = CLIENTS, warm_s: float = WARM_S, pause_s: float = PAUSE_S
) -> list[Table]:
    """The issue's probe (Redis hung 30 s under 60 users), as tables for ``python -m bench``."""
    figures = measure(hold_s, clients, warm_s, pause_s)
    load = os.getloadavg()[0]
    columns = [
        "phase",
        "machine_id requests",
        "served",
        "503",
        "other statuses",
        "503 reasons",
        "machine_id p50 ms",
        "machine_id max ms",
        "health (main port) max ms",
        "health port p50 / p99 / max ms",
        "readiness",
        "inline p99 ms",
        "inline non-200",
    ]
    table = Table(
        f"Facade under faults: Redis hung {hold_s:g} s, then refusing, {clients} machine_id users",
        columns,
        note=(
            f"Load average {load:.1f} at the end (2-core machine, client, facade and redis-server share it). "
            f"machine_id served again {figures['recovered_after_sigcont_s']} s after SIGCONT. Targets: "
            "every answer <= 1 s (503 with a reason), health <= 100 ms, inline p99 within 2x of before."
        ),
    )
    for phase, label in (
        ("before", "Redis healthy"),
        ("during", "Redis hung"),
        ("refused", "Redis refusing"),
    ):
        f = figures[phase]
        table.add(
            label,
            f["machine_id_requests"],
            f["machine_id_served"],
            f["machine_id_503"],
            ",".join(map(str, f["other_statuses"])) or "none",
            ", ".join(f["reasons_503"]) or "-",
            f["machine_id_p50_ms"],
            f["machine_id_max_ms"],
            f["health_max_ms"],
            f"{f['health_port_p50_ms']} / {f['health_port_p99_ms']} / {f['health_port_max_ms']}",
            ", ".join(f["ready_statuses"]),
            f["inline_p99_ms"],
            f["inline_non_200"],
        )
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=HOLD_S, help="seconds Redis stays hung")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent machine_id users")
    parser.add_argument("--warm", type=float, default=WARM_S, help="seconds measured before the fault")
    parser.add_argument(
        "--pause", type=float, default=PAUSE_S, help="seconds each user waits between requests"
    )
    args = parser.parse_args()
    print(json.dumps(measure(args.hold, args.clients, args.warm, args.pause), indent=2))


if __name__ == "__main__":
    main()
