"""Serving: our facade vs ``mlflow models serve`` vs ``azmlinfsrv`` running ``scoring/score.py``.

One run on loopback, the same model bundle (compact ONNX, 100 trees), one worker each, the same
closed-loop concurrency (``CONNECTIONS`` keep-alive connections), ``DURATION_S`` per case after a
warm-up. Cases: one inline row, a 100-row batch, and (facade only: the peers have no online store)
``machine_id`` on Redis. Then one inline row at a fixed ``FIXED_RATE`` requests/s, latency measured
from each request's scheduled send time (no coordinated omission).

Load: ``wrk`` (C, one thread, Lua for the bodies) when installed (``apt-get install wrk``),
otherwise an asyncio raw-socket keep-alive client in a separate process (this module's ``__main__``),
which also drives the fixed-rate case. Servers run one at a time, so they never share the CPU.

Redis: ``PREDMAINT_BENCH_SERVING_REDIS_URL`` (default ``redis://127.0.0.1:6379/12``; the benchmark
flushes that database, which it owns). ``azmlinfsrv`` binds 0.0.0.0 (it has no host option); only
loopback traffic is sent to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.table import Table

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("PREDMAINT_BENCH_SERVING_REDIS_URL", "redis://127.0.0.1:6379/12")
CONNECTIONS = 10
DURATION_S = 5.0
WARMUP_S = 1.5
FIXED_RATE = 200
MACHINES = 50
TRAIN_ROWS = 5_000
TARGET_RATIO = 2.0
TARGET_P99_FIXED_MS = 5.0
TARGET_P99_MACHINE_MS = 10.0


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


# --- model, features -------------------------------------------------------------------------------


def _training_frame(rows: int) -> Any:
    import pandas as pd

    from core.contract import MODEL_FEATURES, STAT_FEATURES

    rng = np.random.default_rng(0)
    centre = {
        "vibration_rms_mm_s": (3.0, 0.5),
        "temperature_c": (60.0, 2.0),
        "rotational_speed_rpm": (1500.0, 50.0),
    }
    cols = {}
    for name, source, stat in STAT_FEATURES:
        mean, spread = centre[source]
        if stat == "std":
            cols[name] = np.abs(rng.normal(spread, spread / 5, rows))
        elif stat == "max":
            cols[name] = rng.normal(mean + 2 * spread, spread, rows)
        else:
            cols[name] = rng.normal(mean, spread, rows)
    return pd.DataFrame(cols)[list(MODEL_FEATURES)]


def _bundle(cache: Path) -> Any:
    """The benchmark's model (built once, then reused from ``.predmaint/bench``)."""
    from core.bundle import load_bundle

    target = cache / "serving-bundle"
    if (target / "predmaint.json").is_file():
        return load_bundle(target)
    from aml.bundle_builder import build_bundle

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_bundle(_training_frame(TRAIN_ROWS), target, seed=0, version="bench")


def _seed_redis(layout: Any) -> list[str]:
    """Fresh window features for ``MACHINES`` machines in the bench's Redis DB (flushed first)."""
    import pandas as pd
    import redis

    from core.contract import ENTITY_KEY, TIMESTAMP
    from features.ingest import Ingestor
    from features.store import apply, open_store

    redis.Redis.from_url(REDIS_URL).flushdb()
    store = open_store(layout, online="redis", redis_url=REDIS_URL)
    apply(store)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ids = [f"m-{i:03d}" for i in range(MACHINES)]
    rng = np.random.default_rng(1)
    rows = []
    for machine in ids:
        for k in range(40):
            rows.append(
                {
                    ENTITY_KEY: machine,
                    TIMESTAMP: now - timedelta(minutes=39 - k),
                    "vibration_rms_mm_s": float(rng.normal(3.0, 0.5)),
                    "temperature_c": float(rng.normal(60.0, 2.0)),
                    "rotational_speed_rpm": float(rng.normal(1500.0, 50.0)),
                }
            )
    Ingestor(store, layout, offline=False, warm_start=False).ingest_frame(pd.DataFrame(rows))
    return ids


