"""The retrain trigger's laptop backend: runs the training pipeline on this machine."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from functions.retrain_trigger import RunInfo, RunStatus

log = logging.getLogger("predmaint.retrain_trigger")


class _LocalRecord(BaseModel):
    run_id: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    tags: dict[str, str] = {}
    pid: int
    error: str | None = None


LOCAL_RUN_STALE: Final = timedelta(hours=24)
"""A local ``run.json`` still "running" after this long belongs to a process that died."""


class LocalRunBackend:
    """Runs the pipeline on this machine (``aml.runner.run_pipeline``) in a background thread.

    The run list is the local run registry: every ``<runs_dir>/<run_id>/run.json`` that the pipeline
    runner writes (so manual ``predmaint pipeline run`` runs count too), plus the trigger's own record
    per started run, ``<runs_dir>/retrain-trigger/<run_id>.json``, which exists from the moment
    ``start`` returns (before the runner has created its folder) and carries the tags. A "running"
    record whose process is gone counts as failed. ``runner`` is injectable (tests, the demo).
    """

    def __init__(
        self,
        runs_dir: Path,
        pipeline_path: Path,
        overrides: Mapping[str, str] | None = None,
        *,
        runner: Callable[[Path, dict[str, str]], Any] | None = None,
    ):
        self.records_dir = Path(runs_dir) / "retrain-trigger"
        self.pipeline_path = Path(pipeline_path)
        self.overrides = dict(overrides or {})
        self._runner = runner
        self.threads: list[threading.Thread] = []

    def _write(self, record: _LocalRecord) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.records_dir / f".{record.run_id}.tmp"
        tmp.write_text(record.model_dump_json(indent=2))
        os.replace(tmp, self.records_dir / f"{record.run_id}.json")

    def _pipeline_runs(self, since: datetime) -> list[RunInfo]:
        """Runs in the pipeline runner's registry (``aml.runner.list_runs``)."""
        from aml.runner import list_runs
        from core.layout import DataLayout

        statuses: dict[str, RunStatus] = {"succeeded": "completed", "failed": "failed", "running": "running"}
        runs = []
        for raw in list_runs(DataLayout(self.records_dir.parent.parent)):
            try:
                started = datetime.fromisoformat(str(raw["started_at"]))
                started = started if started.tzinfo else started.replace(tzinfo=UTC)
                status = statuses.get(str(raw.get("status")), "failed")
                if status == "running" and datetime.now(UTC) - started > LOCAL_RUN_STALE:
                    status = "failed"
                tags = {str(k): str(v) for k, v in (raw.get("tags") or {}).items()}
                info = RunInfo(run_id=str(raw["run_id"]), status=status, started_at=started, tags=tags)
            except (KeyError, TypeError, ValueError):
                continue
            if info.started_at >= since or info.active:
                runs.append(info)
        return runs

    def recent_runs(self, since: datetime) -> list[RunInfo]:
        runs = self._own_runs(since)
        known = {r.run_id for r in runs}
        runs += [r for r in self._pipeline_runs(since) if r.run_id not in known]
        return runs

    def _own_runs(self, since: datetime) -> list[RunInfo]:
        if not self.records_dir.is_dir():
            return []
        runs = []
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                record = _LocalRecord.model_validate_json(path.read_text())
            except (OSError, ValueError):
                continue
            status = record.status
            if status == "running" and not _pid_alive(record.pid):
                status = "failed"
            if record.started_at >= since or status == "running":
                runs.append(
                    RunInfo(
                        run_id=record.run_id, status=status, started_at=record.started_at, tags=record.tags
                    )
                )
        return runs

    def start(self, reason: str, tags: dict[str, str]) -> str:
        run_id = f"retrain-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        record = _LocalRecord(
            run_id=run_id, status="running", started_at=datetime.now(UTC), tags=tags, pid=os.getpid()
        )
        self._write(record)
        thread = threading.Thread(target=self._run, args=(record,), name=run_id, daemon=True)
        self.threads.append(thread)
        thread.start()
        return run_id

    def _run(self, record: _LocalRecord) -> None:
        overrides = dict(self.overrides)
        try:
            if self._runner is not None:
                self._runner(self.pipeline_path, overrides)
            else:
                from aml.runner import run_pipeline
                from core.layout import DataLayout

                layout = DataLayout(self.records_dir.parent.parent)
                run_pipeline(self.pipeline_path, overrides, layout, tags=record.tags, run_id=record.run_id)
        except Exception as exc:
            log.exception("retrain trigger: local run %s failed", record.run_id)
            final = record.model_copy(update={"status": "failed", "error": str(exc)[:1000]})
        else:
            final = record.model_copy(update={"status": "completed"})
        self._write(final.model_copy(update={"finished_at": datetime.now(UTC)}))

    def wait(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
