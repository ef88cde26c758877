"""Serving: our facade vs ``mlflow models serve`` vs ``azmlinfsrv`` running ``scoring/score.py``.

One run on loopback, the same model bundle (compact ONNX, 100 trees), one worker each, the same
closed-loop concurrency (``CONNECTIONS`` keep-alive connections), ``DURATION_S`` per case after a
warm-up. Cases: one inline row, a 100-row batch, and (facade only: the peers have no online store)
``machine_id`` on Redis. Then one inline row at a fixed ``FIXED_RATE`` requests/s, latency measured
from each request's scheduled send time (no coordinated omission).

Load: ``wrk`` (C, one thread, Lua for the bodies) when installed (``apt-get install wrk``),
otherwise an asyncio raw-socket keep-alive client in a separate process (``bench.serving_load``),
which also drives the fixed-rate case. Servers run one at a time, so they never share the CPU. The
model and the Redis features: ``bench.serving_fixtures``.

Redis: ``PREDMAINT_BENCH_SERVING_REDIS_URL`` (default database ``bench.redis_db.SERVING_DB``; the benchmark
flushes that database, which it owns). ``azmlinfsrv`` binds 0.0.0.0 (it has no host option); only
loopback traffic is sent to it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from bench.redis_db import SERVING_REDIS_URL as REDIS_URL
from bench.serving_fixtures import seed_redis, serving_bundle
from bench.serving_load import CONNECTIONS, DURATION_S, FIXED_RATE, Result, closed_loop, fixed_rate
from bench.table import Table
from core.layout import DATA_DIR_ENV, DataLayout
from predmaint.demo.processes import ManagedProcess, ServiceSpec, free_port
from predmaint.settings_env import settings_env
from scoring.settings import ScoringSettings
from tests.synthetic_windows import training_frame

REPO: Final = Path(__file__).resolve().parents[1]
HOST: Final = "127.0.0.1"
READY_TIMEOUT_S: Final = 180.0
TARGET_RATIO: Final = 2.0
TARGET_P99_FIXED_MS: Final = 5.0
TARGET_P99_MACHINE_MS: Final = 10.0


@contextlib.contextmanager
def _server(name: str, peer: dict[str, Any], log_dir: Path) -> Iterator[None]:
    """One server at a time, in its own process group (the library's ManagedProcess), until ready."""
    # the venv's bin first: mlflow starts `uvicorn` by name
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    url = urlsplit(peer["ready"])
    spec = ServiceSpec(
        name.split()[0],
        peer["cmd"],
        url.hostname or HOST,
        url.port or 80,
        {"PATH": path, **peer["env"]},
        url.path,
    )
    proc = ManagedProcess(spec, log_dir / f"{spec.name}.log")
    proc.start()
    try:
        proc.wait_ready(READY_TIMEOUT_S)
        yield
    finally:
        proc.stop(15.0)


def _wait_online_store(ready_url: str) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while not httpx.get(ready_url).json()["checks"]["online_store"]["ok"]:
        if time.monotonic() > deadline:
            raise RuntimeError("facade's online store never became reachable")
        time.sleep(0.25)


def _predict_buckets(metrics_url: str) -> dict[float, float]:
    """Cumulative counts of the facade's /predict 200 latency histogram, by upper bound (s)."""
    import httpx

    out: dict[float, float] = {}
    pattern = re.compile(
        r'^predmaint_scoring_request_duration_seconds_bucket\{le="([^"]+)",method="POST",'
        r'route="/predict",status="200"\} ([\d.e+]+)$'
    )
    for line in httpx.get(metrics_url).text.splitlines():
        m = pattern.match(line)
        if m:
            out[float(m.group(1))] = float(m.group(2))
    return out


def _bucket_p99_ms(before: dict[float, float], after: dict[float, float]) -> float:
    """Upper bound of the histogram bucket holding the 99th percentile of the requests in between."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if total and count >= 0.99 * total:
            return bound * 1e3
    return float("nan")


def _peers(
    model_dir: Path,
    layout: DataLayout,
    work: Path,
    one: list[dict[str, float]],
    batch: list[list[dict[str, float]]],
    machines: list[str],
) -> dict[str, dict[str, Any]]:
    """Each server: its command line, environment, readiness path and the bodies of each case."""
    import orjson

    peers: dict[str, dict[str, Any]] = {}
    port = free_port()
    peers["facade (FastAPI)"] = {
        "cmd": [
            sys.executable,
            "-m",
            "uvicorn",
            "scoring.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            "1",
        ],
        "env": {
            DATA_DIR_ENV: str(layout.root),
            **settings_env(
                ScoringSettings,
                model_path=model_dir,
                online_store="redis" if machines else "none",
                redis_url=REDIS_URL,
                inference_log_dir=work / "inference-log",
            ),
        },
        "ready": f"http://127.0.0.1:{port}/health/ready",
        "url": f"http://127.0.0.1:{port}/predict",
        "one": [orjson.dumps({"features": r}) for r in one],
        "batch": [orjson.dumps({"rows": b}) for b in batch],
        "machine": [orjson.dumps({"machine_id": m}) for m in machines],
    }
    port = free_port()
    peers["mlflow models serve"] = {
        "cmd": [
            str(Path(sys.executable).with_name("mlflow")),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        "env": {},
        "ready": f"http://127.0.0.1:{port}/ping",
        "url": f"http://127.0.0.1:{port}/invocations",
        "one": [orjson.dumps({"dataframe_records": [r]}) for r in one],
        "batch": [orjson.dumps({"dataframe_records": b}) for b in batch],
        "machine": [],
    }
    port, health = free_port(), free_port()
    peers["azmlinfsrv + score.py"] = {
        "cmd": [
            str(Path(sys.executable).with_name("azmlinfsrv")),
            "--entry_script",
            str(REPO / "scoring" / "score.py"),
            "--model_dir",
            str(model_dir),
            "--port",
            str(port),
            "--health_port",
            str(health),
            "--worker_count",
            "1",
        ],
        "env": {"AZUREML_LOG_LEVEL": "WARNING", "PREDMAINT_MODEL_VERSION": "bench"},
        "ready": f"http://127.0.0.1:{port}/",
        "url": f"http://127.0.0.1:{port}/score",
        "one": [orjson.dumps({"features": r}) for r in one],
        "batch": [orjson.dumps({"rows": b}) for b in batch],
        "machine": [],
    }

    return peers


def run() -> list[Table]:
    from core.contract import MODEL_FEATURES

    cache = REPO / ".predmaint" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    bundle = serving_bundle(cache)
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    layout = DataLayout(work / "data")
    frame = training_frame(200)
    rows = [{k: round(float(v), 4) for k, v in zip(MODEL_FEATURES, r, strict=True)} for r in frame.to_numpy()]
    one = rows[:20]  # 20 different single rows, sent in turn
    batch = [rows[i : i + 100] for i in (0, 100)]
    try:
        machines = seed_redis(layout)
        redis_note = ""
    except Exception as exc:  # no Redis here: the machine_id case says so
        machines, redis_note = (
            [],
            f"machine_id skipped: Redis at {REDIS_URL} unavailable ({type(exc).__name__})",
        )

    peers = _peers(bundle.directory, layout, work, one, batch, machines)

    closed: dict[tuple[str, str], Result] = {}
    server_p99_ms = float("nan")
    fixed: dict[tuple[str, str], Result] = {}
    for name, peer in peers.items():
        with _server(name, peer, work):
            if name.startswith("facade") and machines:  # wait until the online store is open
                _wait_online_store(peer["ready"])
            closed[(name, "one inline row")] = closed_loop(peer["url"], peer["one"], work)
            closed[(name, "100-row batch")] = closed_loop(peer["url"], peer["batch"], work)
            if peer["machine"]:
                closed[(name, "machine_id (Redis)")] = closed_loop(peer["url"], peer["machine"], work)
            if name.startswith("facade"):
                metrics_url = peer["ready"].replace("/health/ready", "/metrics")
                before = _predict_buckets(metrics_url)
                fixed[(name, "one inline row")] = fixed_rate(peer["url"], peer["one"], work)
                server_p99_ms = _bucket_p99_ms(before, _predict_buckets(metrics_url))
                if peer["machine"]:
                    fixed[(name, "machine_id (Redis)")] = fixed_rate(peer["url"], peer["machine"], work)
            else:
                fixed[(name, "one inline row")] = fixed_rate(peer["url"], peer["one"], work)
    shutil.rmtree(work, ignore_errors=True)

    loadgen = "wrk (1 thread)" if shutil.which("wrk") else "asyncio raw-socket client"
    table = Table(
        title=f"Serving: closed loop, {CONNECTIONS} connections, 1 worker, {DURATION_S:g} s a case, loopback",
        columns=["server", "case", "requests/s", "p50 ms", "p99 ms", "errors", "x mlflow rps"],
        note=f"Load: {loadgen}. Same bundle (compact ONNX, 100 trees) everywhere. {redis_note}".strip(),
    )
    for (name, case), res in closed.items():
        base = closed.get(("mlflow models serve", case))
        ratio = res.rps / base.rps if base and base.rps else float("nan")
        table.add(name, case, res.rps, res.p50_ms, res.p99_ms, res.errors, ratio if base else "n/a")
    rate_table = Table(
        title=f"Serving: a fixed {FIXED_RATE} requests/s for {DURATION_S:g} s",
        columns=["server", "case", "requests/s", "p50 ms", "p99 ms", "errors"],
        note=(
            "Latency from each request's scheduled send time (asyncio raw-socket client, own process). "
            f"Facade's own histogram for the same requests: p99 <= {server_p99_ms:g} ms (bucket bound), "
            "i.e. time inside the server; the rest is loopback, scheduling and the client."
        ),
    )
    for (name, case), res in fixed.items():
        rate_table.add(name, case, res.rps, res.p50_ms, res.p99_ms, res.errors)

    facade, mlflow_ = "facade (FastAPI)", "mlflow models serve"
    ratio = closed[(facade, "one inline row")].rps / closed[(mlflow_, "one inline row")].rps
    targets = Table(title="Serving targets", columns=["target", "measured", "met"])
    targets.add(
        f"facade >= {TARGET_RATIO:g}x mlflow serve requests/s (one row)",
        f"{ratio:.2f}x",
        ratio >= TARGET_RATIO,
    )
    p99 = fixed[(facade, "one inline row")].p99_ms
    targets.add(
        f"p99 <= {TARGET_P99_FIXED_MS:g} ms, one row at {FIXED_RATE}/s",
        f"{p99:.2f} ms",
        p99 <= TARGET_P99_FIXED_MS,
    )
    if (facade, "machine_id (Redis)") in fixed:
        mp99 = fixed[(facade, "machine_id (Redis)")].p99_ms
        targets.add(
            f"machine_id p99 <= {TARGET_P99_MACHINE_MS:g} ms at {FIXED_RATE}/s",
            f"{mp99:.2f} ms",
            mp99 <= TARGET_P99_MACHINE_MS,
        )
    return [table, rate_table, targets]
