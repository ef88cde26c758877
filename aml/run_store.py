"""The state of local pipeline runs: ``run.json`` in each run's folder under ``layout.runs_dir``,
rewritten atomically at every step change, so any process can list runs and their steps."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from core.layout import DataLayout

RUN_FILE: Final = "run.json"


StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped"]


@dataclass
class StepResult:
    name: str
    status: StepStatus = "pending"
    seconds: float = 0.0
    returncode: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""
    command: str = ""


@dataclass
class PipelineRunResult:
    run_id: str
    run_dir: Path
    pipeline: str
    status: Literal["running", "succeeded", "failed"]
    inputs: dict[str, str]
    tags: dict[str, str]
    steps: list[StepResult]
    started_at: str
    finished_at: str | None = None
    error: str | None = None

    def output(self, step: str, name: str) -> Path:
        """Local folder of a node's output."""
        for s in self.steps:
            if s.name == step and name in s.outputs:
                return Path(s.outputs[name])
        raise KeyError(f"{step}.outputs.{name}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        return data


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def save_run(result: PipelineRunResult) -> None:
    target = result.run_dir / RUN_FILE
    tmp = target.with_name(f".{RUN_FILE}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2))
    tmp.replace(target)


def list_runs(layout: DataLayout) -> list[dict[str, Any]]:
    """Every local run's ``run.json`` (newest first): run_id, status, tags, steps, times."""
    if not layout.runs_dir.is_dir():
        return []
    runs = []
    for p in layout.runs_dir.glob(f"*/{RUN_FILE}"):
        try:
            runs.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(runs, key=lambda r: r.get("started_at", ""), reverse=True)
