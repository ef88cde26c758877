"""The one exception handler set of a service, installed by ``create_service_app`` in both apps.

Every answer that is not a success has the body of ``core.errors``; ``count(code)`` sees each one
(the service's errors counter). A client that disconnects before its request is read is counted as
``client_disconnected`` and logged at debug level: it is not a server error. Anything else
unexpected is a 500 ``internal_error`` whose body says nothing more (no trace, no host); the
traceback goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from core.contract import describe_errors
from core.errors import (
    CLIENT_DISCONNECTED,
    HTTP_STATUS_CODES,
    INTERNAL_ERROR,
    InvalidInput,
    PredMaintError,
    error_body,
)

log = logging.getLogger("predmaint.service")

JSON = "application/json"
CLIENT_CLOSED_STATUS = 499
"""Never reaches the client (it left); recorded in the request histogram (nginx's convention)."""


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def install_error_handlers(app: FastAPI, count: Callable[[str], None]) -> None:
    def render(error: PredMaintError) -> Response:
        count(error.code)
        return json_response(error.body(), error.status, error.headers)

    async def domain(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PredMaintError)
        return render(exc)

    async def validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return render(InvalidInput(describe_errors(list(exc.errors()))))

    async def framework(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_STATUS_CODES.get(exc.status_code, "http_error")
        count(code)
        return json_response(error_body(code, str(exc.detail)), exc.status_code, exc.headers)

    async def disconnected(request: Request, _exc: Exception) -> Response:
        count(CLIENT_DISCONNECTED)
        log.debug("client disconnected before its request was read: %s %s", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED_STATUS)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        count(INTERNAL_ERROR)
        return json_response(error_body(INTERNAL_ERROR, "unexpected server error"), 500)

    app.add_exception_handler(PredMaintError, domain)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, framework)
    app.add_exception_handler(ClientDisconnect, disconnected)
    app.add_exception_handler(Exception, unexpected)
