"""Pure ASGI middleware of the facade's edge: request timing, API key, body size limit.

Pure ASGI (no ``BaseHTTPMiddleware``) keeps the per-request cost to a few microseconds and lets the
body limit act on the raw byte stream before any parsing.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException

from scoring.errors import BodyTooLarge, ScoringError, Unauthorized
from scoring.metrics import ScoringMetrics, route_label

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_error(send: Send, error: ScoringError) -> None:
    body = orjson.dumps(error.body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TimingMiddleware:
    """Observes every HTTP request in the duration histogram, labelled by route, method and status."""

    def __init__(self, app: ASGIApp, metrics: ScoringMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.request_duration.labels(
                route_label(scope["path"]), scope["method"], str(status)
            ).observe(time.perf_counter() - start)


class ApiKeyMiddleware:
    """401 unless the request carries the key in ``x-api-key`` or ``Authorization: Bearer <key>``.

    Health, metrics and the OpenAPI document stay open (probes and scrapers carry no key)."""

    OPEN_PREFIXES = ("/health/", "/metrics", "/openapi.json", "/docs")

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                given = value.strip()
                break
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
        if not given or not hmac.compare_digest(given, self.key):
            await send_error(send, Unauthorized())
            return
        await self.app(scope, receive, send)


class BodyLimitExceeded(HTTPException):
    """Raised from ``receive`` when streamed bytes pass the limit. An HTTPException so that FastAPI's body
    reader re-raises it as is (it turns other exceptions into a 400); ``main`` renders it as 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=f"request body exceeds {max_bytes} bytes")
        self.max_bytes = max_bytes


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by ``Content-Length`` before reading anything, and by counting
    streamed chunks for bodies without one (chunked transfer) or with a lying one."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> BodyTooLarge:
        return BodyTooLarge(f"request body exceeds {self.max_bytes} bytes", {"max_bytes": self.max_bytes})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await send_error(send, self._error())
                    return
                break
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyLimitExceeded(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyLimitExceeded:
            if not started:
                await send_error(send, self._error())
