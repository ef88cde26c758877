"""uvicorn with read deadlines: how both services are served (``python -m scoring``, ``python -m
drift``, ``predmaint serve``, the images' CMD).

uvicorn has no deadline for reading a request: a client that dribbles its headers a byte at a time
(slow-loris) holds its connection, and the file descriptor and memory behind it, as long as it likes
(200 such connections stayed open 30 s). :func:`deadline_protocol` is uvicorn's httptools protocol
with two timers per connection, armed on the event loop (no thread, no task per connection):

- **header deadline** (``*_HEADER_TIMEOUT_S``, 10 s): from the connection's start, or a keep-alive
  request's first byte, to the end of its headers; past it the client gets ``408 request_timeout``
  and the connection is closed;
- **body deadline** (``*_BODY_TIMEOUT_S``, 60 s): from the end of the headers to the end of the body;
  past it the connection is closed (the route's read ends as a client disconnect, never a 500).

Idle keep-alive connections are closed by uvicorn's own ``timeout_keep_alive``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.errors import RequestTimeout

KEEP_ALIVE_S = 5
"""uvicorn's default, written out: an idle connection is closed after this long."""


class DeadlineProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with the header and body deadlines of the module docstring.
    :func:`deadline_protocol` makes a subclass carrying the two durations."""

    header_timeout_s: ClassVar[float] = 10.0
    body_timeout_s: ClassVar[float] = 60.0
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, phase: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if phase == "headers" and (self.cycle is None or self.cycle.response_complete):
            error = RequestTimeout(phase, self.header_timeout_s)
            body = orjson.dumps(error.body())
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, "headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a keep-alive request's first byte (the first is armed already)
            self._arm(self.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def deadline_protocol(header_timeout_s: float, body_timeout_s: float) -> type[DeadlineProtocol]:
    return type(
        "DeadlineProtocol",
        (DeadlineProtocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )


class ServedSettings(Protocol):
    """What serving needs from a service's settings (``ScoringSettings``, ``DriftSettings``)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def header_timeout_s(self) -> float: ...
    @property
    def body_timeout_s(self) -> float: ...


def server_config(app: Any, settings: ServedSettings, log_level: str = "info") -> uvicorn.Config:
    """One worker, no access log, uvloop when installed, the deadline protocol."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=deadline_protocol(settings.header_timeout_s, settings.body_timeout_s),
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        workers=1,
    )


def serve(app: Any, settings: ServedSettings, log_level: str = "info") -> None:
    """Serve ``app`` on ``settings.host:port`` until SIGINT/SIGTERM (uvicorn's graceful shutdown)."""
    uvicorn.Server(server_config(app, settings, log_level)).run()


def main(prog: str, settings_class: Callable[..., ServedSettings], create_app: Callable[[Any], Any]) -> None:
    """``python -m <service> [--host H] [--port P] [--log-level LEVEL]``: the service configured by
    its environment (the options override its host and port), served by :func:`serve`."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--host", help="bind address (overrides the settings' host)")
    parser.add_argument("--port", type=int, help="port (overrides the settings' port)")
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    args = parser.parse_args()
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = settings_class(**overrides)
    serve(create_app(settings), settings, args.log_level)
