"""Real parts for fault probes: a private ``redis-server`` that can be hung (SIGSTOP) or killed, and
the scoring facade under uvicorn in its own process, on loopback ports of their own.

Used by ``bench/bench_faults.py`` (the figures) and ``tests/integration/faults`` (the assertions),
so both probe the same set-up.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from predmaint.demo.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
REDIS_BINARY = "redis-server"


def wait_until(check: object, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    """Poll ``check()`` until it is truthy; AssertionError naming ``what`` after ``timeout_s``."""
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout_s:g} s")
        time.sleep(interval_s)


class RedisServer:
    """``redis-server`` on its own loopback port, nothing kept on disk. ``pause()`` hangs it (SIGSTOP:
    connections are accepted by the kernel, nothing answers), ``resume()`` undoes that, ``stop()``
    makes the port refuse connections."""

    def __init__(self) -> None:
        binary = shutil.which(REDIS_BINARY)
        if binary is None:
            raise FileNotFoundError(f"{REDIS_BINARY} is not on PATH (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        cmd = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, 10, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.exceptions.RedisError:
            return False

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class Facade:
    """``python -m scoring`` (the image's CMD) in a subprocess; ``env`` adds to the environment. Its
    health listener is on a port of its own (``health_base``), as in the chart. Ready when
    ``/health/ready`` answers 200 and the online store has been opened and checked."""

    module = "scoring"
    prefix = "SCORING_"

    def __init__(self, env: Mapping[str, str], log_path: Path, *, ready_timeout_s: float = 120) -> None:
        self.port = free_port()
        self.health_port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.health_base = f"http://127.0.0.1:{self.health_port}"
        cmd = [sys.executable, "-m", self.module, "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--log-level", "warning"]
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        env = {**os.environ, f"{self.prefix}HEALTH_PORT": str(self.health_port), **env}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, ready_timeout_s, f"{self.module} ready", interval_s=0.2)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.log_path.read_text()
        try:
            r = httpx.get(f"{self.base}/health/ready", timeout=1)
        except httpx.TransportError:
            return False
        return r.status_code == 200 and self.settled(r.json())

    def settled(self, ready: dict[str, Any]) -> bool:
        store = ready.get("checks", {}).get("online_store", {})
        return store.get("state") not in (None, "opening", "probing")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


class Sidecar(Facade):
    """``python -m drift`` (the image's CMD) in a subprocess, the same way; ready when
    ``/health/ready`` answers 200 (its reference loaded)."""

    module = "drift"
    prefix = "DRIFT_"

    def __init__(self, env: Mapping[str, str], log_path: Path, *, ready_timeout_s: float = 300) -> None:
        # the monitor loop imports Evidently before the first reference load: ~6 s idle, a minute
        # or more on a loaded machine
        super().__init__(env, log_path, ready_timeout_s=ready_timeout_s)

    def settled(self, ready: dict[str, Any]) -> bool:
        return True


def prepare_store(data_dir: Path, redis_url: str) -> None:
    """Apply the feature definitions to a data directory whose online store is this Redis."""
    from core.layout import DataLayout
    from features.store import apply, open_store

    apply(open_store(DataLayout(data_dir), online="redis", redis_url=redis_url))


def facade_env(data_dir: Path, bundle_dir: Path, redis_url: str) -> dict[str, str]:
    """Environment of a facade serving a bundle with the machine_id path on this Redis."""
    return {
        "PREDMAINT_DATA_DIR": str(data_dir),
        "SCORING_MODEL_PATH": str(bundle_dir),
        "SCORING_ONLINE_STORE": "redis",
        "SCORING_REDIS_URL": redis_url,
        "SCORING_INFERENCE_LOG_DIR": str(data_dir / "inference-log"),
    }


@dataclass
class Probe:
    """What the clients of :func:`probe_load` saw."""

    machine_statuses: list[int] = field(default_factory=list)
    machine_latencies_s: list[float] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)
    """``detail.reason`` of every 503."""
    health_latencies_s: list[float] = field(default_factory=list)
    """Health answered on the main port (the event loop)."""
    listener_latencies_s: list[float] = field(default_factory=list)
    """Health answered on the health port (``service.health_listener``: what the chart probes),
    measured from a process of its own, as the kubelet probes."""
    ready_statuses: set[str] = field(default_factory=set)
    inline_statuses: list[int] = field(default_factory=list)
    inline_latencies_s: list[float] = field(default_factory=list)


def readiness(answer: httpx.Response) -> str:
    """The state a ``/health/ready`` answer reports (``ready``, ``degraded``), or ``503``."""
    return str(answer.json().get("status")) if answer.status_code == 200 else "503"


async def probe_load(
    base: str,
    machine: str,
    row: Mapping[str, float],
    seconds: float,
    clients: int,
    *,
    pause_s: float = 0.05,
    health_base: str | None = None,
) -> Probe:
    """``clients`` users asking for ``machine`` (each waits ``pause_s`` between its requests), one
    polling ``/health/live`` and ``/health/ready`` on the main port (and, when given, a process of
    its own polling them on ``health_base``), one scoring ``row`` inline; for ``seconds``."""
    out = Probe()
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def timed(method: str, path: str, body: object = None) -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            r = await client.request(method, path, json=body)
            return r, time.perf_counter() - started

        async def by_machine() -> None:
            while time.monotonic() < stop_at:
                r, took = await timed("POST", "/predict", {"machine_id": machine})
                out.machine_statuses.append(r.status_code)
                out.machine_latencies_s.append(took)
                if r.status_code == 503:
                    out.reasons.add(str(r.json()["detail"]["reason"]))
                await asyncio.sleep(pause_s)

        async def health() -> None:
            while time.monotonic() < stop_at:
                for path in ("/health/live", "/health/ready"):
                    r, took = await timed("GET", path)
                    out.health_latencies_s.append(took)
                    if path == "/health/ready":
                        out.ready_statuses.add(readiness(r))
                await asyncio.sleep(pause_s)

        async def inline() -> None:
            while time.monotonic() < stop_at:
                r, took = await timed("POST", "/predict", {"features": dict(row)})
                out.inline_statuses.append(r.status_code)
                out.inline_latencies_s.append(took)
                await asyncio.sleep(pause_s)

        poller = _HealthPoller(health_base, seconds, pause_s) if health_base else None
        await asyncio.gather(*(by_machine() for _ in range(clients)), health(), inline())
        if poller is not None:
            out.listener_latencies_s = poller.latencies()
    return out


_POLLER = r"""
import http.client, json, sys, time
host, port, seconds, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
out, stop_at = [], time.monotonic() + seconds
while time.monotonic() < stop_at:
    for path in ("/health/live", "/health/ready"):
        started = time.perf_counter()
        c = http.client.HTTPConnection(host, port, timeout=10)
        c.request("GET", path)
        c.getresponse().read()
        c.close()
        out.append(time.perf_counter() - started)
    time.sleep(pause)
print(json.dumps(out))
"""


class _HealthPoller:
    """The probes as the kubelet sends them: a process of its own (not queued behind the load
    client's event loop), a new connection per probe, against the health port."""

    def __init__(self, base: str, seconds: float, pause_s: float) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        argv = [sys.executable, "-c", _POLLER, host, port, str(seconds), str(pause_s)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)

    def latencies(self) -> list[float]:
        stdout, _ = self.proc.communicate(timeout=120)
        return [float(x) for x in json.loads(stdout)]


async def dribble(
    port: int, head: bytes, rest: bytes, give_up_s: float, every_s: float = 0.2
) -> tuple[float, bytes]:
    """A slow client: send ``head``, then one byte of ``rest`` every ``every_s``. Returns (seconds
    until the server closed the connection, or ``give_up_s``; what the server sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(head)
    received = b""

    async def read_all() -> None:
        nonlocal received
        while chunk := await reader.read(4096):
            received += chunk

    reading = asyncio.ensure_future(read_all())
    try:
        for byte in rest:
            if reading.done() or time.monotonic() - started > give_up_s:
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(every_s)
        await asyncio.wait_for(reading, timeout=max(0.1, give_up_s - (time.monotonic() - started)))
    except TimeoutError:
        reading.cancel()
    finally:
        writer.close()
    return time.monotonic() - started, received
