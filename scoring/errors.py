"""Domain errors of the scoring service. Each knows its HTTP status; one handler in ``main`` turns
them into JSON answers ``{"error": code, "message": ..., "detail": ...}``."""

from __future__ import annotations

from typing import Any, ClassVar

from core.contract import FieldError


class ScoringError(Exception):
    """Base of every error the facade answers on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "scoring_error"

    def __init__(self, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.detail is not None:
            out["detail"] = self.detail
        return out


class InvalidInput(ScoringError):
    """Input broke the contract; ``detail`` lists field, rule and message for each problem."""

    status = 422
    code = "invalid_input"

    def __init__(self, errors: list[FieldError]) -> None:
        first = errors[0] if errors else None
        message = f"{first.field}: {first.message} ({first.rule})" if first else "invalid input"
        super().__init__(message, [e.model_dump() for e in errors])


class BodyTooLarge(ScoringError):
    status = 413
    code = "body_too_large"


class Unauthorized(ScoringError):
    status = 401
    code = "unauthorized"

    def __init__(
        self, message: str = "missing or wrong API key (x-api-key or Authorization: Bearer)"
    ) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class UnknownMachine(ScoringError):
    """The online store has no features for these machines."""

    status = 404
    code = "unknown_machine"


class StaleFeatures(ScoringError):
    """Online features are older than the feature view's TTL: refused, never scored silently."""

    status = 409
    code = "stale_features"


class ServiceUnavailable(ScoringError):
    status = 503
    code = "unavailable"

    def __init__(self, message: str, detail: Any = None, retry_after_s: int = 5) -> None:
        super().__init__(message, detail, headers={"Retry-After": str(retry_after_s)})


class ModelUnavailable(ServiceUnavailable):
    code = "model_unavailable"


class OnlineStoreUnavailable(ServiceUnavailable):
    code = "online_store_unavailable"


class ModelIncompatible(ScoringError):
    """A bundle whose features differ from the contract's MODEL_FEATURES (refused at load time)."""

    status = 503
    code = "model_incompatible"


class BackendError(ScoringError):
    """The remote scoring backend (AzureML endpoint) failed or answered something unusable."""

    status = 502
    code = "backend_error"


class BackendTimeout(ScoringError):
    status = 504
    code = "backend_timeout"