# --- servers -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(cmd: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    import httpx

    with log.open("wb") as out:
        # the venv's bin first: mlflow starts `uvicorn` by name
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        full_env = {**os.environ, "PATH": path, **env}
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd[0]} exited: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(ready_url, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd} not ready after 180 s")
                time.sleep(0.25)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- load generation ---------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(url: str, bodies: list[bytes], duration_s: float, work: Path) -> Result:
    """Closed loop with wrk: ``CONNECTIONS`` connections, one thread, bodies taken in turn."""
    script = work / "post.lua"
    quoted = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    path = "/" + url.split("/", 3)[3]
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{\n{quoted}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #bodies + 1\n"
        f'  return wrk.format(nil, "{path}", nil, bodies[i])\nend\n'
    )
    cmd = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(duration_s))}s",
        "--latency",
        "-s",
        str(script),
    ]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration_s + 60).stdout

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, flags=re.MULTILINE)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return Result(
        rps=float(rps.group(1)) if rps else float("nan"),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        errors=errors,
        requests=int(total.group(1)) if total else 0,
    )


def _pyload(url: str, bodies: list[bytes], duration_s: float, work: Path, rate: float | None) -> Result:
    """The asyncio client in its own process: closed loop (rate None) or open loop at ``rate``/s."""
    body_file = work / "bodies.json"
    body_file.write_text(json.dumps([b.decode() for b in bodies]))
    cmd = [sys.executable, "-m", "bench.bench_serving", url, str(body_file), str(duration_s), str(rate or 0)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=duration_s + 120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def _closed(url: str, bodies: list[bytes], work: Path) -> Result:
    if shutil.which("wrk"):
        _wrk(url, bodies, WARMUP_S, work)
        return _wrk(url, bodies, DURATION_S, work)
    _pyload(url, bodies, WARMUP_S, work, None)
    return _pyload(url, bodies, DURATION_S, work, None)


def _fixed(url: str, bodies: list[bytes], work: Path) -> Result:
    return _pyload(url, bodies, DURATION_S, work, FIXED_RATE)


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


# --- the asyncio client (run as ``python -m bench.bench_serving URL BODIES DURATION RATE``) -----------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get("connection", "").lower() == "close"


async def _client(url: str, bodies: list[bytes], duration_s: float, rate: float) -> dict[str, Any]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    requests = [
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(b)}\r\n\r\n".encode()
        + b
        for b in bodies
    ]
    latencies: list[float] = []
    errors = 0
    conns: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        conns.put_nowait(await asyncio.open_connection(host, port))

    async def one(request: bytes, scheduled: float) -> None:
        nonlocal errors
        reader, writer = await conns.get()
        try:
            writer.write(request)
            status, closing = await _read_response(reader)
            if status >= 300:
                errors += 1
            if closing:  # e.g. gunicorn's sync worker: no keep-alive, a new connection each time
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
            reader, writer = await asyncio.open_connection(host, port)
        latencies.append(time.perf_counter() - scheduled)
        conns.put_nowait((reader, writer))

    start = time.perf_counter()
    if rate > 0:  # open loop: one request every 1/rate s, latency from its scheduled time
        tasks = []
        for i in range(int(rate * duration_s)):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(requests[i % len(requests)], scheduled)))
        await asyncio.gather(*tasks)
    else:  # closed loop: every connection sends its next request when the last one is answered

        async def worker(k: int) -> None:
            i = k
            while time.perf_counter() - start < duration_s:
                await one(requests[i % len(requests)], time.perf_counter())
                i += CONNECTIONS

        await asyncio.gather(*(worker(k) for k in range(CONNECTIONS)))
    elapsed = time.perf_counter() - start
    arr = np.asarray(latencies) * 1e3
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "errors": errors,
        "requests": len(latencies),
    }


