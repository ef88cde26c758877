"""The retrain trigger core over HTTP on loopback: the laptop's stand-in for the Function's
``POST /api/retrain``, for a real Alertmanager (``predmaint demo --prometheus``) to call.

Same answers as the Function: 200 with the decision, else the one error body of ``core.errors``
(422 ``invalid_input`` naming the malformed field, 503 when the run list cannot be read); 404
``not_found`` for any other path, 413 ``body_too_large``. A standard-library server (one thread per request,
decisions serialised by the trigger's lock): it carries no dependency into the Function's package.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from core.errors import BodyTooLarge, InvalidInput, NotFound, PredMaintError
from functions.retrain_trigger import Decision, RetrainTrigger

log = logging.getLogger("predmaint.retrain_endpoint")

RETRAIN_PATH: Final = "/api/retrain"
MAX_BODY_BYTES: Final = 1 << 20
"""Alertmanager sends at most a few kB per group; a larger body is refused (413)."""


class LocalTriggerEndpoint:
    """Serves a trigger at ``http://host:port/api/retrain`` in a background thread until ``close``.

    ``handle`` is :meth:`RetrainTrigger.handle` or a caller's wrapper around it (the demo records the
    alert on its timeline before the trigger starts a run); it runs in the request's thread."""

    def __init__(
        self,
        handle: RetrainTrigger | Callable[[Any], Decision],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.handle = handle.handle if isinstance(handle, RetrainTrigger) else handle
        self.decisions: list[Decision] = []
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="retrain-endpoint", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{RETRAIN_PATH}"

    def start(self) -> LocalTriggerEndpoint:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalTriggerEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer for one request body (what the Function's handler returns)."""
        try:
            payload = json.loads(body)
        except ValueError:
            return _failed(InvalidInput.one("body", "json_invalid", "not valid JSON"))
        try:
            decision = self.handle(payload)
        except PredMaintError as exc:
            return _failed(exc)
        self.decisions.append(decision)
        return HTTPStatus.OK, decision.model_dump(mode="json")


def _failed(exc: PredMaintError) -> tuple[int, dict[str, Any]]:
    return exc.status, exc.body()


def _handler_class(endpoint: LocalTriggerEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != RETRAIN_PATH:
                self._send(*_failed(NotFound(f"only POST {RETRAIN_PATH}")))
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(*_failed(BodyTooLarge(MAX_BODY_BYTES)))
                return
            status, answer = endpoint.answer(self.rfile.read(length))
            self._send(status, answer)

        def _send(self, status: int, answer: dict[str, Any]) -> None:
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("retrain endpoint: " + format, *args)

    return Handler
