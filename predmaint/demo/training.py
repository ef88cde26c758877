"""Training through the project's own pipeline (``aml/pipelines/train.yml``, local runner).

The first run trains on the whole history and registers the first champion. A retrain trains on the
hours of telemetry after the drift alert (see :mod:`predmaint.demo.alerting`), so that the new
model's reference describes the fleet as it is now and drift against it subsides once it serves.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aml
from core.layout import DataLayout
from predmaint.demo.config import DemoConfig
from predmaint.demo.gate_report import shadow_line
from predmaint.demo.history import History, write_known_labels

if TYPE_CHECKING:
    from aml.runner import StepEvent

PIPELINE_PATH: Final = Path(aml.__file__).parent / "pipelines" / "train.yml"


class PipelineFailed(Exception):
    """The training pipeline failed or registered no champion."""


@dataclass(frozen=True)
class TrainingRun:
    version: str | None
    promoted: bool
    summary: str
    started_sim: datetime
    range_start: datetime
    range_end: datetime
    wall_s: float
    started_wall: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "promoted": self.promoted,
            "summary": self.summary,
            "started_sim": self.started_sim.isoformat(),
            "range_start": self.range_start.isoformat(),
            "range_end": self.range_end.isoformat(),
            "wall_s": round(self.wall_s, 1),
            **self.details,
        }


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


def run_training(
    layout: DataLayout,
    start: datetime,
    end: datetime,
    *,
    started_sim: datetime,
    overrides: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    in_process: bool = False,
    on_step: StepEvent | None = None,
) -> TrainingRun:
    """Run the training pipeline on windows with ``start <= event_timestamp <= end``.

    ``in_process`` runs the steps inside this interpreter (saves their imports); only safe while
    nothing else runs in this process, since a step's output redirection and warning filters are
    process-wide. ``on_step`` is the runner's step hook (``aml.runner.StepEvent``).

    Raises :class:`PipelineFailed` naming the step and its log's tail when a step fails.
    """
    from aml.runner import PipelineError, StepFailed, run_pipeline
    from aml.steps.step_io import SUMMARY_FILE, StepError, read_decision, read_registration

    values = {
        "start": start.isoformat(),
        "end": (end + timedelta(seconds=1)).isoformat(),  # the pipeline's end is exclusive
        **(overrides or {}),
    }
    # imports of feast and mlflow put "once" filters in front of the caller's: library deprecation
    # warnings (azure-ai-ml loading the YAML here) are noise on the demo's console
    warnings.simplefilter("ignore")
    began = time.monotonic()
    started_wall = datetime.now(UTC)
    try:
        result = run_pipeline(
            PIPELINE_PATH, values, layout, tags=tags, in_process=in_process, on_step=on_step
        )
    except StepFailed as exc:
        raise PipelineFailed(
            f"training pipeline step '{exc.step}' failed (exit {exc.returncode}); "
            f"log {exc.log_path}:\n{exc.tail}"
        ) from exc
    except PipelineError as exc:
        raise PipelineFailed(f"training pipeline: {exc}") from exc
    wall_s = time.monotonic() - began
    try:
        registration = read_registration(result.output("register", "registration"))
        decision = read_decision(result.output("evaluate", "decision"))
    except StepError as exc:
        raise PipelineFailed(f"training pipeline run {result.run_id}: {exc}") from exc
    prepared = _read(result.output("prepare", "train_data") / SUMMARY_FILE)
    cand = decision.candidate
    gate = "; ".join(r for r in decision.reasons if r.startswith(("pass", "FAIL", "skipped")))
    shadow = decision.shadow.model_dump(mode="json") if decision.shadow is not None else None
    summary = (
        f"v{registration.version}: {prepared.get('train_windows', '?')} training windows, "
        f"{prepared.get('eval_windows', '?')} held back; "
        f"recall@24h {cand.recall_24h:.2f}, "
        f"false alarms/machine-month {cand.false_alarms_per_machine_month:.2f}; "
        f"{'promoted' if registration.promoted else 'gate kept the champion'} ({gate}); "
        f"{shadow_line(shadow)}; {wall_s:.0f} s"
    )
    return TrainingRun(
        version=registration.version,
        promoted=registration.promoted,
        summary=summary,
        started_sim=started_sim,
        range_start=start,
        range_end=end,
        wall_s=wall_s,
        started_wall=started_wall,
        details={
            "run_id": result.run_id,
            "run_dir": str(result.run_dir),
            "steps": {s.name: s.seconds for s in result.steps},
            "prepare": {
                k: prepared.get(k) for k in ("train_windows", "eval_windows", "dropped", "drift_suspected")
            },
            "gate": decision.reasons,
            "shadow": shadow,
            "registration": registration.model_dump(mode="json"),
        },
    )


def train_first_champion(config: DemoConfig, layout: DataLayout, history: History) -> TrainingRun:
    """Train on the whole history; raises PipelineFailed unless a champion is registered."""
    run = run_training(
        layout,
        history.start,
        history.end,
        started_sim=history.end,
        tags={"trigger": "demo-initial"},
        in_process=True,  # before the services and the retrain thread start: nothing else runs
    )
    if not run.promoted or run.version is None:
        raise PipelineFailed(f"the first training run registered no champion: {run.summary}")
    return run


def retrain(
    layout: DataLayout,
    history: History,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    tags: dict[str, str],
    holdout_fraction: float,
    on_step: StepEvent | None = None,
) -> TrainingRun:
    """Labels known by ``now`` (failures that have happened), then the pipeline on ``[start, end]``.

    The steps run in this process (their imports are already loaded: a retrain takes a third of the
    time); their output goes to their logs, and the demo's console writes to the real stderr.
    """
    write_known_labels(layout, history.sim, now)
    overrides = {
        "trigger": "drift",
        "alert_id": tags.get("alert_id", "none") or "none",
        "holdout_fraction": f"{holdout_fraction:.4f}",
    }
    return run_training(
        layout,
        start,
        end,
        started_sim=now,
        overrides=overrides,
        tags=tags,
        in_process=True,
        on_step=on_step,
    )
