"""``/health/live`` and ``/health/ready`` on a port of their own, answered by a thread.

The probes on the main port are answered by the event loop, so under load they wait behind every
request already queued there (201 ms at 60 clients on two cores, where the chart's probes allow 2 s
and the issue 100 ms). This listener is a standard library HTTP server on its own thread: it answers
from the same state the main routes render (``service.health``: the readiness hook reads state in
memory, never a dependency), so its answer costs one GIL hand-over, not the event loop's queue.

Opt in with ``SCORING_HEALTH_PORT`` / ``DRIFT_HEALTH_PORT`` (the chart's probes use it); the main
port keeps answering health as well. Only ``GET`` of the two health paths; anything else is 404.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import orjson

from core.errors import NotFound, PredMaintError, error_body
from service.auth import ApiKey
from service.health import LIVE_PATH, READY_PATH, Readiness, readiness_status, report

SOCKET_TIMEOUT_S: Final = 5.0
"""A probe connection that sends nothing for this long is closed (a probe sends at once)."""


class HealthListener:
    """A thread serving the two health paths on ``(host, port)``; ``port=0`` picks a free one."""

    def __init__(self, service: str, readiness: Readiness, api_key: ApiKey, host: str, port: int) -> None:
        self.service = service
        self.readiness = readiness
        self.api_key = api_key
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def answer(self, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any]]:
        """Status and body for a GET of ``path`` (query string removed)."""
        if path == LIVE_PATH:
            return 200, report(self.service, "live", (), trusted=False)
        if path == READY_PATH:
            checks = self.readiness()
            status = readiness_status(checks)
            body = report(self.service, status, checks, self.api_key.accepts(headers))
            return (503 if status == "not_ready" else 200), body
        error: PredMaintError = NotFound(f"{path} is not served on the health port")
        return error.status, error.body()

    def start(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT_S

            def do_GET(self) -> None:
                headers = [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()
                ]
                try:
                    status, body = listener.answer(self.path.split("?", 1)[0], headers)
                except Exception:  # a readiness hook that raises: not ready, and say no more
                    status, body = 503, error_body("unavailable", "readiness could not be computed")
                payload = orjson.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return  # probes every few seconds: no access log

        server = ThreadingHTTPServer(self._address, Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name=f"health-{self.service}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None
