"""Load generation of the serving benchmark: ``wrk`` when installed, else an asyncio raw-socket
keep-alive client in its own process (``python -m bench.serving_load URL BODIES DURATION RATE``),
which also drives the fixed-rate (open loop) case, latency from each request's scheduled send time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

REPO: Final = Path(__file__).resolve().parents[1]
CONNECTIONS: Final = 10
DURATION_S: Final = 5.0
WARMUP_S: Final = 1.5
FIXED_RATE: Final = 200


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


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
    cmd = [sys.executable, "-m", "bench.serving_load", url, str(body_file), str(duration_s), str(rate or 0)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=duration_s + 120)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def closed_loop(url: str, bodies: list[bytes], work: Path) -> Result:
    if shutil.which("wrk"):
        _wrk(url, bodies, WARMUP_S, work)
        return _wrk(url, bodies, DURATION_S, work)
    _pyload(url, bodies, WARMUP_S, work, None)
    return _pyload(url, bodies, DURATION_S, work, None)


def fixed_rate(url: str, bodies: list[bytes], work: Path) -> Result:
    return _pyload(url, bodies, DURATION_S, work, FIXED_RATE)


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


if __name__ == "__main__":
    _client_main(sys.argv[1:])
