"""Domain errors of the features slice. Each knows the HTTP status an edge should answer with;
the edge (the facade's exception handler, the CLI) turns them into responses or messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.contract import FEATURE_VIEW


class FeaturesError(Exception):
    """Base of every error raised by ``features``."""

    status_code: int = 500
    hint: str | None = None


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

    status_code = 422

    def __init__(self, errors: list[FrameError]) -> None:
        self.errors = errors
        super().__init__("invalid readings: " + "; ".join(str(e) for e in errors))


class NoOfflineData(FeaturesError):
    """The offline store holds no window features yet."""

    status_code = 409
    hint = "run `predmaint simulate` first (it writes history and ingests it)"

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"no offline feature data under {where}")


class StoreNotApplied(FeaturesError):
    """The Feast registry does not know the feature view yet."""

    status_code = 409
    hint = "run `predmaint features apply` first"

    def __init__(self, registry: str) -> None:
        self.registry = registry
        super().__init__(f"the feature registry at {registry} has no {FEATURE_VIEW} yet")


class OnlineStoreUnavailable(FeaturesError):
    """The online store (Redis) could not be reached."""

    status_code = 503

    def __init__(self, detail: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(f"online store unavailable: {detail}")
