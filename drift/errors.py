"""Domain errors of the drift sidecar; each knows the HTTP status the edge answers with."""

from __future__ import annotations

from core.contract import FieldError


class DriftError(Exception):
    status_code: int = 500
    code: str = "drift_error"


class InvalidDriftRequest(DriftError):
    """A ``POST /drift`` body broke a rule; ``errors`` name the field and the rule."""

    status_code = 422
    code = "invalid_request"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.rule}: {e.message}" for e in errors))


class NoReference(DriftError):
    """No serving reference is loaded (no champion yet, or its bundle could not be read)."""

    status_code = 503
    code = "no_reference"


class NoReport(DriftError):
    """No check has produced an Evidently report yet (none ran, or none reached a verdict)."""

    status_code = 404
    code = "no_report"


class BodyTooLarge(DriftError):
    status_code = 413
    code = "body_too_large"
