"""Domain errors of the scoring facade, under the project's one root (``core.errors``). Shared
faults (bad input, auth, body size, an unavailable online store) use the shared classes
(``core.errors``, ``features.errors``); these are the facade's own."""

from __future__ import annotations

from core.errors import PredMaintError, ServiceUnavailable


class ScoringError(PredMaintError):
    """Base of the facade's own errors."""

    code = "scoring_error"


class UnknownMachine(ScoringError):
    """The online store has no features for these machines."""

    status = 404
    code = "unknown_machine"


class StaleFeatures(ScoringError):
    """Online features are older than the feature view's TTL: refused, never scored silently."""

    status = 409
    code = "stale_features"


class ModelUnavailable(ScoringError, ServiceUnavailable):
    """No model is loaded yet (or the registry never gave one): 503 with ``Retry-After``."""

    status = 503
    code = "model_unavailable"


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
