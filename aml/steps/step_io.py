"""What every pipeline step shares: file names inside the folders that pass between steps, JSON
read/write, the tracking URI, and the MLflow run a step logs into."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from aml.gate import Decision
from core.bundle import EXPERIMENT_NAME
from core.errors import PredMaintError
from core.layout import DataLayout
from core.registry import ensure_experiment, resolve_tracking_uri

if TYPE_CHECKING:
    import mlflow

WINDOWS_FILE: Final = "windows.parquet"
FAILURES_FILE: Final = "failures.parquet"
SUMMARY_FILE: Final = "summary.json"
DECISION_FILE: Final = "decision.json"
REGISTRATION_FILE: Final = "registration.json"
TRAIN_METRICS_FILE: Final = "train_metrics.json"
M = TypeVar("M", bound=BaseModel)
AML_RUN_ENV: Final = "MLFLOW_RUN_ID"
"""Set by AzureML inside a job: the step then logs into the job's own run."""


class StepError(PredMaintError):
    """A step cannot do its work with the inputs it was given (printed without a stack trace)."""

    code = "step_error"


class Registration(BaseModel):
    """``registration/registration.json``, the register step's output."""

    version: str
    promoted: bool
    champion_before: str | None
    champion_after: str | None
    reasons: list[str]
    run_id: str
    trigger: str
    alert_id: str


def read_decision(folder: Path) -> Decision:
    """The evaluate step's ``decision.json`` in ``folder``; :class:`StepError` when missing or invalid."""
    return _read_model(folder / DECISION_FILE, Decision)


def read_registration(folder: Path) -> Registration:
    return _read_model(folder / REGISTRATION_FILE, Registration)


def _read_model(path: Path, model: type[M]) -> M:
    try:
        return model.model_validate(read_json(path))
    except ValidationError as exc:
        raise StepError(f"{path}: not a valid {model.__name__}: {exc.errors()[0]['msg']}") from exc


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise StepError(f"missing {path}")
    return json.loads(path.read_text())


def tracking_uri_for(data_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` if set (AzureML), else the local SQLite store of ``data_dir``."""
    return resolve_tracking_uri(DataLayout(Path(data_dir).resolve()).mlflow_tracking_uri)


@contextmanager
def step_run(tracking_uri: str, run_name: str) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run for one step: the AzureML job's run when inside AzureML, else a new run in
    ``EXPERIMENT_NAME`` (local artifacts under the data layout)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if os.environ.get(AML_RUN_ENV):
        with mlflow.start_run() as run:
            yield run
        return
    experiment_id = ensure_experiment(tracking_uri, EXPERIMENT_NAME)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        yield run


def main_guard(fn: Any, argv: list[str] | None = None) -> int:
    """Run a step's ``main``; a :class:`StepError` becomes one line on stderr and exit code 2."""
    import sys

    try:
        fn(argv)
    except StepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
