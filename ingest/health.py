"""The worker's health endpoint (its probes): ``/health/live`` and ``/health/ready`` on loopback
or the pod IP, from the standard library (the worker has no web framework to carry).

Ready means the receive loop is running: the SDK called a handler within ``stale_after_s`` (an
idle partition's handler is called every ``max_wait_s``). The body reports the worker's counts.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from ingest.worker import IngestWorker

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"


def serve_health(
    worker: IngestWorker,
    host: str,
    port: int,
    *,
    stale_after_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> ThreadingHTTPServer:
    """Start the health server in a daemon thread; ``shutdown()`` the returned server to stop it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == LIVE_PATH:
                self._answer(200, {"status": "alive"})
            elif self.path == READY_PATH:
                age = clock() - worker.last_call
                ready = age < stale_after_s
                body = {
                    "status": "ready" if ready else "stale",
                    "seconds_since_handler": round(age, 3),
                    "partitions": worker.partitions,
                    "counts": dataclasses.asdict(worker.counts),
                }
                self._answer(200 if ready else 503, body)
            else:
                self._answer(404, {"detail": f"no route {self.path}"})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: quiet
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ingest-health", daemon=True).start()
    return server
