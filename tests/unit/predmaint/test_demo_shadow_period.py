"""The demo's shadow period: between the pipeline's train and evaluate steps the candidate sits in the
facade's shadow folder for the set simulated hours, and is taken away afterwards (a real bundle; the
simulated clock is the test's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aml.run_store import StepResult
from core.bundle import Bundle, load_bundle
from predmaint.demo.shadow import ShadowPeriod
from predmaint.demo.timeline import EventKind, Timeline
from tests.scoring_fixtures import build_test_bundle


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_test_bundle(tmp_path_factory.mktemp("train-output"))


def test_the_candidate_is_shadowed_for_the_set_hours_before_the_gate_then_withdrawn(
    model: Bundle, tmp_path: Path
) -> None:
    clock = {"now": datetime(2026, 12, 2, 12, tzinfo=UTC)}
    handover = tmp_path / "shadow-candidate"
    seen: list[tuple[datetime, str]] = []

    def wait_until(target: datetime) -> None:
        # what the facade finds while the gate waits: the whole candidate bundle
        seen.append((target, load_bundle(handover).meta.version))
        clock["now"] = target

    timeline = Timeline()
    period = ShadowPeriod(handover, 12.0, timeline, now=lambda: clock["now"], wait_until=wait_until)
    period(StepResult("train", status="running"), 1, 4)
    assert not handover.exists()
    period(StepResult("train", status="succeeded", outputs={"model": str(model.directory)}), 1, 4)
    period(StepResult("evaluate", status="running"), 2, 4)
    assert seen == [(datetime(2026, 12, 3, 0, tzinfo=UTC), model.meta.version)]
    kinds = [e.kind for e in timeline.events]
    assert kinds == [EventKind.shadow_start, EventKind.shadow_end]
    started, ended = (e.sim_time for e in timeline.events)
    assert started is not None and ended is not None and ended - started == timedelta(hours=12)
    period.withdraw()
    assert not handover.exists()


def test_no_shadow_hours_means_no_wait(model: Bundle, tmp_path: Path) -> None:
    def never(_: datetime) -> None:
        raise AssertionError("waited although shadow_hours is 0")

    period = ShadowPeriod(tmp_path / "h", 0.0, Timeline(), now=lambda: datetime.now(UTC), wait_until=never)
    period(StepResult("train", status="succeeded", outputs={"model": str(model.directory)}), 1, 4)
    period(StepResult("evaluate", status="running"), 2, 4)
    assert not (tmp_path / "h").exists()
