"""The one root of the project's domain errors, and the errors every edge shares.

A domain error knows the HTTP status an edge answers it with and a stable ``code`` (snake case,
written out on each class, never derived from its name), and renders the one error body of every
service and of the Function::

    {"error": code, "message": "what is wrong, for a person", "detail": null | anything JSON}

``detail`` is always present (``null`` when there is nothing more). Bad input is ``invalid_input``
(422) everywhere, with ``detail`` a list of ``{"field", "rule", "message"}``.

No web framework here: the Function, the training steps and the CLI import this module as well as
the services (``service.errors`` installs the HTTP handler).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from core.contract import FieldError

INTERNAL_ERROR: Final = "internal_error"
"""Code of an answer to an exception that is not a domain error (500; the body says no more)."""
CLIENT_DISCONNECTED: Final = "client_disconnected"
"""Counted, never answered: the client went away before its request was read."""
INVALID_INPUT: Final = "invalid_input"

ErrorBody = dict[str, Any]


def error_body(code: str, message: str, detail: Any = None) -> ErrorBody:
    """The one body shape (also for answers that are not raised, such as the 500 of a crash)."""
    return {"error": code, "message": message, "detail": detail}


class PredMaintError(Exception):
    """Root of every error the project raises on purpose. Subclasses set ``status`` and ``code``;
    specific ones carry their data in ``detail`` (JSON-ready) and may add response ``headers``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = INTERNAL_ERROR

    def __init__(
        self, message: str = "", detail: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> ErrorBody:
        return error_body(self.code, self.message, self.detail)


class InvalidInput(PredMaintError):
    """Input broke a rule; ``detail`` lists field, rule and message for each problem."""

    status = 422
    code = INVALID_INPUT

    def __init__(self, errors: Sequence[FieldError], message: str | None = None) -> None:
        first = errors[0] if errors else None
        if message is None:
            message = f"{first.field}: {first.message} ({first.rule})" if first else "invalid input"
        super().__init__(message, [e.model_dump() for e in errors])
        self.errors = list(errors)

    @classmethod
    def one(cls, field: str, rule: str, message: str) -> InvalidInput:
        return cls([FieldError(field=field, rule=rule, message=message)])


class Unauthorized(PredMaintError):
    status = 401
    code = "unauthorized"

    def __init__(
        self, message: str = "missing or wrong API key (x-api-key or Authorization: Bearer)"
    ) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFound(PredMaintError):
    """No such route (or no such resource where a service has no more specific error)."""

    status = 404
    code = "not_found"


class MethodNotAllowed(PredMaintError):
    status = 405
    code = "method_not_allowed"


class BodyTooLarge(PredMaintError):
    status = 413
    code = "body_too_large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"request body exceeds {max_bytes} bytes", {"max_bytes": max_bytes})
        self.max_bytes = max_bytes


class UnsupportedMediaType(PredMaintError):
    """A JSON endpoint was sent a body that does not say it is JSON (a browser form, text/plain)."""

    status = 415
    code = "unsupported_media_type"

    def __init__(self, given: str | None) -> None:
        super().__init__(
            f"Content-Type must be application/json, got {given or 'none'}",
            {"content_type": given, "expected": "application/json"},
        )


class RequestTimeout(PredMaintError):
    """The client did not send its request's headers (or body) within the server's deadline."""

    status = 408
    code = "request_timeout"

    def __init__(self, phase: str, timeout_s: float) -> None:
        super().__init__(
            f"the request's {phase} did not arrive within {timeout_s:g} s",
            {"phase": phase, "timeout_s": timeout_s},
        )


class Misconfigured(PredMaintError):
    """The deployment's settings cannot work (a missing app setting): the operator must fix them."""

    status = 500
    code = "misconfigured"


class ServiceUnavailable(PredMaintError):
    """A dependency cannot serve now; the client may retry after ``Retry-After`` seconds."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, detail: Any = None, retry_after_s: int = 5) -> None:
        super().__init__(message, detail, headers={"Retry-After": str(retry_after_s)})


HTTP_STATUS_CODES: Final[Mapping[int, str]] = {
    404: NotFound.code,
    405: MethodNotAllowed.code,
    413: BodyTooLarge.code,
    415: UnsupportedMediaType.code,
    401: Unauthorized.code,
}
"""Codes of the framework's own HTTP answers (unknown route, wrong method); others are ``http_error``."""
