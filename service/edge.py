"""Pure ASGI middleware at a service's edge: request timing, the API key, the body size limit
(enforced while reading), and JSON-only request bodies.

Pure ASGI (no ``BaseHTTPMiddleware``) keeps the per-request cost to a few microseconds, acts on the
raw byte stream before any parsing, and never touches the thread pool. Answers given here use the
one error body (``core.errors``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from prometheus_client import Histogram

from core.errors import BodyTooLarge, PredMaintError, Unauthorized, UnsupportedMediaType
from service.auth import ApiKey

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PREFIXES = ("/health/", "/metrics", "/openapi.json", "/docs")
"""Routes that need no key: probes and scrapers carry none; the API description is public."""
OTHER_ROUTE = "other"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def send_error(send: Send, error: PredMaintError) -> None:
    body = orjson.dumps(error.body())
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def route_label(scope: Scope) -> str:
    """The matched route's path template (a bounded label set), ``other`` when none matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else OTHER_ROUTE


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class TimingMiddleware:
    """Observes every HTTP request in ``histogram``, labelled by route, method and status."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

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
            self.histogram.labels(route_label(scope), scope["method"], str(status)).observe(
                time.perf_counter() - start
            )


class ApiKeyMiddleware:
    """401 unless the request carries the key; :data:`OPEN_PREFIXES` stay open."""

    def __init__(self, app: ASGIApp, api_key: ApiKey) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith(OPEN_PREFIXES)
            or self.api_key.accepts(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        await send_error(send, Unauthorized())


class JsonOnlyMiddleware:
    """415 for a request body that does not say it is JSON (``application/json``, parameters such as
    ``charset`` allowed). A form or ``text/plain`` post is what a browser sends cross-site without a
    CORS preflight; refusing it closes that door. A request without a body needs no Content-Type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in BODY_METHODS and _has_body(scope):
            given = _header(scope, b"content-type")
            media = given.split(b";", 1)[0].strip().lower() if given else b""
            if media != b"application/json":
                await send_error(send, UnsupportedMediaType(given.decode("latin-1") if given else None))
                return
        await self.app(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"0", b"")
    return _header(scope, b"transfer-encoding") is not None


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by ``Content-Length`` before reading anything, and by
    counting chunks as they are read for bodies without one (chunked transfer) or with a lying one,
    so at most ``max_bytes`` plus one chunk is ever held. The error is raised from ``receive``: the
    route's read of its body ends there and the handler answers 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                too_large = False  # the server refuses a malformed length before we run
            if too_large:
                await send_error(send, BodyTooLarge(self.max_bytes))
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # read outside a route's handler (e.g. by a middleware)
            if not started:
                await send_error(send, exc)
