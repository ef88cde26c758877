"""Errors of the retrain trigger, under the project's one root (``core.errors``): the Function and
the local endpoint answer them with the one error body and the same codes as the services."""

from __future__ import annotations

from core.contract import FieldError
from core.errors import INVALID_INPUT, InvalidInput, PredMaintError, ServiceUnavailable


class TriggerError(PredMaintError):
    """Base of the trigger's errors."""

    code = "trigger_error"


class MalformedSignal(InvalidInput, TriggerError):
    """The payload is neither an alert (Azure Monitor, Alertmanager) nor a drift verdict: 422
    ``invalid_input`` naming the field, as bad input is everywhere."""

    status = 422
    code = INVALID_INPUT

    def __init__(self, field: str, message: str, rule: str = "invalid") -> None:
        super().__init__([FieldError(field=field, rule=rule, message=message)], f"{field}: {message}")
        self.field = field


class BackendUnavailable(TriggerError, ServiceUnavailable):
    """The run list could not be read or a run could not be started."""

    code = "run_backend_unavailable"

    def __init__(self, message: str) -> None:
        ServiceUnavailable.__init__(self, message)