def _client_main(argv: list[str]) -> None:
    url, body_file, duration, rate = argv
    bodies = [b.encode() for b in json.loads(Path(body_file).read_text())]
    if float(rate) <= 0:  # closed loop: uvloop for throughput; open loop: asyncio's finer timers
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
    print(json.dumps(asyncio.run(_client(url, bodies, float(duration), float(rate)))))


# --- the section -----------------------------------------------------------------------------------


def run() -> list[Table]:
    import orjson

    from core.contract import MODEL_FEATURES
    from core.layout import DataLayout

    cache = REPO / ".predmaint" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    bundle = _bundle(cache)
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    layout = DataLayout(work / "data")
    frame = _training_frame(200)
    rows = [{k: round(float(v), 4) for k, v in zip(MODEL_FEATURES, r, strict=True)} for r in frame.to_numpy()]
    one = rows[:20]  # 20 different single rows, sent in turn
    batch = [rows[i : i + 100] for i in (0, 100)]
    try:
        machines = _seed_redis(layout)
        redis_note = ""
    except Exception as exc:  # no Redis here: the machine_id case says so
        machines, redis_note = (
            [],
            f"machine_id skipped: Redis at {REDIS_URL} unavailable ({type(exc).__name__})",
        )

    peers: dict[str, dict[str, Any]] = {}
    port = _free_port()
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
            "PREDMAINT_DATA_DIR": str(layout.root),
            "SCORING_MODEL_PATH": str(bundle.directory),
            "SCORING_ONLINE_STORE": "redis" if machines else "none",
            "SCORING_REDIS_URL": REDIS_URL,
            "SCORING_INFERENCE_LOG_DIR": str(work / "inference-log"),
        },
        "ready": f"http://127.0.0.1:{port}/health/ready",
        "url": f"http://127.0.0.1:{port}/predict",
        "one": [orjson.dumps({"features": r}) for r in one],
        "batch": [orjson.dumps({"rows": b}) for b in batch],
        "machine": [orjson.dumps({"machine_id": m}) for m in machines],
    }
    port = _free_port()
    peers["mlflow models serve"] = {
        "cmd": [
            str(Path(sys.executable).with_name("mlflow")),
            "models",
            "serve",
            "-m",
            str(bundle.directory),
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
    port, health = _free_port(), _free_port()
    peers["azmlinfsrv + score.py"] = {
        "cmd": [
            str(Path(sys.executable).with_name("azmlinfsrv")),
            "--entry_script",
            str(REPO / "scoring" / "score.py"),
            "--model_dir",
            str(bundle.directory),
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

    closed: dict[tuple[str, str], Result] = {}
    server_p99_ms = float("nan")
    fixed: dict[tuple[str, str], Result] = {}
    for name, peer in peers.items():
        log = work / f"{name.split()[0]}.log"
        with _server(peer["cmd"], peer["env"], peer["ready"], log):
            if name.startswith("facade") and machines:  # wait until the online store is open
                import httpx

                deadline = time.monotonic() + 120
                while not httpx.get(peer["ready"]).json()["checks"]["online_store"]["ok"]:
                    if time.monotonic() > deadline:
                        raise RuntimeError("facade's online store never became reachable")
                    time.sleep(0.25)
            closed[(name, "one inline row")] = _closed(peer["url"], peer["one"], work)
            closed[(name, "100-row batch")] = _closed(peer["url"], peer["batch"], work)
            if peer["machine"]:
                closed[(name, "machine_id (Redis)")] = _closed(peer["url"], peer["machine"], work)
            if name.startswith("facade"):
                metrics_url = peer["ready"].replace("/health/ready", "/metrics")
                before = _predict_buckets(metrics_url)
                fixed[(name, "one inline row")] = _fixed(peer["url"], peer["one"], work)
                server_p99_ms = _bucket_p99_ms(before, _predict_buckets(metrics_url))
                if peer["machine"]:
                    fixed[(name, "machine_id (Redis)")] = _fixed(peer["url"], peer["machine"], work)
            else:
                fixed[(name, "one inline row")] = _fixed(peer["url"], peer["one"], work)
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


if __name__ == "__main__":
    _client_main(sys.argv[1:])
