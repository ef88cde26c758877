"""The live shadow period of a retrain: the candidate scores live traffic before the gate decides.

The training pipeline runs as on AzureML (prepare, train, evaluate, register); between train and
evaluate the demo hands the candidate to the facade (``SCORING_SHADOW_MODEL_PATH``, which the facade
follows, see ``scoring.shadow``) and lets ``shadow_hours`` simulated hours of live traffic pass. The
facade scores every logged request with it too, into ``<inference log>/shadow``; the evaluate step
(its ``inference_log`` input) pairs that log with the champion's and the gate's label-free figures
come from the live traffic instead of the held-back slice. On AzureML the deploy workflow does the
same with mirrored traffic to the green deployment.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from aml.run_store import StepResult
from core.bundle import load_bundle
from predmaint.demo.timeline import EventKind, Timeline

TRAIN_STEP = "train"
GATE_STEP = "evaluate"


class ShadowPeriod:
    """The runner's step hook (``aml.runner.StepEvent``) that holds the gate for the shadow period."""

    def __init__(
        self,
        handover: Path,
        hours: float,
        timeline: Timeline,
        now: Callable[[], datetime],
        wait_until: Callable[[datetime], None],
    ) -> None:
        """``handover``: the facade's ``SCORING_SHADOW_MODEL_PATH``; ``now``/``wait_until``: the
        simulated clock (the live loop advances it)."""
        self.handover = handover
        self.hours = hours
        self.timeline = timeline
        self.now = now
        self.wait_until = wait_until
        self._model: Path | None = None
        self.active = False

    def __call__(self, step: StepResult, index: int, total: int) -> None:
        if step.name == TRAIN_STEP and step.status == "succeeded":
            self._model = Path(step.outputs["model"])
        elif step.name == GATE_STEP and step.status == "running" and self._model and self.hours > 0:
            self._shadow(self._model)

    def _shadow(self, model: Path) -> None:
        version = load_bundle(model).meta.version
        staged = self.handover.with_name(self.handover.name + ".staged")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(model, staged)
        self.withdraw()
        os.replace(staged, self.handover)  # the facade sees the whole bundle or none
        started = self.now()
        self.active = True
        self.timeline.add(
            EventKind.shadow_start,
            started,
            f"candidate {version} shadows live traffic for {self.hours:g} h before the gate "
            "(scored and logged, not served)",
        )
        try:
            self.wait_until(started + timedelta(hours=self.hours))
        finally:
            self.active = False
        self.timeline.add(
            EventKind.shadow_end, self.now(), f"candidate {version}: shadow period over, the gate decides"
        )

    def withdraw(self) -> None:
        """Take the candidate away from the facade (it stops shadowing at its next check)."""
        shutil.rmtree(self.handover, ignore_errors=True)
