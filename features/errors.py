"""Domain errors of the features slice, under the project's one root (``core.errors``): each knows
its HTTP status and code; the edge (the facade's handler, the CLI) turns them into answers or
messages. ``hint`` says what to run to fix it (the CLI prints it; HTTP answers carry it in
``detail``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.contract import FEATURE_VIEW
from core.errors import INVALID_INPUT, PredMaintError, ServiceUnavailable


class FeaturesError(PredMaintError):
    """Base of every error raised by ``features``."""

    code = "features_error"
    hint: str | None = None

    def __init__(self, message: str, detail: Any = None, *, hint: str | None = None) -> None:
        hint = hint if hint is not None else type(self).hint
        if detail is None and hint is not None:
            detail = {"hint": hint}
        super().__init__(message, detail)
        self.hint = hint


@dataclass(frozen=True)
class FrameError:
    """One broken rule in a bulk frame: the column, the rule, a message and example row labels."""

    column: str
    rule: str
    message: str
    rows: list[object] = field(default_factory=list)

    def __str__(self) -> str:
        examples = f" (e.g. rows {self.rows})" if self.rows else ""
        return f"{self.column}: {self.rule}: {self.message}{examples}"


class InvalidReadings(FeaturesError):
    """Readings broke the data contract. ``errors`` names every column and rule that failed."""

    status = 422
    code = INVALID_INPUT

    def __init__(self, errors: list[FrameError]) -> None:
        self.errors = errors
        super().__init__(
            "invalid readings: " + "; ".join(str(e) for e in errors),
            [
                {"field": e.column, "rule": e.rule, "message": e.message, "rows": [str(r) for r in e.rows]}
                for e in errors
            ],
        )


class InvalidMachineRegistry(FeaturesError):
    """A machine registry (``machine_id, machine_type``) broke one of its rules."""

    status = 422
    code = INVALID_INPUT
    hint = "a registry is a CSV or Parquet file with columns machine_id and machine_type, one row a machine"

    def __init__(self, source: str, rule: str, message: str) -> None:
        self.source, self.rule = source, rule
        super().__init__(f"{source}: {message} ({rule})")


class NoOfflineData(FeaturesError):
    """The offline store holds no window features yet."""

    status = 409
    code = "no_offline_data"
    hint = "run `predmaint simulate` first (it writes history and ingests it)"

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"no offline feature data under {where}")


class StoreNotApplied(FeaturesError):
    """The Feast registry does not know the feature view yet."""

    status = 409
    code = "store_not_applied"
    hint = "run `predmaint features apply` first"

    def __init__(self, registry: str) -> None:
        self.registry = registry
        super().__init__(f"the feature registry at {registry} has no {FEATURE_VIEW} yet")


class OnlineStoreUnavailable(FeaturesError, ServiceUnavailable):
    """The online store cannot serve now (unreachable, still opening, none configured): 503 with
    ``Retry-After``; inline scoring does not need it. The one class for the features slice and the
    facade."""

    status = 503
    code = "online_store_unavailable"

    def __init__(
        self, message: str, detail: Any = None, *, hint: str | None = None, retry_after_s: int = 5
    ) -> None:
        ServiceUnavailable.__init__(self, message, detail, retry_after_s)
        self.hint = hint
        if hint is not None and isinstance(self.detail, dict):
            self.detail.setdefault("hint", hint)
        elif hint is not None and self.detail is None:
            self.detail = {"hint": hint}
