"""Domain errors of the drift sidecar, under the project's one root (``core.errors``). Bad input is
the shared ``core.errors.InvalidInput`` (422 ``invalid_input``), a too large body the shared
``BodyTooLarge``; these are the sidecar's own."""

from __future__ import annotations

from core.errors import PredMaintError


class DriftError(PredMaintError):
    """Base of the sidecar's own errors."""

    code = "drift_error"


class NoReport(DriftError):
    """No check has produced an Evidently report yet (none ran, or none reached a verdict)."""

    status = 404
    code = "no_report"
