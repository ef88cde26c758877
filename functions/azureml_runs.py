"""The retrain trigger's Azure backend: the AzureML workspace's job list, runs submitted with
``aml.submit``. No Azure import at module top (the client is passed in)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from functions.retrain_trigger import TAG_TRIGGER, RunInfo, RunStatus

_AML_TERMINAL: Final = {"completed": "completed", "failed": "failed", "canceled": "canceled"}


class AzureMLRunBackend:
    """The run list is the workspace's job list: pipeline jobs carrying the ``trigger`` tag (every run
    of the training pipeline has it), optionally of one experiment. Runs are started with the training
    slice's ``aml.submit.submit_pipeline``. ``ml_client`` is an ``MLClient``."""

    def __init__(
        self,
        ml_client: Any,
        pipeline_path: Path,
        *,
        overrides: Mapping[str, str] | None = None,
        experiment_name: str | None = None,
        submit: Callable[..., Any] | None = None,
        max_jobs: int = 200,
    ):
        self.ml_client = ml_client
        self.pipeline_path = Path(pipeline_path)
        self.overrides = dict(overrides or {})
        self.experiment_name = experiment_name
        self._submit = submit
        self.max_jobs = max_jobs

    def recent_runs(self, since: datetime) -> list[RunInfo]:
        runs = []
        for job in self.ml_client.jobs.list(max_results=self.max_jobs):
            if job is None or getattr(job, "type", "pipeline") != "pipeline":
                continue
            tags = {str(k): str(v) for k, v in (getattr(job, "tags", None) or {}).items()}
            if TAG_TRIGGER not in tags:
                continue
            if self.experiment_name and getattr(job, "experiment_name", None) != self.experiment_name:
                continue
            created = getattr(getattr(job, "creation_context", None), "created_at", None)
            started = created if isinstance(created, datetime) else datetime.now(UTC)
            started = started if started.tzinfo else started.replace(tzinfo=UTC)
            raw = str(getattr(job, "status", "") or "").lower()
            status: RunStatus = _AML_TERMINAL.get(raw, "running")  # type: ignore[assignment]
            if started >= since or status == "running":
                runs.append(RunInfo(run_id=str(job.name), status=status, started_at=started, tags=tags))
        return runs

    def start(self, reason: str, tags: dict[str, str]) -> str:
        submit = self._submit
        if submit is None:
            from aml.submit import submit_pipeline

            submit = submit_pipeline
        job = submit(self.pipeline_path, self.overrides, tags=tags, client=self.ml_client)
        return str(getattr(job, "name", job))
